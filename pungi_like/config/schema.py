"""The JSON Schema of the config, assembled from the option declarations.

Regenerate the committed copy after changing a declaration::

    python -m pungi_like.config.schema > schemas/config.schema.json
"""

import json
import re
import sys

from pungi_like.config.options import NO_DEFAULT
from pungi_like.config.pungi_compat import PUNGI_OPTION_NAMES, REMOVED_OPTIONS
from pungi_like.config.registry import get_registry

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def option_schema(opt):
    """The schema of one option, annotated with its help text and static default."""
    schema = dict(opt.schema)
    if opt.help:
        schema["description"] = opt.help
    default = opt.default
    if not callable(default) and default is not None and default is not NO_DEFAULT:
        schema["default"] = default
    return schema


def build_schema(registry=None, strict=True):
    """The whole config schema.

    ``strict`` adds ``required`` and ``additionalProperties: false`` (with Pungi options that are
    accepted but ignored listed as deprecated properties): what the committed schema says.
    The validator uses ``strict=False`` and reports those two itself, with better messages.
    """
    registry = registry or get_registry()
    properties = {opt.name: option_schema(opt) for opt in registry}
    schema = {
        "$schema": DIALECT,
        "$id": "https://pungi-like.invalid/schemas/config.schema.json",
        "title": "pungi_like compose configuration",
        "type": "object",
        "properties": properties,
    }
    if strict:
        for name in sorted(PUNGI_OPTION_NAMES - set(properties)):
            properties[name] = {"deprecated": True,
                                "description": "Pungi option not implemented by pungi_like; "
                                               "accepted and ignored with a warning."}
        for name, reason in sorted(REMOVED_OPTIONS.items()):
            properties.setdefault(name, {"deprecated": True,
                                         "description": f"Removed from Pungi: {reason}."})
        schema["required"] = [opt.name for opt in registry.required()]
        schema["additionalProperties"] = False
    return schema


def _check_regex(value):
    if isinstance(value, str):
        re.compile(value)
    return True


def format_checker():
    """Formats we check: ``regex`` (must compile with Python's ``re``)."""
    import jsonschema   # here: its import costs more than a valid config's cached check

    checker = jsonschema.FormatChecker(formats=())
    checker.checks("regex", raises=re.error)(_check_regex)
    return checker


def validator(schema=None):
    """A Draft 2020-12 validator for the (non-strict) schema, with our format checks."""
    import jsonschema

    schema = schema or build_schema(strict=False)
    return jsonschema.Draft202012Validator(schema, format_checker=format_checker())


def render(schema=None):
    """The schema as committed: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema or build_schema(), indent=2, sort_keys=True) + "\n"


def main():
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
