"""Config loading, validation and the typed config.

``load_config(path)`` is the entry point; see ``doc/configuration.md`` for the options and
``doc/internals.md`` for the contract.
"""

from pungi_like.errors import ConfigError


def load_config(path, extra=None):
    """Read, validate and type the config at ``path`` (kobo format or ``.json``).

    ``extra`` is a dict of option values applied over the file (e.g. from a command line).
    Returns a ``Config`` (with ``warnings``) or raises one ``ConfigError`` listing every problem.
    """
    from pungi_like.config.loader import read_config, to_plain
    from pungi_like.config.model import Config
    from pungi_like.config.registry import get_registry
    from pungi_like.config.validate import effective_values, validate_raw

    raw = read_config(path)
    if extra:
        for name, value in extra.items():
            raw.values[name] = to_plain(value)
            raw.locations[name] = ("<extra>", 1)
    registry = get_registry()
    from pungi_like.config import validcache

    cache_key = validcache.key(raw, registry)
    warnings = validcache.load(cache_key)
    if warnings is None:
        errors, warnings = validate_raw(raw, registry)
        if errors:
            exc = ConfigError(errors)
            exc.warnings = warnings
            raise exc
        validcache.store(cache_key, warnings)
    values = effective_values(raw.values, registry)
    return Config(values, raw.locations, raw.source_files, raw.main_file, registry.names(),
                  warnings)


__all__ = ["ConfigError", "load_config"]
