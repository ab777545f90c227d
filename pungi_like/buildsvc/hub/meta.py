"""Version, liveness and feature probes the client makes before anything else."""

from __future__ import annotations

from .registry import read_only

API_VERSION = 1
#: What the hub reports as its Koji version (also sent as the ``Koji-Version`` header).
KOJI_VERSION = "1.36.1"


@read_only
def getAPIVersion():
    return API_VERSION


@read_only
def getKojiVersion():
    return KOJI_VERSION


@read_only
def hello(*args):
    return "Hello World"


@read_only
def echo(*args):
    return list(args)


@read_only
def mavenEnabled():
    return False


@read_only
def winEnabled():
    return False
