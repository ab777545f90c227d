"""hub.conf: the hub's settings in Koji's INI format (``pungi-like-hub serve --config FILE``).

Three sections (see doc/build-service.md, "Hub configuration"):

* ``[hub]``: Koji's hub.conf options, by Koji's names (case-insensitive, as Koji reads them):
  the database (``DBName``, ``DBHost``, ``DBPort``, ``DBUser``, ``DBPass`` or
  ``DBConnectionString``), ``KojiDir``, ``DNUsernameComponent``, ``ProxyDNs`` (``|``-separated),
  ``LoginCreatesUser``, ``MaxRequestLength``, ``MissingPolicyOk``, ``VerbosePolicy`` and the
  name checks (``RegexNameInternal``, ``MaxNameLengthInternal``, ``RegexUserName``) when this
  hub has them. An option Koji knows but this hub does not implement is logged and ignored
  (a site's hub.conf loads unchanged); any other option is an error naming file, line, option.
* ``[policy]``: Koji's policies, ``name =`` followed by indented rule lines (policy.py).
* ``[sidetag]``: the sidetag plugin's settings, by the keys of Koji's ``plugins/sidetag.conf``:
  ``allowed_suffixes`` (comma-separated) and ``name_template``; ``remove_empty`` and
  ``trigger_new_repo`` are not implemented (logged and ignored when off, an error when on).
  The number of side tags a user may hold is limited, as in Koji, by the ``sidetag`` policy
  (``compare number_of_tags >= 5 :: deny``).
* ``[pungi-like]``: this hub's own settings: ``db_url`` (an SQLAlchemy URL, instead of the DB*
  options), ``allowed_scms``, ``allowed_scms_use_policy``, and every ``serve``/``init``
  command-line option by its flag name (``listen``, ``tls-cert``, ``threads`` ...).

Precedence: command-line flags, then the file, then what ``init`` stored in
``<topdir>/.hub/hub.json``, then the defaults.
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import os
import re
import urllib.parse
from dataclasses import dataclass, field

from ...errors import ConfigError

log = logging.getLogger("pungi_like.buildsvc.hub.hubconf")

HUB, POLICY, OURS, SIDETAG = "hub", "policy", "pungi-like", "sidetag"

#: Koji 1.36's hub.conf options (kojixmlrpc.config_map) and their types.
KOJI_OPTIONS = {
    "DBName": "string", "DBUser": "string", "DBHost": "string", "DBhost": "string",
    "DBPort": "integer", "DBPass": "string", "DBConnectionString": "string",
    "KojiDir": "string", "ProxyPrincipals": "string", "HostPrincipalFormat": "string",
    "AllowedKrbRealms": "string", "DisableURLSessions": "boolean",
    "DNUsernameComponent": "string", "ProxyDNs": "string", "CheckClientIP": "boolean",
    "LoginCreatesUser": "boolean", "AllowProxyAuthType": "boolean", "KojiWebURL": "string",
    "EmailDomain": "string", "NotifyOnSuccess": "boolean", "DisableNotifications": "boolean",
    "Plugins": "string", "PluginPath": "string", "KojiDebug": "boolean",
    "KojiTraceback": "string", "VerbosePolicy": "boolean", "LogLevel": "string",
    "LogFormat": "string", "MissingPolicyOk": "boolean", "EnableMaven": "boolean",
    "EnableWin": "boolean", "RLIMIT_AS": "string", "RLIMIT_CORE": "string",
    "RLIMIT_CPU": "string", "RLIMIT_DATA": "string", "RLIMIT_FSIZE": "string",
    "RLIMIT_MEMLOCK": "string", "RLIMIT_NOFILE": "string", "RLIMIT_NPROC": "string",
    "RLIMIT_OFILE": "string", "RLIMIT_RSS": "string", "RLIMIT_STACK": "string",
    "MemoryWarnThreshold": "integer", "MaxRequestLength": "integer", "LockOut": "boolean",
    "ServerOffline": "boolean", "OfflineMessage": "string",
    "MaxNameLengthInternal": "integer", "RegexNameInternal": "string",
    "RegexUserName": "string", "RPMDefaultChecksums": "string",
    "SessionRenewalTimeout": "integer", "MaxJobs": "integer", "CapacityOvercommit": "integer",
    "ReadyTimeout": "integer", "AssignTimeout": "integer", "SoftRefusalTimeout": "integer",
    "HostTimeout": "integer", "RunInterval": "integer", "MaxRepoTasks": "integer",
    "MaxRepoTasksMaven": "integer", "RepoRetries": "integer", "RequestCleanTime": "integer",
    "AllowNewRepo": "boolean", "RepoLag": "integer", "RepoAutoLag": "integer",
    "RepoLagWindow": "integer", "RepoQueueUser": "string", "DebuginfoTags": "string",
    "SourceTags": "string", "SeparateSourceTags": "string",
}
_KOJI_BY_LOWER = {k.lower(): k for k in KOJI_OPTIONS}
#: options read here rather than mapped onto a HubConfig field
_DB_OPTIONS = {"DBName", "DBUser", "DBHost", "DBhost", "DBPort", "DBPass", "DBConnectionString"}
#: [pungi-like] options that are HubConfig fields (the rest are command-line options)
_OUR_FIELDS = {"db_url": "string", "allowed_scms": "list", "allowed_scms_use_policy": "boolean",
               "answer_cache_mb": "integer"}


def field_name(koji_name):
    """HubConfig field of a Koji option: ``DNUsernameComponent`` -> ``dn_username_component``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", koji_name).lower()


@dataclass
class HubConfFile:
    """What a hub.conf says, before it is applied."""

    path: str
    topdir: str | None = None
    db_url: str | None = None
    #: {HubConfig field: value}
    settings: dict = field(default_factory=dict)
    #: {policy name: rule text}
    policy: dict = field(default_factory=dict)
    #: {command-line dest: string value} of [pungi-like]
    cli: dict = field(default_factory=dict)

    def apply(self, config):
        """Set the file's settings (and policies) on a HubConfig; returns it."""
        if self.db_url:
            config.db_url = self.db_url
        for name, value in self.settings.items():
            setattr(config, name, value)
        if self.policy:
            config.policy = dict(self.policy)
        return config


def _line_of(path, section, option):
    """Line number of ``option`` in ``section`` of the file (configparser does not keep it)."""
    current = None
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                m = re.match(r"\s*\[([^\]]+)\]", line)
                if m:
                    current = m.group(1).strip()
                    continue
                m = re.match(r"([^\s=:#;][^=:]*?)\s*[=:]", line)
                if m and current == section and m.group(1).strip().lower() == option.lower():
                    return number
    except OSError:
        pass
    return None


def _where(path, section, option):
    line = _line_of(path, section, option)
    return "%s%s: [%s] %s" % (path, ":%d" % line if line else "", section, option)


def _convert(path, section, option, raw, kind):
    try:
        if kind == "integer":
            return int(raw.strip())
        if kind == "boolean":
            value = raw.strip().lower()
            if value in configparser.RawConfigParser.BOOLEAN_STATES:
                return configparser.RawConfigParser.BOOLEAN_STATES[value]
            raise ValueError(raw)
    except ValueError:
        raise ConfigError("%s: expected %s, got %r" % (
            _where(path, section, option), "an integer" if kind == "integer" else
            "a boolean (yes/no, true/false, on/off, 1/0)", raw)) from None
    if kind == "list":
        return raw.split()
    return raw.strip()


def db_url_from_koji(values):
    """A PostgreSQL URL from Koji's DB* options (``DBConnectionString`` wins, as in Koji)."""
    if values.get("DBConnectionString"):
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(values["DBConnectionString"])
        except Exception as exc:  # noqa: BLE001 - psycopg's ProgrammingError: bad syntax
            raise ConfigError("DBConnectionString: %s" % exc) from None
        values = {"DBName": parts.get("dbname"), "DBUser": parts.get("user"),
                  "DBPass": parts.get("password"), "DBHost": parts.get("host"),
                  "DBPort": parts.get("port")}
    q = urllib.parse.quote
    auth = ""
    if values.get("DBUser"):
        auth = q(values["DBUser"], safe="")
        if values.get("DBPass"):
            auth += ":" + q(values["DBPass"], safe="")
        auth += "@"
    host = values.get("DBHost") or values.get("DBhost") or ""
    query = ""
    if host.startswith("/"):
        # a Unix socket directory goes in the query (libpq's host=/run/postgresql)
        query, host = "?host=" + q(host, safe=""), ""
    elif ":" in host:
        host = "[%s]" % host
    if values.get("DBPort"):
        host += ":%s" % values["DBPort"]
    return "postgresql://%s%s/%s%s" % (auth, host, q(values.get("DBName") or "", safe=""),
                                       query)


def read_hub_conf(path, hub_fields, cli_options):
    """Read a hub.conf; ``hub_fields`` are HubConfig's field names, ``cli_options`` maps the
    command's flag names (``tls-cert``, also ``tls_cert``) to argparse dests. Raises
    ConfigError naming file, line and option for anything it cannot use."""
    path = os.path.abspath(path)
    cp = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as f:
            cp.read_file(f, source=path)
    except OSError as exc:
        raise ConfigError("cannot read hub configuration %s: %s" % (path, exc.strerror)) from None
    except configparser.Error as exc:
        raise ConfigError("%s: %s" % (path, str(exc).replace("\n", " "))) from None
    out = HubConfFile(path=path)
    for section in cp.sections():
        if section not in (HUB, POLICY, OURS, SIDETAG):
            raise ConfigError("%s: unknown section [%s] (expected [%s], [%s], [%s] or [%s])"
                              % (path, section, HUB, POLICY, SIDETAG, OURS))
    db = {}
    if cp.has_section(HUB):
        for option, raw in cp.items(HUB):
            koji_name = _KOJI_BY_LOWER.get(option)
            if koji_name is None:
                raise ConfigError("%s: unknown option (not a Koji hub.conf option; this hub's "
                                  "own settings go in [%s])" % (_where(path, HUB, option), OURS))
            value = _convert(path, HUB, option, raw, KOJI_OPTIONS[koji_name])
            name = field_name(koji_name)
            if koji_name in _DB_OPTIONS:
                db[koji_name] = value
            elif koji_name == "KojiDir":
                out.topdir = value
            elif koji_name == "ProxyDNs":
                out.settings["proxy_dns"] = [dn.strip() for dn in value.split("|") if dn.strip()]
            elif name in hub_fields:
                out.settings[name] = value
            else:
                log.warning("%s: Koji option not implemented by this hub; ignored",
                            _where(path, HUB, option))
    if db:
        out.db_url = db_url_from_koji(db)
    if cp.has_section(POLICY):
        out.policy = {name: text for name, text in cp.items(POLICY)}
    if cp.has_section(SIDETAG):
        _read_sidetag(cp, path, out)
    if cp.has_section(OURS):
        for option, raw in cp.items(OURS):
            key = option.replace("-", "_")
            if key in _OUR_FIELDS:
                value = _convert(path, OURS, option, raw, _OUR_FIELDS[key])
                if key == "db_url":
                    if db:
                        raise ConfigError("%s: give the database either as db_url or as [hub] "
                                          "DB* options, not both" % _where(path, OURS, option))
                    out.db_url = value
                else:
                    out.settings[key] = value
            elif option in cli_options or key in cli_options.values():
                out.cli[cli_options.get(option, key)] = raw.strip()
            else:
                known = sorted(set(_OUR_FIELDS) | {o for o in cli_options if "_" not in o})
                raise ConfigError("%s: unknown option (known here: %s)"
                                  % (_where(path, OURS, option), ", ".join(known)))
    return out


def _read_sidetag(cp, path, out):
    for option, raw in cp.items(SIDETAG):
        if option == "allowed_suffixes":
            out.settings["sidetag_allowed_suffixes"] = [
                x.strip() for x in raw.split(",") if x.strip()]
        elif option == "name_template":
            template = raw.strip()
            try:
                template.format(basetag="b", tag_id=1)
            except (KeyError, IndexError, ValueError):
                raise ConfigError("%s: a template with only {basetag} and {tag_id} expected"
                                  % _where(path, SIDETAG, option)) from None
            if "{basetag}" not in template or "{tag_id}" not in template:
                raise ConfigError("%s: the template must contain {basetag} and {tag_id}"
                                  % _where(path, SIDETAG, option))
            out.settings["sidetag_name_template"] = template
        elif option in ("remove_empty", "trigger_new_repo"):
            if _convert(path, SIDETAG, option, raw, "boolean"):
                raise ConfigError("%s: not implemented by this hub (leave it off)"
                                  % _where(path, SIDETAG, option))
            log.warning("%s: not implemented by this hub; ignored", _where(path, SIDETAG, option))
        else:
            raise ConfigError("%s: unknown option (known: allowed_suffixes, name_template, "
                              "remove_empty, trigger_new_repo)" % _where(path, SIDETAG, option))


def hub_field_names():
    from .server import HubConfig

    return {f.name for f in dataclasses.fields(HubConfig)}
