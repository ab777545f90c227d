"""The table of exported hub methods.

Each API module decorates its functions with :func:`export`. ``write=False`` marks calls that only
read, which on SQLite may run beside a writer; everything else takes the database's write lock.
The Python function keeps Koji's name and signature, so Python's own argument errors ("getTag()
got an unexpected keyword argument 'x'") are the messages the Koji CLI expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Method:
    name: str
    func: Callable
    write: bool


METHODS: dict[str, Method] = {}


def export(func=None, *, name=None, write=True, aliases=()):
    """Register ``func`` as hub method ``name`` (default: the function's name)."""

    def wrap(f):
        for n in (name or f.__name__,) + tuple(aliases):
            METHODS[n] = Method(n, f, write)
        return f

    return wrap(func) if func is not None else wrap


def read_only(func):
    """Register ``func`` as a method that never writes."""
    return export(func, write=False)


def load_all():
    """Import every API module so their methods are registered."""
    import importlib

    for mod in API_MODULES:
        importlib.import_module("%s.%s" % (__package__, mod))
    from .hostcheck import guard_host_methods

    # every host.* method, wherever it is registered, needs a logged-in host (hostcheck.py)
    return guard_host_methods(METHODS)


#: The API modules, by area.
API_MODULES = ["meta", "auth", "users", "uploads", "tags", "inheritance", "targets",
               "packages", "groups", "extrepos", "hosts", "repos", "builds", "rpms", "tagging",
               "tasks", "events", "images", "build_api", "signing",
               "host_api", "buildroots", "repo_requests", "policy", "channels",
               "unsupported", "build_admin", "snapshots", "rpm_info", "task_admin",
               "tag_queries", "host_status", "group_reqs", "usergroups", "volumes", "search",
               "scheduler_info", "distrepos"]
#: Schema version 5's features (issue 11): side tags, build notifications, content generators,
#: draft build promotion.
API_MODULES += ["sidetags", "notifications", "cgen", "drafts"]
#: not in Koji: builders woken at once (host.waitWork)
API_MODULES += ["work_bell"]
