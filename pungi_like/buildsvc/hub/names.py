"""Name checks of the hub, as Koji's ``verify_name_internal``/``verify_name_user`` do them.

Every name a caller creates is checked before it is stored: tags, targets, packages (and so build
names), groups, channels, external repos, permissions against ``RegexNameInternal``; users and
Kerberos principals against ``RegexUserName``; host names against both; all against
``MaxNameLengthInternal``. The settings are HubConfig fields (``regex_name_internal``,
``regex_user_name``, ``max_name_length_internal``; hub.conf takes Koji's names) with Koji's
defaults. Koji's default ``RegexNameInternal`` allows ``/`` and ``.``, so ``..`` would pass it:
names that become paths are also refused when a component is empty, ``.`` or ``..``. Messages
are Koji's. Paths are still built only through ``pathinfo.safe_join``, so a bad name stored
before these checks cannot lead outside the top directory either.
"""

from __future__ import annotations

import functools
import re

import koji

from .context import context

#: Koji 1.36's defaults (kojixmlrpc.config_map), used when no hub is set up (unit use)
DEFAULTS = {"max_name_length_internal": 256,
            "regex_name_internal": r"^[A-Za-z0-9/_.+-]+$",
            "regex_user_name": r"^[A-Za-z0-9/_.@-]+$"}


def _setting(name):
    config = getattr(context.hub, "config", None) if context.hub is not None else None
    return getattr(config, name, DEFAULTS[name]) if config is not None else DEFAULTS[name]


@functools.lru_cache(maxsize=16)
def _compiled(pattern, option="RegexNameInternal"):
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise koji.GenericError("the hub's %s setting %r is not a valid regular expression "
                                "(%s); fix hub.conf" % (option, pattern, exc)) from None


#: the name columns hold 255 characters (schema.py); Koji's default limit (256) and "no limit"
#: (0) are capped here so a long name gets this message, not a database error
COLUMN_LIMIT = 255


def _check_length(name, label="Name"):
    limit = _setting("max_name_length_internal")
    limit = min(limit, COLUMN_LIMIT) if limit else COLUMN_LIMIT
    if len(name) > limit:
        raise koji.GenericError("%s %s is too long. Max length is %s characters"
                                % (label, name, limit))


def _check_path_safe(name):
    if "\0" in name or {"", ".", ".."} & set(name.split("/")):
        raise koji.GenericError("Name %r cannot be used: empty, '.' and '..' path components "
                                "and NUL are not allowed" % (name,))


def verify_name_internal(name):
    """Koji's check of tag, target, package, group, channel, external repo and permission names."""
    if not isinstance(name, str):
        raise koji.GenericError("Name should be string")
    _check_length(name)
    pattern = _setting("regex_name_internal")
    if pattern and not _compiled(pattern).match(name):
        raise koji.GenericError("Name %s does not match RegexNameInternal value" % name)
    _check_path_safe(name)
    return name


def verify_name_user(name=None, krb=None):
    """Koji's check of user names and Kerberos principals."""
    if name is not None and not isinstance(name, str):
        raise koji.GenericError("Name should be string")
    if krb is not None and not isinstance(krb, str):
        raise koji.GenericError("Kerberos principal should be string")
    pattern = _setting("regex_user_name")
    if name is not None:
        _check_length(name)
        if pattern and not _compiled(pattern, "RegexUserName").match(name):
            raise koji.GenericError("Name %s does not match RegexUserName value" % name)
        # user names name directories (scratch/<owner>/...)
        _check_path_safe(name)
        if "/" in name:
            raise koji.GenericError("Name %s cannot be used: '/' is not allowed in user names"
                                    % name)
    if krb is not None:
        _check_length(krb, "Kerberos principal")
        if pattern and not _compiled(pattern, "RegexUserName").match(krb):
            raise koji.GenericError("Kerberos principal %s does not match RegexUserName value"
                                    % krb)


def verify_host_name(name):
    """Host names are both internal names and user names (Koji's verify_host_name)."""
    verify_name_internal(name)
    verify_name_user(name)


def verify_version_release(version, release):
    """Koji's check_NVR rules for a build's version and release (no ``-``), and one path
    component each (they name ``packages/<name>/<version>/<release>``)."""
    for field, value in (("version", version), ("release", release)):
        if not isinstance(value, str) or not value:
            raise koji.GenericError("Invalid %s for a build: %r (a non-empty string)"
                                    % (field, value))
        if "-" in value:
            raise koji.GenericError('The "-" character not allowed in %s field' % field)
        if "/" in value or value in (".", "..") or "\0" in value:
            raise koji.GenericError("Invalid %s for a build: %r ('/', '.', '..' and NUL are "
                                    "not allowed)" % (field, value))
        _check_length(value, field.capitalize())


def verify_nvr(name, version, release):
    """A new build's name (a package name), version and release."""
    verify_name_internal(name)
    verify_version_release(version, release)


def verify_filename(name, what="file name"):
    """A file name a caller chose (an image, an archive, a log): one plain path component."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or "\0" in name:
        raise koji.GenericError("Invalid %s: %r (one path component: no '/', '.', '..' or NUL)"
                                % (what, name))
    _check_length(name, what.capitalize())
    return name
