"""builder.conf: the builder daemon's settings in kojid.conf's format
(``pungi-like-builder --config FILE``).

One section, ``[kojid]`` as in kojid.conf, with kojid's option names where they mean the same:
``server`` (the hub URL), ``topurl``, ``topdir``, ``workdir``, ``cert``, ``serverca``,
``maxjobs``, ``sleeptime`` (seconds between polls), ``log_level``, ``pluginpath`` and ``plugins``
(kojid plugins whose task handlers the builder registers after its own) and ``allowed_scms``
(whitespace-separated ``host:repository`` globs, ``!`` before one denies; kojid's optional
``:use_common:source_cmd`` fields are accepted and not used). This builder's own settings use its
flag names: ``capacity``, ``arches``, ``keep-workdirs``. An option kojid knows but this builder has
no use for (mock, SMTP, Kerberos ... settings) is logged as ignored, so a site's kojid.conf loads
unchanged; anything else is an error naming the file, line and option.

Precedence: command-line flags, then the file, then the defaults.
"""

from __future__ import annotations

import configparser
import fnmatch
import re
import urllib.parse

from ...errors import ConfigError

SECTION = "kojid"

#: kojid.conf option -> (argparse dest, type)
MAPPED = {
    "server": ("hub", "string"),
    "topurl": ("topurl", "string"),
    "topdir": ("topdir", "string"),
    "workdir": ("workdir", "string"),
    "cert": ("cert", "string"),
    "serverca": ("serverca", "string"),
    "maxjobs": ("maxjobs", "integer"),
    "sleeptime": ("poll_interval", "float"),
    "log_level": ("log_level", "string"),
    "allowed_scms": ("allowed_scms", "scms"),
    "pluginpath": ("pluginpath", "string"),
    "plugins": ("plugins", "list"),
    # this builder's own
    "capacity": ("capacity", "float"),
    "arches": ("arches", "list"),
    "keep-workdirs": ("keep_workdirs", "boolean"),
    "keep_workdirs": ("keep_workdirs", "boolean"),
}

#: kojid 1.36's other options: accepted (a kojid.conf loads) and ignored, with a log line
KOJID_IGNORED = frozenset("""
buildroot_basic_cleanup_delay buildroot_final_cleanup_delay literal_task_arches minspace
admin_emails chroot_tmpdir mockdir mockuser packager vendor distribution
mockhost smtphost smtp_user smtp_pass from_addr krb_principal host_principal_format keytab ccache
user password retry_interval max_retries offline_retry offline_retry_interval log_timestamps
timeout no_ssl_verify use_fast_upload use_createrepo_c createrepo_skip_stat createrepo_update
distrepo_skip_stat copy_old_repodata mock_bootstrap_image pkgurl allowed_scms_use_config
allowed_scms_use_policy scm_credentials_dir support_rpm_source_layout yum_proxy
maven_repo_ignore failed_buildroot_lifetime rpmbuild_timeout oz_install_timeout xz_options
task_avail_delay allow_noverifyssl allow_password_in_scm_url
""".split())


def _line_of(text, option=None, section=None):
    """Line number of ``option = ...`` (or of ``[section]``) in ``text``; 0 if not found."""
    if section is not None:
        pattern = r"^[ \t]*\[%s\]" % re.escape(section)
    else:
        pattern = r"^[ \t]*%s[ \t]*[=:]" % re.escape(option)
    m = re.compile(pattern, re.IGNORECASE | re.MULTILINE).search(text)
    return text.count("\n", 0, m.start()) + 1 if m else 0


def parse_allowed_scms(value):
    """kojid's allowed_scms: ``[(allow, host_glob, repository_glob)]``."""
    rules = []
    for item in value.split():
        allow = not item.startswith("!")
        item = item.lstrip("!")
        host, _, rest = item.partition(":")
        repository = rest.split(":", 1)[0] if rest else "*"
        if not host:
            raise ValueError("%r: expected host:repository" % item)
        rules.append((allow, host, repository or "*"))
    return rules


def scm_allowed(rules, url):
    """True if the first rule matching the URL's host and repository allows it (kojid's
    order: first match wins); False when none matches."""
    parts = urllib.parse.urlsplit(url)
    host, repository = parts.hostname or "", parts.path
    for allow, host_glob, repo_glob in rules:
        if fnmatch.fnmatchcase(host, host_glob) and fnmatch.fnmatchcase(repository, repo_glob):
            return allow
    return False


def _convert(kind, raw):
    raw = raw.strip()
    if kind in ("integer", "float"):
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise ValueError("expected %s, got %r" % ("an integer" if kind == "integer"
                                                     else "a number", raw)) from None
    if kind == "boolean":
        low = raw.lower()
        if low in ("1", "yes", "true", "on"):
            return True
        if low in ("0", "no", "false", "off"):
            return False
        raise ValueError("expected a boolean (yes/no, true/false, 1/0), got %r" % raw)
    if kind == "list":
        return raw.replace(",", " ").split()
    if kind == "scms":
        parse_allowed_scms(raw)
        return raw
    return raw


def read_builder_conf(path):
    """``({argparse dest: value}, [kojid options ignored])`` from ``path``; ConfigError naming
    file, line and option."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError("%s: cannot read the builder config: %s" % (path, exc.strerror))
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConfigError("%s: not an INI file: %s" % (path, str(exc).splitlines()[0]))
    for section in parser.sections():
        if section != SECTION:
            raise ConfigError("%s:%d: unknown section [%s]; the builder reads [%s] (as kojid)"
                              % (path, _line_of(text, section=section), section, SECTION))
    if not parser.has_section(SECTION):
        raise ConfigError("%s: no [%s] section (the builder's settings go there, as in "
                          "kojid.conf)" % (path, SECTION))
    values, ignored = {}, []
    for option, raw in parser.items(SECTION):
        where = "%s:%d: [%s] %s" % (path, _line_of(text, option), SECTION, option)
        if option in KOJID_IGNORED:
            ignored.append(option)
            continue
        if option not in MAPPED:
            known = ", ".join(sorted(MAPPED))
            raise ConfigError("%s: unknown option (this builder reads: %s; kojid's other "
                              "options are accepted and ignored)" % (where, known))
        dest, kind = MAPPED[option]
        try:
            values[dest] = _convert(kind, raw)
        except ValueError as exc:
            raise ConfigError("%s: %s" % (where, exc)) from None
    return values, ignored
