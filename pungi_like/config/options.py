"""One declaration per config option.

Each phase module in ``phases/`` declares the options it reads as ``OPTIONS = [Option(...), ...]``;
compose-wide options live in ``pungi_like.config.global_options``. The JSON schema in ``schemas/``,
the defaults, the typed config and ``doc/configuration.md`` are all assembled from these
declarations, so an option is described exactly once, next to the code that uses it.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


class _NoDefault:
    def __repr__(self):
        return "NO_DEFAULT"


NO_DEFAULT = _NoDefault()


@dataclass(frozen=True)
class Option:
    """A config option.

    name      the option as users write it (Pungi's name where Pungi has one)
    schema    JSON Schema (draft 7) of its value; ``{"type": "string", "format": "regex"}``
              marks a regular expression that must compile
    default   the value used when the option is absent; a callable gets the raw config dict
              (for defaults that depend on other options); NO_DEFAULT leaves it unset (None)
    required  an absent required option is an error
    help      one or two sentences for doc/configuration.md
    phase     filled in by the registry: the phase that declared it, or "global"
    mapping   "variant_arch" / "variant" when the value maps variant-UID regexes: the validator then
              checks that each regex matches a variant of the variants file
    """

    name: str
    schema: dict
    default: Any = NO_DEFAULT
    required: bool = False
    help: str = ""
    phase: str = "global"
    mapping: Optional[str] = None

    def default_for(self, raw):
        if callable(self.default):
            return self.default(raw)
        if self.default is NO_DEFAULT:
            return None
        return self.default


# ---- schema fragments for Pungi's recurring value shapes ------------------------------------

def regex_schema():
    return {"type": "string", "format": "regex"}


def str_or_list(item=None):
    item = item or {"type": "string"}
    return {"anyOf": [item, {"type": "array", "items": item}]}


def variant_arch_mapping(value_schema):
    """``[(variant_uid_regex, {arch_or_*: value}), ...]`` as Pungi writes them."""
    return {
        "type": "array",
        "items": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "prefixItems": [
                regex_schema(),
                {"type": "object", "additionalProperties": value_schema},
            ],
            "items": False,
        },
    }


def variant_mapping(value_schema):
    """``{variant_uid_regex: value}``."""
    return {
        "type": "object",
        "propertyNames": regex_schema(),
        "additionalProperties": value_schema,
    }


def arch_mapping(value_schema):
    """``{arch_or_*: value}``."""
    return {"type": "object", "additionalProperties": value_schema}


def scm_dict_schema():
    """A plain path (relative to the config file) or an SCM dict."""
    return {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "properties": {
                    "scm": {"enum": ["file", "git", "cvs", "rpm", "koji"]},
                    "repo": {"type": ["string", "null"]},
                    "branch": {"type": ["string", "null"]},
                    "file": str_or_list(),
                    "dir": str_or_list(),
                    "command": {"type": "string"},
                },
                "required": ["scm"],
                "additionalProperties": False,
            },
        ]
    }


def image_default_options(prefix, blocks):
    """Pungi's per-phase defaults of image blocks (``<prefix>_ksurl``, ``_target``,
    ``_release``, ``_version``), each before its ``global_*`` one; ``blocks`` names the blocks
    in the help text ("live_media blocks")."""
    what = {"ksurl": ("`ksurl`", {"type": "string"}),
            "target": ("build target", {"type": "string"}),
            "release": ("release", {"type": ["string", "null"]}),
            "version": ("version", {"type": "string"})}
    return [Option(f"{prefix}_{key}", schema,
                   help=f"Default {label} of {blocks} (before `global_{key}`).")
            for key, (label, schema) in what.items()]
