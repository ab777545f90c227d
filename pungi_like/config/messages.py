"""Turning jsonschema errors into ``option NAME: expected ..., found ...`` sentences."""

import difflib
import re

_PLURALS = {"a string": "strings", "an integer": "integers", "a number": "numbers",
            "a boolean": "booleans", "a dict": "dicts", "a list": "lists",
            "a regular expression": "regular expressions", "None": "None values"}


def found(value):
    """A short description of a value as the user wrote it."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 70 else text[:66] + "...'"
    if isinstance(value, (list, tuple)):
        text = repr(list(value))
        return f"a list {text}" if len(text) <= 50 else f"a list of {len(value)} items"
    if isinstance(value, dict):
        text = repr(value)
        return f"a dict {text}" if len(text) <= 50 else "a dict"
    return type(value).__name__


def _is_regex(schema):
    return isinstance(schema, dict) and schema.get("format") == "regex"


def _type_name(name):
    return {"string": "a string", "integer": "an integer", "number": "a number",
            "boolean": "a boolean", "array": "a list", "object": "a dict",
            "null": "None"}.get(name, name)


def plural(description):
    if description in _PLURALS:
        return _PLURALS[description]
    if description.startswith("one of "):
        return "values among " + description[len("one of "):]
    return f"items that are each {description}"


def describe(schema):
    """What a schema accepts, in words."""
    if schema is True:
        return "anything"
    if schema is False:
        return "nothing"
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if set(schema) == {"required"}:   # an alternative of oneOf: which keys must be there
        return "a dict with key " + " and ".join(repr(k) for k in schema["required"])
    if "anyOf" in schema or "oneOf" in schema:
        subs = schema.get("anyOf") or schema.get("oneOf")
        if (len(subs) == 2 and subs[0].get("type") == "string"
                and subs[1].get("type") == "object" and "scm" in subs[1].get("properties", {})):
            return "a path or an SCM dict"
        return " or ".join(describe(s) for s in subs)
    if _is_regex(schema):
        return "a regular expression"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_type_name(k) for k in kind)
    if kind == "array":
        prefix = schema.get("prefixItems")
        if prefix and len(prefix) == 2 and _is_regex(prefix[0]):
            value = describe(prefix[1].get("additionalProperties", True))
            return f"a (variant regex, {{arch: {value}}}) pair"
        items = schema.get("items")
        if isinstance(items, dict) and items.get("prefixItems") and _is_regex(
                items["prefixItems"][0]):
            return "a list of " + describe(items)[2:] + "s"
        if prefix:
            return "a list of " + str(len(prefix)) + " items (" + ", ".join(
                describe(p) for p in prefix) + ")"
        if "items" in schema:
            return "a list of " + plural(describe(schema["items"]))
        return "a list"
    if kind == "object":
        if _is_regex(schema.get("propertyNames")):
            return f"a dict {{variant regex: {describe(schema.get('additionalProperties', True))}}}"
        if "properties" in schema:
            return "a dict with keys " + ", ".join(schema["properties"])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return f"a dict of {plural(describe(extra))}"
        return "a dict"
    if kind == "string" and "pattern" in schema:
        return f"a string matching {schema['pattern']}"
    if kind == "string" and schema.get("minLength"):
        return "a non-empty string"
    if kind in ("integer", "number") and "minimum" in schema:
        return f"{_type_name(kind)} >= {schema['minimum']}"
    if kind:
        return _type_name(kind)
    return "a valid value"


def path_text(name, path):
    """``multilib[0][0]``, ``lorax_options[0][1]['*']``."""
    return name + "".join(f"[{p}]" if isinstance(p, int) else f"[{p!r}]" for p in path)


def did_you_mean(name, candidates):
    """The closest candidate names, or an empty list."""
    return difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.75)


def _alternatives(error):
    """For anyOf/oneOf: the sub-errors of the one alternative matching the value's type."""
    groups = {}
    for sub in error.context or ():
        groups.setdefault(sub.relative_schema_path[0], []).append(sub)
    applicable = []
    for index, subs in groups.items():
        root_mismatch = any(len(s.relative_path) == 0 and s.validator in ("type", "enum")
                            and len(s.relative_schema_path) <= 2 for s in subs)
        if not root_mismatch:
            applicable.append(subs)
    if len(applicable) == 1:
        return applicable[0]
    return None


def explain(error):
    """The flattened list of ``(path, text)`` for one jsonschema error."""
    if error.validator in ("anyOf", "oneOf"):
        subs = _alternatives(error)
        if subs:
            out = []
            for sub in subs:
                for path, text in explain(sub):
                    out.append((list(sub.relative_path) + path, text))
            return out
    return [([], _text(error))]


def _text(error):
    kind = error.validator
    instance = error.instance
    in_key = "propertyNames" in error.schema_path
    prefix = f"key {instance!r}: " if in_key else ""
    if kind == "format" and error.validator_value == "regex":
        try:
            re.compile(instance)
            detail = "invalid"
        except re.error as exc:
            detail = str(exc)
        return f"{prefix}invalid regular expression {instance!r}: {detail}"
    if kind == "required":
        missing = [k for k in error.validator_value if k not in instance]
        return "missing required key " + ", ".join(repr(k) for k in missing)
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(error.schema.get("properties", {}))
        extra = [k for k in instance if k not in known]
        parts = []
        for key in extra:
            hint = did_you_mean(str(key), known)
            parts.append(repr(key) + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        return (f"unknown key {', '.join(parts)}; allowed keys: {', '.join(known)}")
    if kind in ("minItems", "maxItems") or (kind == "items" and error.validator_value is False):
        return f"expected {describe(error.schema)}, found a list of {len(instance)} items"
    if kind in ("minimum", "maximum"):
        sign = ">=" if kind == "minimum" else "<="
        return f"expected a value {sign} {error.validator_value}, found {found(instance)}"
    if kind == "pattern":
        return f"expected a string matching {error.validator_value}, found {found(instance)}"
    if kind == "minLength":
        return f"expected a non-empty string, found {found(instance)}"
    if kind in ("type", "enum", "anyOf", "oneOf", "const", "additionalProperties", "items"):
        return f"{prefix}expected {describe(error.schema)}, found {found(instance)}"
    return prefix + error.message
