"""The validation of a config that was valid before, taken from a cache instead of run again.

Validating a config is quick, but its JSON Schema library is not quick to import (jsonschema:
50-60 ms of CPU, a tenth of a no-op re-run's). A nightly validates the same config every night.
So :func:`key` hashes everything the result of ``validate_raw`` depends on: the values read and
where each came from, the files read, the option declarations (name, schema, default - a
callable by its code -, required, mapping, phase; the phase modules that failed to import) and
the source of ``pungi_like.config`` itself (the rules, the messages, Pungi's option names), plus
the version; and :func:`load`/:func:`store` keep the warnings of a valid config under that key,
as one small file in the user's cache directory (``$XDG_CACHE_HOME/pungi-like/config-valid``,
``~/.cache/...`` by default). Only valid configs are kept: an invalid one is validated, with
its messages, every time. ``PUNGI_LIKE_CONFIG_CACHE=0`` turns it off; a cache that cannot be
read or written is no cache.
"""

import functools
import hashlib
import json
import logging
import os

log = logging.getLogger(__name__)


def _directory():
    if os.environ.get("PUNGI_LIKE_CONFIG_CACHE") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pungi-like", "config-valid")


@functools.lru_cache(maxsize=1)
def _code_digest():
    """The bytes of ``pungi_like.config``'s modules and the version."""
    import pungi_like

    h = hashlib.sha256(pungi_like.__version__.encode() + b"\0")
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as fh:
                h.update(name.encode() + b"\0" + fh.read() + b"\0")
    return h.hexdigest()


def _code_text(code):
    """What a code object does, as text that is the same in every process: its byte code,
    names and constants (nested code objects the same way, a frozenset's items sorted).
    ``marshal.dumps`` is not that: it marks an object as shared by its reference count, so a
    profiler or a debugger holding a reference to a nested code object (a comprehension's)
    changed its bytes, the key, and a valid config was validated again (jsonschema imported:
    50-90 ms of a no-op re-run)."""
    def const(value):
        if hasattr(value, "co_code"):
            return _code_text(value)
        if isinstance(value, (tuple, list)):
            return "(" + ",".join(map(const, value)) + ")"
        if isinstance(value, frozenset):
            return "frozenset(" + ",".join(sorted(map(const, value))) + ")"
        return f"{type(value).__name__}:{value!r}"

    return repr((code.co_code.hex(), code.co_names, code.co_varnames, code.co_freevars,
                 code.co_cellvars, code.co_argcount, code.co_posonlyargcount,
                 code.co_kwonlyargcount, code.co_flags, [const(c) for c in code.co_consts]))


def _default(value):
    if callable(value):
        code = getattr(value, "__code__", None)
        return ["callable", hashlib.sha256(_code_text(code).encode()).hexdigest() if code
                else f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"]
    return ["value", repr(value)]


def key(raw, registry):
    """The cache key of validating ``raw`` (a ``RawConfig``) against ``registry``."""
    options = [[o.name, o.schema, _default(o.default), o.required, o.mapping, o.phase]
               for o in registry]
    blob = json.dumps({"values": raw.values, "locations": raw.locations,
                       "files": raw.source_files, "main": raw.main_file, "options": options,
                       "missing": registry.missing_modules, "broken": registry.broken_modules,
                       "code": _code_digest()}, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load(cache_key):
    """The warnings of a valid config validated before under ``cache_key``, or None."""
    directory = _directory()
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, cache_key + ".json"), encoding="utf-8") as fh:
            warnings = json.load(fh)["warnings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return None
    return warnings


def store(cache_key, warnings):
    """Keep the warnings of a valid config under ``cache_key`` (nothing when it cannot)."""
    directory = _directory()
    if directory is None:
        return
    from pungi_like.fileutil import write_atomic

    try:
        os.makedirs(directory, exist_ok=True)
        write_atomic(os.path.join(directory, cache_key + ".json"),
                     json.dumps({"warnings": list(warnings)}) + "\n", fsync=False)
    except OSError as exc:
        log.debug("config validation not cached: %s", exc)
