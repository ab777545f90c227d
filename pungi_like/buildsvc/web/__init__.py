"""The build service's web UI: Koji Web's pages under ``/koji/`` (see :mod:`.app`)."""

from .app import WebApp

__all__ = ["WebApp"]
