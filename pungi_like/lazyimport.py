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
import types

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


def import_productmd():
    """Import productmd without ``importlib.metadata``: productmd asks it for its own version
    as it is imported (``__version__`` and the User-Agent of its downloads), and importing it
    (with ``email``, ``zipfile``, ``csv`` ...) and scanning ``sys.path`` for the distribution
    was half of productmd's import, about 0.01 s at every compose's start. The version is read
    from the METADATA of the ``productmd-*.dist-info`` beside the package instead, the file
    ``importlib.metadata`` reads; when there is none (or ``importlib.metadata`` is imported
    already), productmd is imported as it is.

    Nor with ``urllib.request`` and ``http.client`` (with ``email``, ``ssl``: 0.015-0.02 s of
    CPU), which productmd imports for manifests at http(s) URLs, never read by a compose:
    while they are not imported, each is a stand-in (``_NotImported``) that imports the module
    at its first use."""
    import sys

    if "productmd" in sys.modules or "importlib.metadata" in sys.modules:
        import productmd  # noqa: F401
        return
    version = _dist_version("productmd")
    if version is None:
        import productmd  # noqa: F401
        return

    def version_of(name):
        if name != "productmd":
            raise ImportError(f"importlib.metadata is not imported while productmd is: {name}")
        return version

    stand_in = types.ModuleType("importlib.metadata")
    stand_in.version = version_of
    stand_ins = {"importlib.metadata": stand_in}
    for name in NOT_IMPORTED_FOR_PRODUCTMD:
        if name not in sys.modules:
            stand_ins[name] = _NotImported(name)
    with _lock:
        sys.modules.update(stand_ins)
        try:
            import productmd.common  # noqa: F401
        finally:
            for name, module in stand_ins.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
        for name, module in stand_ins.items():
            parent, _, child = name.rpartition(".")
            if isinstance(module, _NotImported) and parent in sys.modules \
                    and getattr(sys.modules[parent], child, module) is module:
                # ``import urllib.request`` bound only ``urllib``: productmd reads the stand-in
                # as the package's attribute, which a real import replaces
                setattr(sys.modules[parent], child, module)


#: modules productmd imports for reading manifests at URLs: ``{module: names of its classes
#: that ``isinstance`` checks may name while it is not imported}`` (``_NotImported``)
NOT_IMPORTED_FOR_PRODUCTMD = {"urllib.request": (), "http.client": ("HTTPResponse",)}


class _NotImported(types.ModuleType):
    """A stand-in for a module not imported yet: the first attribute read imports it (and the
    import system then binds the module itself as its package's attribute). The classes
    ``NOT_IMPORTED_FOR_PRODUCTMD`` names for it are answered without the import while it is not
    imported: a class that nothing is an instance of, as no instance of the real class can exist
    before the module is imported (productmd asks ``isinstance(f, http.client.HTTPResponse)`` of
    every manifest it loads)."""

    def __getattr__(self, attr):
        import sys

        name = self.__name__
        if attr.startswith("__"):
            raise AttributeError(attr)
        real = sys.modules.get(name)
        if real is self:   # productmd is being imported: nothing may use it before its end
            raise AttributeError(f"{name}.{attr}: {name} is being stood in for")
        if real is None and attr in NOT_IMPORTED_FOR_PRODUCTMD.get(name, ()):
            return _NoInstances
        return getattr(importlib.import_module(name), attr)


class _NoInstances:
    """A class without instances (``_NotImported``)."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("a stand-in for a class of a module not imported")


def _dist_version(name):
    """The ``Version`` of the distribution ``name`` from the ``<name>-*.dist-info`` beside the
    package ``name``, or None."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec(name)
        site = os.path.dirname(os.path.dirname(spec.origin))
        infos = [entry for entry in os.listdir(site)
                 if entry.startswith(name + "-") and entry.endswith(".dist-info")]
        if len(infos) != 1:
            return None
        with open(os.path.join(site, infos[0], "METADATA"), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    return None   # the end of the headers
    except (ImportError, AttributeError, TypeError, OSError, ValueError):
        return None
    return None
