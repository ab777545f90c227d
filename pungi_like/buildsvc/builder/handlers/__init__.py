"""Builder task handlers: a registry of functions keyed by Koji task method.

A handler is a plain function ``fn(ctx, *params, **opts)`` decorated with :func:`handler` (the
builder runs it through a ``koji.tasks.BaseTaskHandler`` class made for it, kojitasks.py); ``ctx``
is a :class:`~pungi_like.buildsvc.builder.taskctx.TaskContext`, ``params``/``opts`` are the task's
request as the hub stored it (positional arguments and ``__starstar`` keyword arguments). The
return value must be XML-RPC marshallable; it becomes the task result (``host.closeTask``). A
handler fails the task by raising: the exception's message becomes the task's fault
(``host.failTask``), with ``koji.GenericError`` subclasses keeping their fault codes.

Example::

    from pungi_like.buildsvc.builder.handlers import handler

    @handler("createLiveCD", weight=1.5, channel="livecd")
    def create_livecd(ctx, name, version, release, arch, target_info, build_tag, repo_info,
                      ksfile, opts=None):
        ctx.log.info("building %s", name)
        ...
        return {"files": [...]}

``weight`` (a number, or a callable ``weight(handler, *params, **opts) -> float`` given the
task's ``koji.tasks.BaseTaskHandler`` object) is what the builder reports with
``host.setTaskWeight`` after opening the task, and what it counts against its capacity.
``channel`` documents the channel the hub creates the task in (the hub decides it when the task
is created; builders only see tasks of channels they are members of).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Callable, Optional, Union

log = logging.getLogger("pungi_like.buildsvc.builder")


@dataclass
class Handler:
    method: str
    func: Callable
    weight: Union[float, Callable] = 1.0
    channel: Optional[str] = None


HANDLERS: dict[str, Handler] = {}

#: Handler modules, loaded by :func:`load_all`. Modules that do not exist (yet) are skipped.
HANDLER_MODULES = ["misc", "newrepo", "distrepo", "livecd", "livemedia", "image", "build",
                   "runroot"]


def handler(method, weight=1.0, channel=None, aliases=()):
    """Register ``fn`` as the handler of task method ``method`` (and ``aliases``)."""

    def wrap(fn):
        for name in (method,) + tuple(aliases):
            HANDLERS[name] = Handler(name, fn, weight, channel)
        return fn

    return wrap


def load_all() -> dict:
    """Import every handler module; returns the registry.

    Also the modules the handlers import only when they run: the daemon loads them once before
    it forks task processes, so a task process does not import them again (``tools.run`` imports
    ``pungi_like.reuse`` at every run: 0.07 s in each createrepo task without .pyc files)."""
    for mod in HANDLER_MODULES:
        name = "%s.%s" % (__name__, mod)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    importlib.import_module("pungi_like.reuse")
    return HANDLERS


def get_handler(method) -> Optional[Handler]:
    return HANDLERS.get(method)
