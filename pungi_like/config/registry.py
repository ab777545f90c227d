"""Collects the option declarations of the compose-wide options and of every phase module."""

import dataclasses
import importlib
import logging
import threading

from pungi_like.config import global_options

log = logging.getLogger(__name__)

_lock = threading.Lock()
_cache = None


class Registry:
    """Every declared option by name, in declaration order (global options first).

    ``duplicates`` lists ``(name, first_phase, second_phase)`` for names declared twice; the
    first declaration is kept (a unit test keeps this list empty).
    ``missing_modules`` names phase modules that do not exist yet or cannot be imported;
    ``broken_modules`` maps the latter to their import error.
    """

    def __init__(self, options, duplicates=(), missing_modules=(), broken_modules=None):
        self.options = dict(options)
        self.duplicates = list(duplicates)
        self.missing_modules = list(missing_modules)
        self.broken_modules = dict(broken_modules or {})

    def __contains__(self, name):
        return name in self.options

    def __getitem__(self, name):
        return self.options[name]

    def __iter__(self):
        return iter(self.options.values())

    def names(self):
        return list(self.options)

    def required(self):
        return [o for o in self if o.required]

    def mapped(self):
        """Options whose value maps variant-UID regexes (``mapping`` set)."""
        return [o for o in self if o.mapping]


def _phase_option_lists():
    import phases

    for modname in phases.PHASE_MODULES:
        try:
            module = importlib.import_module(f"phases.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name != f"phases.{modname}":
                log.warning("phases.%s cannot be imported (%s): its options are unknown",
                            modname, exc)
                yield modname, exc
                continue
                log.debug("phase module phases.%s does not exist (yet): its options are "
                          "unknown", modname)
            yield modname, None
            continue
        except Exception as exc:  # a broken phase module must not hide every other option
            log.warning("phases.%s cannot be imported (%s: %s): its options are unknown",
                        modname, type(exc).__name__, exc)
            yield modname, exc
            continue
        yield modname, getattr(module, "OPTIONS", [])


def build_registry():
    """Build a fresh registry from the declarations (no caching)."""
    options = {}
    duplicates = []
    missing = []
    broken = {}
    sources = [("global", global_options.OPTIONS)] + list(_phase_option_lists())
    for phase, opts in sources:
        if opts is None or isinstance(opts, Exception):
            missing.append(phase)
            if opts is not None:
                broken[phase] = f"{type(opts).__name__}: {opts}"
            continue
        for opt in opts:
            opt = dataclasses.replace(opt, phase=phase)
            if opt.name in options:
                duplicates.append((opt.name, options[opt.name].phase, phase))
                log.warning("option %s is declared by %s and %s; keeping the first",
                            opt.name, options[opt.name].phase, phase)
                continue
            options[opt.name] = opt
    return Registry(options, duplicates, missing, broken)


def get_registry():
    """The registry of this process (built on first use)."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = build_registry()
        return _cache
