"""The typed, validated config handed to the compose and the phases."""

import copy
import json
import os
import re

from pungi_like.errors import ConfigError


class Config:
    """The effective config: one attribute per declared option (defaults filled).

    Values have the types their declarations' schemas allow (validated before a Config is built);
    lists stand where the config file wrote tuples. Options Pungi knows but pungi_like ignores are
    kept in ``as_dict()`` but get no attribute.
    """

    def __init__(self, values, locations, source_files, main_file, declared, warnings=()):
        self._values = values
        self._locations = dict(locations)
        self._declared = list(declared)
        self.source_files = list(source_files)
        self.main_file = main_file
        self.config_dir = os.path.dirname(os.path.abspath(main_file))
        self.warnings = list(warnings)
        for name in self._declared:
            setattr(self, name, values.get(name))

    def __getattr__(self, name):
        # only reached for names that are not attributes: an undeclared option
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"config has no option {name!r} (it is not declared by any "
                             "module in pungi_like/config/global_options.py or phases/)")

    def __repr__(self):
        return f"<Config {self.main_file}>"

    def get(self, name, default=None):
        """The value of an option (declared or not), or ``default``."""
        value = self._values.get(name)
        return default if value is None else value

    def as_dict(self):
        """The effective config as a JSON-able dict with sorted keys."""
        return json.loads(json.dumps(self._values, sort_keys=True, default=str))

    def location(self, name):
        """``(file, line)`` where the option was set, or ``(None, None)`` for a default."""
        return self._locations.get(name, (None, None))

    def is_set(self, name):
        """True when the config file (or an include) sets the option."""
        return name in self._locations

    def resolve_path(self, value):
        """A path as written in the config, made usable: relative paths are taken relative to
        the config file's directory; URLs and absolute paths are returned unchanged. An SCM dict
        with ``scm: file`` gives its ``file`` (or ``dir``) resolved the same way."""
        if value is None:
            return None
        if isinstance(value, dict):
            if value.get("scm") != "file":
                raise ConfigError(f"{self.main_file}: SCM source {value!r} cannot be used as a "
                                  "local path; pungi_like reads only local files (scm 'file')")
            target = value.get("file") or value.get("dir")
            if isinstance(target, list):
                target = target[0] if len(target) == 1 else None
            if not isinstance(target, str):
                raise ConfigError(f"{self.main_file}: SCM dict {value!r} names no single file")
            base = value.get("repo") or ""
            return self.resolve_path(os.path.join(base, target) if base else target)
        if re.match(r"^[a-z][a-z0-9+.-]*://", value):
            return value
        return os.path.normpath(os.path.join(self.config_dir, value))

    # ---- mapping look-ups with Pungi's semantics ----------------------------------------

    def variant_arch_values(self, name, variant_uid, arch):
        """Values of a ``[(variant_regex, {arch: value})]`` option for one variant.arch.

        Every block whose regex matches the UID (``re.match``: anchored at the start only)
        contributes; the arch key must equal ``arch``, or be ``*`` (which never matches
        ``src``). List values are concatenated, scalars appended, in config order.
        """
        uid = getattr(variant_uid, "uid", variant_uid)
        result = []
        for block in self._values.get(name) or []:
            pattern, per_arch = block[0], block[1]
            if not re.match(pattern, uid):
                continue
            for key, value in per_arch.items():
                if key == arch or (key == "*" and arch != "src"):
                    _contribute(result, value)
        return result

    def variant_values(self, name, variant_uid):
        """Values of a ``{variant_regex: value}`` option for one variant (all matching keys
        contribute: lists concatenated, scalars appended)."""
        uid = getattr(variant_uid, "uid", variant_uid)
        result = []
        value = self._values.get(name)
        if not isinstance(value, dict):
            return result
        for pattern, item in value.items():
            if re.match(pattern, uid):
                _contribute(result, item)
        return result

    def arch_values(self, name, arch):
        """Values of a ``{arch_or_*: value}`` option for one arch (``*`` never matches src)."""
        result = []
        for key, value in (self._values.get(name) or {}).items():
            if key == arch or (key == "*" and arch != "src"):
                _contribute(result, value)
        return result


def _contribute(result, value):
    if isinstance(value, list):
        result.extend(copy.deepcopy(value))
    else:
        result.append(copy.deepcopy(value))
