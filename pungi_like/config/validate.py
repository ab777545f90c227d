"""Validation of a raw config: schema, unknown/removed options, CONFIG_DEPS, variant mappings.

Every check returns messages ``FILE:LINE: option NAME: ...``; nothing stops at the first problem.
"""

import logging
import re

from pungi_like.config import messages
from pungi_like.config.options import NO_DEFAULT
from pungi_like.config.pungi_compat import PUNGI_OPTION_NAMES, REMOVED_OPTIONS
from pungi_like.config.registry import get_registry
from pungi_like.config.schema import build_schema, validator

LABEL_MILESTONES = ["EA", "DevelPhaseExit", "InternalAlpha", "Alpha", "InternalSnapshot", "Beta",
                    "Snapshot", "RC", "Update", "SecurityFix"]
_LABEL_RE = re.compile(r"^(?P<milestone>[A-Za-z]+)-(?P<version>\d+\.\d+)$")

log = logging.getLogger(__name__)


class _Rule:
    """One CONFIG_DEPS rule: when ``trigger``'s value satisfies ``when``, ``requires`` must be
    set and ``conflicts`` must not be set to a non-default value."""

    def __init__(self, trigger, when, condition, requires=(), conflicts=()):
        self.trigger = trigger
        self.when = when
        self.condition = condition
        self.requires = list(requires)
        self.conflicts = list(conflicts)


_BASE_PRODUCT = ["base_product_name", "base_product_short", "base_product_version"]

# Pungi's CONFIG_DEPS (see doc/configuration.md, "Dependencies between options").
CONFIG_DEPS = [
    _Rule("buildinstall_method", "is 'buildinstall'", lambda v: v == "buildinstall",
          conflicts=["lorax_options"]),
    _Rule("buildinstall_method", "is not set", lambda v: not v,
          conflicts=["lorax_options", "buildinstall_kickstart"]),
    *[_Rule(name, "is set", bool, requires=[o for o in _BASE_PRODUCT if o != name])
      for name in _BASE_PRODUCT],
    *[_Rule(name, "is not set", lambda v: not v,
            conflicts=[o for o in _BASE_PRODUCT if o != name])
      for name in _BASE_PRODUCT],
    _Rule("cts_url", "is set", bool, requires=["translate_paths"]),
    _Rule("product_id", "is not set", lambda v: not v, conflicts=["product_id_allow_missing"]),
    _Rule("pkgset_scratch_modules", "is set", bool, requires=["mbs_api_url"]),
    _Rule("pkgset_source", "is 'repos'", lambda v: v == "repos", requires=["pkgset_repos"],
          conflicts=["pkgset_koji_tag", "pkgset_koji_inherit"]),
    _Rule("pkgset_source", "is 'koji'", lambda v: v == "koji", conflicts=["pkgset_repos"]),
]


class Problems:
    """Collected errors and warnings, each with the place it points at."""

    def __init__(self, raw):
        self.raw = raw
        self.errors = []
        self.warnings = []

    def where(self, name):
        return self.raw.locations.get(name) or (self.raw.main_file, 1)

    def _add(self, bucket, name, text, location=None):
        file, line = location or self.where(name)
        prefix = f"option {name}: " if name else ""
        bucket.append((file, line, f"{file}:{line}: {prefix}{text}"))

    def error(self, name, text, location=None):
        self._add(self.errors, name, text, location)

    def warning(self, name, text, location=None):
        self._add(self.warnings, name, text, location)

    def _sorted(self, bucket):
        order = {f: i for i, f in enumerate(self.raw.source_files)}
        return [m for _, _, m in sorted(bucket, key=lambda e: (order.get(e[0], 99), e[1]))]

    def error_messages(self):
        return self._sorted(self.errors)

    def warning_messages(self):
        return self._sorted(self.warnings)


def default_of(opt, values):
    return opt.default_for(values) if opt.default is not NO_DEFAULT else None


def validate_raw(raw, registry=None):
    """Check a ``RawConfig``; returns ``(errors, warnings)`` as lists of messages."""
    registry = registry or get_registry()
    problems = Problems(raw)
    values = raw.values
    _check_names(problems, values, registry)
    _check_required(problems, values, registry)
    _check_schema(problems, values, registry)
    effective = effective_values(values, registry)
    _check_deps(problems, values, effective, registry)
    _check_specials(problems, values, effective)
    return problems.error_messages(), problems.warning_messages()


def effective_values(values, registry=None):
    """The raw values plus the default of every declared option that is not set."""
    registry = registry or get_registry()
    result = dict(values)
    for opt in registry:
        if opt.name not in result:
            result[opt.name] = default_of(opt, values)
    return result


def _check_names(problems, values, registry):
    known = set(registry.names())
    for name in values:
        if name in known:
            continue
        if name in REMOVED_OPTIONS:
            problems.warning(name, f"removed from Pungi and has no effect: "
                                   f"{REMOVED_OPTIONS[name]}")
        elif name in PUNGI_OPTION_NAMES:
            problems.warning(name, "not implemented by pungi_like; ignored")
        else:
            hint = messages.did_you_mean(name, sorted(known | PUNGI_OPTION_NAMES))
            text = "unknown option"
            if hint:
                text += f"; did you mean {hint[0]}?"
            if registry.broken_modules:
                text += (" (phase module(s) " + ", ".join(sorted(registry.broken_modules))
                         + " failed to import, so their options are unknown)")
            problems.error(name, text)


def _check_required(problems, values, registry):
    for opt in registry.required():
        if values.get(opt.name) is None:
            problems.error(opt.name, "required option is missing",
                           location=(problems.raw.main_file, 1))


def _check_schema(problems, values, registry):
    schema = build_schema(registry, strict=False)
    check = validator(schema)
    declared = {k: v for k, v in values.items() if k in registry and v is not None}
    errors = sorted(check.iter_errors(declared), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        path = list(error.absolute_path)
        if not path:
            problems.error(None, error.message, location=(problems.raw.main_file, 1))
            continue
        name, rest = path[0], path[1:]
        for sub_path, text in messages.explain(error):
            problems.error(messages.path_text(name, rest + sub_path), text,
                           location=problems.where(name))


def _is_set(values, registry, name):
    """Set to a value that differs from the default (what Pungi calls "set" for conflicts)."""
    if name not in values or values[name] is None:
        return False
    if name in registry:
        return values[name] != default_of(registry[name], values)
    return True


def _check_deps(problems, values, effective, registry):
    for rule in CONFIG_DEPS:
        value = effective.get(rule.trigger)
        if not rule.condition(value):
            continue
        shown = f"{rule.trigger}={value!r}"
        for other in rule.requires:
            if effective.get(other) in (None, "", [], {}):
                problems.error(rule.trigger, f"{shown} requires {other}, which is not set",
                               location=problems.where(rule.trigger))
        for other in rule.conflicts:
            if _is_set(values, registry, other):
                problems.error(other, f"conflicts with {shown} "
                               f"({rule.trigger} {rule.when})", location=problems.where(other))


def _check_specials(problems, values, effective):
    """Checks of single options that a schema cannot express."""
    if values.get("bootable") is True and not effective.get("buildinstall_method"):
        problems.error("bootable", "bootable = True has no effect any more: set "
                       "buildinstall_method = 'lorax' to make bootable media")
    if values.get("createrepo_c") is False:
        problems.error("createrepo_c", "expected True (pungi_like only runs createrepo_c), "
                       "found False")
    checksums = effective.get("media_checksums")
    if effective.get("media_checksum_one_file") and isinstance(checksums, list) \
            and len(checksums) != 1:
        problems.error("media_checksum_one_file", "True needs exactly one checksum type in "
                       f"media_checksums, found {len(checksums)}: {', '.join(map(str, checksums))}")
    if values.get("buildinstall_method") == "buildinstall":
        problems.warning("buildinstall_method", "'buildinstall' is Pungi's legacy method; "
                         "pungi_like builds the installer the same way as for 'lorax'")


def check_label(label):
    """A message when ``label`` is not ``<Milestone>-<X>.<Y>`` with a known milestone, else None."""
    match = _LABEL_RE.match(label or "")
    if not match or match["milestone"] not in LABEL_MILESTONES:
        return (f"label {label!r} is not in the format <Milestone>-<X>.<Y> with a milestone "
                f"among {', '.join(LABEL_MILESTONES)} (e.g. RC-1.0)")
    return None


def _flatten_variants(variants):
    """UIDs from an iterable of UIDs, or of Variant objects / a dict of them (with children)."""
    if isinstance(variants, dict):
        variants = variants.values()
    uids = []
    stack = list(variants)
    while stack:
        item = stack.pop(0)
        if isinstance(item, str):
            uids.append(item)
            continue
        uids.append(item.uid)
        children = getattr(item, "children", None) or []
        if isinstance(children, dict):
            children = children.values()
        stack.extend(children)
    return sorted(set(uids))


def _mapping_patterns(opt, value):
    if opt.mapping == "variant_arch" and isinstance(value, list):
        return [item[0] for item in value
                if isinstance(item, (list, tuple)) and item and isinstance(item[0], str)]
    if opt.mapping == "variant" and isinstance(value, dict):
        return [key for key in value if isinstance(key, str)]
    return []


def check_variant_mappings(conf, variants, warnings=None):
    """Every variant regex in an explicitly set mapping option must match a variant UID.

    ``variants``: UIDs, or Variant objects (children are followed), or a dict uid -> Variant.
    Returns the errors (empty when all match). A pattern set in an *included* file is only a
    warning (shared base configs cover the variants of several products); such warnings go to
    ``warnings`` when a list is given, else to ``conf.warnings`` and the log.
    """
    registry = get_registry()
    uids = _flatten_variants(variants)
    problems = []
    for opt in registry.mapped():
        file, line = conf.location(opt.name)
        if file is None:
            continue
        for pattern in _mapping_patterns(opt, getattr(conf, opt.name, None)):
            try:
                regex = re.compile(pattern)
            except re.error:
                continue
            if any(regex.match(uid) for uid in uids):
                continue
            message = (f"{file}:{line}: option {opt.name}: pattern {pattern!r} matches no "
                       f"variant (variants: {', '.join(uids)})")
            if file == conf.main_file or file == "<extra>":
                problems.append(message)
            elif warnings is not None:
                warnings.append(message)
            else:
                log.warning("%s", message)
                conf.warnings.append(message)
    return problems
