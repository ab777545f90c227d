"""What a caller may send and what a fault may say.

Arguments: before a method runs, every string anywhere in its arguments must be text XML 1.0 can
carry (no NUL or other control characters but tab/newline/carriage return, no U+FFFE/U+FFFF or
lone surrogates), every integer must fit the database's 64 bits, and structures may nest only
:data:`MAX_DEPTH` deep. A value that breaks these gets a ``ParameterError`` naming the parameter,
so such a value is never stored and no later reply can become unencodable.

Faults: Koji errors raised by the API (``koji.GenericError`` and its subclasses) go to the caller
as they are. Anything else is an internal matter: the caller gets a Koji fault with a generic
message and a short reference; the hub log keeps the traceback under the same reference. Errors
that come from a bad argument inside a method (TypeError, ValueError, ... such as a string where
a struct was expected) become ``ParameterError``; database errors never show SQL. The top
directory is removed from every fault message.
"""

from __future__ import annotations

import inspect
import logging
import re
import uuid

import koji
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from .context import context
from .marshal import XML_INVALID

log = logging.getLogger("pungi_like.buildsvc.hub")

MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


#: exceptions a method raises when an argument has the wrong type or value
ARGUMENT_ERRORS = (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError,
                   UnicodeError, RecursionError)


# ---------------------------------------------------------------------------------------------
# arguments


#: func -> the names of its positional parameters (inspect.signature took 40-60 us a call,
#: and every call of every request asked it: 60 times in a tag change's path)
_PARAM_NAMES = {}


def _param_names(func):
    names = _PARAM_NAMES.get(func)
    if names is None:
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            params = []
        names = _PARAM_NAMES[func] = tuple(
            p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return names


def _check_value(value, where):
    """Raise ParameterError if ``value`` holds something the hub never accepts."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        t = type(v)
        if t is str:
            bad = XML_INVALID.search(v)
            if bad:
                raise koji.ParameterError(
                    "Invalid character %r in %s: XML-RPC text cannot carry control characters"
                    % (bad.group(), where))
        elif t is int:
            if not INT64_MIN <= v <= INT64_MAX:
                raise koji.ParameterError("Integer out of range in %s: must fit in 64 bits"
                                          % where)
        elif t is dict or t is list or t is tuple:
            if depth >= MAX_DEPTH:
                raise koji.ParameterError("%s is nested more than %d levels deep"
                                          % (where, MAX_DEPTH))
            items = list(v.items()) if t is dict else [(None, x) for x in v]
            for key, x in items:
                if key is not None:
                    stack.append((key, depth + 1))
                stack.append((x, depth + 1))


def check_arguments(func, args, kwargs):
    """Check every argument of a call to ``func`` (see the module docstring)."""
    names = _param_names(func)
    for i, value in enumerate(args):
        _check_value(value, names[i] if i < len(names) else "argument %d" % (i + 1))
    for key, value in kwargs.items():
        _check_value(key, "a keyword name")
        _check_value(value, key)


# ---------------------------------------------------------------------------------------------
# faults


def printable(value, limit=200):
    """``value`` for a fault message: text XML can carry, at most ``limit`` characters."""
    text = value if isinstance(value, str) else repr(value)
    text = XML_INVALID.sub("?", text)
    return text if len(text) <= limit else text[:limit] + "..."


def _reference():
    return uuid.uuid4().hex[:8]


_PY_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


def scrub(message):
    """``message`` without Python class reprs and without the hub's top directory.

    Koji's own hub says ``Invalid type for tagInfo: <class 'list'>``; we say ``... list``.
    Paths under the top directory are shown relative to it.
    """
    message = _PY_CLASS.sub(r"\1", message)
    hub = context.hub
    top = getattr(getattr(hub, "pathinfo", None), "topdir", None)
    if top and top in message:
        message = message.replace(top + "/", "").replace(top, ".")
    return message


def _describe(exc):
    if isinstance(exc, KeyError):
        return "missing key %s" % (exc.args[0] if exc.args else "")
    if isinstance(exc, RecursionError):
        return "structure nested too deep"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or "of the wrong type or value"


#: how the database drivers say they cannot pass a Python value (a list where an id belongs)
_DRIVER_REFUSALS = ("Error binding parameter", "cannot adapt type", "is not supported")
#: PostgreSQL: no operator for these types (a string compared with an integer column),
#: a value of the wrong data type
_TYPE_MISMATCH_SQLSTATES = frozenset({"42883", "42804"})


def _value_refused_by_driver(exc):
    """True for errors raised before the database saw the statement, because of a value."""
    if not isinstance(exc, StatementError):
        return False
    if not isinstance(exc, DBAPIError):
        return isinstance(exc.orig, ARGUMENT_ERRORS)  # SQLAlchemy's own bind processing
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _TYPE_MISMATCH_SQLSTATES:
        return True
    return sqlstate is None and any(s in str(exc.orig) for s in _DRIVER_REFUSALS)


def exception_fault(exc, method=None):
    """(faultCode, faultString) for an exception raised while answering a call."""
    if isinstance(exc, koji.GenericError):
        return getattr(exc, "faultCode", 1000), scrub(str(exc))
    method = method or context.method or "the call"
    ref = _reference()
    if isinstance(exc, ARGUMENT_ERRORS):
        log.error("ref %s: bad argument in %s", ref, method, exc_info=exc)
        return (koji.ParameterError.faultCode,
                scrub("Invalid argument for %s: %s (ref %s)" % (method, _describe(exc), ref)))
    if _value_refused_by_driver(exc):
        log.error("ref %s: bad argument in %s", ref, method, exc_info=exc)
        return (koji.ParameterError.faultCode,
                "Invalid argument for %s: a value of a type this call cannot use (ref %s)"
                % (method, ref))
    if isinstance(exc, DataError):
        log.error("ref %s: database refused a value in %s", ref, method, exc_info=exc)
        return (koji.ParameterError.faultCode,
                "Invalid argument for %s: a value is out of range or of the wrong kind "
                "(ref %s)" % (method, ref))
    if isinstance(exc, IntegrityError):
        log.error("ref %s: integrity error in %s", ref, method, exc_info=exc)
        return (1000, "%s conflicts with existing data (a concurrent change, or a reference to "
                      "a missing or duplicate entry); nothing was changed (ref %s)"
                % (method, ref))
    if isinstance(exc, DBAPIError):
        log.error("ref %s: database error in %s", ref, method, exc_info=exc)
        return 1000, ("database error in %s; the hub's log has the details (ref %s)"
                      % (method, ref))
    log.error("ref %s: internal error in %s", ref, method, exc_info=exc)
    return 1000, "internal error in %s; the hub's log has the details (ref %s)" % (method, ref)
