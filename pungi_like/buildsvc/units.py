"""``pungi-like-hub install-units``: the systemd units and the logrotate snippet, filled in.

The templates live in ``share/systemd/`` and ``share/logrotate/`` with ``@NAME@`` placeholders
(``BINDIR``, ``CONFDIR``, ``TOPDIR``, ``LOGDIR``, ``USER``, ``GROUP``). Every value must be an
absolute path or a plain name: a unit file is no place for spaces or shell syntax.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig

from ..errors import PungiLikeError
from ..fileutil import write_atomic
from ..resources import share_path

UNITS = ("pungi-like-hub.service", "pungi-like-builder.service")
LOGROTATE = "pungi-like"

_PLACEHOLDER = re.compile(r"@([A-Z]+)@")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def default_bindir():
    """Where this installation's commands are (the venv's or the system's scripts dir)."""
    here = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
    if here and os.path.exists(os.path.join(here, "pungi-like-hub")):
        return here
    return sysconfig.get_paths()["scripts"]


def render(template_text, values):
    def sub(m):
        if m.group(1) not in values:
            raise PungiLikeError("template placeholder @%s@ has no value" % m.group(1))
        return values[m.group(1)]

    return _PLACEHOLDER.sub(sub, template_text)


def check_values(values):
    for key, value in values.items():
        if key in ("USER", "GROUP"):
            if not _SAFE_NAME.match(value):
                raise PungiLikeError("--%s %r is not a valid user or group name"
                                     % (key.lower(), value))
        elif not _SAFE_PATH.match(value) or "/../" in value + "/":
            raise PungiLikeError("--%s %r must be an absolute path of plain characters "
                                 "(no spaces, quotes or ..)" % (key.lower(), value))


def install_units(dest, logrotate_dest, *, bindir, confdir, topdir, logdir, user, group):
    """Write the units into ``dest`` and the logrotate snippet into ``logrotate_dest``;
    returns the paths written."""
    values = {"BINDIR": os.path.abspath(bindir).rstrip("/") or "/",
              "CONFDIR": confdir.rstrip("/"), "TOPDIR": topdir.rstrip("/"),
              "LOGDIR": logdir.rstrip("/"), "USER": user, "GROUP": group}
    check_values(values)
    written = []
    for name in UNITS:
        with open(share_path("systemd", name), encoding="utf-8") as fh:
            text = render(fh.read(), values)
        path = os.path.join(dest, name)
        os.makedirs(dest, exist_ok=True)
        write_atomic(path, text)
        written.append(path)
    if logrotate_dest:
        with open(share_path("logrotate", LOGROTATE), encoding="utf-8") as fh:
            text = render(fh.read(), values)
        os.makedirs(logrotate_dest, exist_ok=True)
        path = os.path.join(logrotate_dest, LOGROTATE)
        write_atomic(path, text)
        written.append(path)
    return written


def exec_start(unit_path):
    """The ExecStart command line of a unit file (as written)."""
    with open(unit_path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("ExecStart="):
                return line[len("ExecStart="):].strip()
    raise PungiLikeError("%s has no ExecStart line" % unit_path)
