"""Version, liveness and feature probes the client makes before anything else."""

from __future__ import annotations

import inspect

from .registry import METHODS, export, read_only

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


# ---------------------------------------------------------------------------------------------
# introspection, as Koji's hub offers it (``koji list-api``, ``koji call system.listMethods``)

_PLAIN = (type(None), bool, int, float, str)


def _argspec(func):
    """Koji's ``argspec`` (args, varargs, varkw, defaults) and argument list of ``func``."""
    args, defaults, varargs, varkw = [], [], None, None
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            varargs = p.name
        elif p.kind is p.VAR_KEYWORD:
            varkw = p.name
        elif p.kind is not p.KEYWORD_ONLY:
            args.append(p.name)
            if p.default is not p.empty:
                defaults.append(p.default if isinstance(p.default, _PLAIN) else repr(p.default))
    listed = list(args[:len(args) - len(defaults)])
    listed += [[a, d] for a, d in zip(args[len(args) - len(defaults):], defaults)]
    return [args, varargs, varkw, defaults or None], listed


@export(name="_listapi", write=False)
def listapi():
    """Every exported method with its arguments and description."""
    out = []
    for name in sorted(METHODS):
        func = METHODS[name].func
        argspec, listed = _argspec(func)
        out.append({"name": name, "doc": inspect.getdoc(func), "argspec": argspec,
                    "argdesc": str(inspect.signature(func)), "args": listed})
    return out


@export(name="system.listMethods", write=False)
def system_listMethods():
    return sorted(METHODS)


@export(name="system.methodSignature", write=False)
def system_methodSignature(method):
    return "signatures not supported"


@export(name="system.methodHelp", write=False)
def system_methodHelp(method):
    m = METHODS.get(method) if isinstance(method, str) else None
    if m is None:
        return ""
    text = "%s%s" % (method, inspect.signature(m.func))
    doc = inspect.getdoc(m.func)
    return text + ("\n  description: %s" % doc if doc else "")
