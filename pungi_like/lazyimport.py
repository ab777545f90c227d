"""A module imported where it is first used instead of where its name is bound.

``cr = lazy_module("createrepo_c", globals(), "cr")`` at the top of a module binds ``cr`` to a
stand-in; the first attribute read through it imports ``createrepo_c`` and rebinds ``cr`` in
that module's globals to the module itself, so later reads cost nothing more. What it is for:
every compose imports every phase module (their options and classes), and with them the
libraries their units use: a run that takes every unit from an old compose (a no-op re-run)
used neither pycdlib nor, until a unit rewrote repodata, createrepo_c, and paid for their
imports before its first unit started.
"""

import importlib
import threading

_lock = threading.Lock()


class _LazyModule:
    __slots__ = ("_name", "_namespace", "_alias", "_submodules")

    def __init__(self, name, namespace, alias, submodules):
        self._name = name
        self._namespace = namespace
        self._alias = alias
        self._submodules = submodules

    def _load(self):
        with _lock:   # two units may be first at once; the import system has its own locks
            module = importlib.import_module(self._name)
            for sub in self._submodules:
                importlib.import_module(f"{self._name}.{sub}")
            if self._namespace.get(self._alias) is self:
                self._namespace[self._alias] = module
        return module

    def __getattr__(self, attr):
        return getattr(self._load(), attr)

    def __repr__(self):
        return f"<module {self._name!r}, imported at its first use>"


def lazy_module(name, namespace, alias, submodules=()):
    """A stand-in for module ``name`` bound as ``alias`` in ``namespace`` (a module's
    ``globals()``): the module (and its ``submodules``, imported with it) is imported at the
    first attribute read, and ``alias`` then names the module itself."""
    return _LazyModule(name, namespace, alias, tuple(submodules))
