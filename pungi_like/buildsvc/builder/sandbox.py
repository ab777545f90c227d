"""Running builder commands isolated with bubblewrap (``bwrap``).

Two shapes of sandbox are used:

* :func:`in_root` — a populated root directory *is* ``/`` (runroot commands, kickstart
  ``%post``).  The root is bound read-write; ``/dev`` is a fresh minimal devtmpfs-like tree made by
  bwrap (null, zero, full, random, urandom, tty, pts), ``/proc`` a new procfs of the new
  PID namespace; nothing else from the host is visible unless given in ``binds``.
* :func:`on_host` — the host's ``/`` read-only with selected directories writable (an rpmbuild
  run by the host's rpmbuild against a buildroot's rpm database).

In both: new network (only a down ``lo``: no route anywhere), PID, IPC and UTS namespaces
(``--unshare-net --unshare-pid --unshare-ipc --unshare-uts``, hostname ``builder``), a new
session (no terminal to inject input into), killed with its parent (``--die-with-parent``), an
environment cleared to a fixed PATH/HOME/LANG plus what the caller sets.  ``drop_caps=True`` adds
``--cap-drop ALL``: run as uid 0 but with no capability, so it cannot mount, chown others' files or
load modules.  What it is not: no user namespace (it is the real root when the builder runs as
root, and only ``drop_caps`` stops it from using root's powers), no seccomp filter, no cgroup
limits on CPU, memory or disk; it is isolation from mistakes and from the network, not a
security boundary against a hostile build running with capabilities.
"""

from __future__ import annotations

import os
import shutil

from ... import tools
from ...errors import ToolError

BWRAP = "bwrap"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ISOLATION_ARGS = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                  "--hostname", "builder", "--die-with-parent", "--new-session")


def _env_args(env):
    base = {"PATH": DEFAULT_PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
    base.update(env or {})
    args = ["--clearenv"]
    for key in sorted(base):
        args += ["--setenv", key, str(base[key])]
    return args


def _bind_args(binds, ro_binds):
    args = []
    for src, dest in sorted((ro_binds or {}).items(), key=lambda kv: kv[1]):
        args += ["--ro-bind", os.path.abspath(src), dest]
    for src, dest in sorted((binds or {}).items(), key=lambda kv: kv[1]):
        args += ["--bind", os.path.abspath(src), dest]
    return args


def in_root_cmd(root_dir, argv, *, binds=None, ro_binds=None, env=None, cwd="/", network=False,
                drop_caps=False):
    """The bwrap command line running ``argv`` with ``root_dir`` as ``/``."""
    cmd = [BWRAP, "--bind", os.path.abspath(root_dir), "/", "--dev", "/dev", "--proc", "/proc"]
    cmd += _bind_args(binds, ro_binds)
    cmd += [a for a in ISOLATION_ARGS if network is False or a != "--unshare-net"]
    if drop_caps:
        cmd += ["--cap-drop", "ALL"]
    cmd += _env_args(env) + ["--chdir", cwd, "--"] + list(argv)
    return cmd


def on_host_cmd(argv, *, writable=(), binds=None, ro_binds=None, env=None, cwd=None,
                network=False, drop_caps=True):
    """The bwrap command line running ``argv`` on the host's ``/`` mounted read-only, with the
    directories in ``writable`` bound read-write at their own paths and private, empty
    ``/tmp`` and ``/var/tmp``."""
    cmd = [BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
           "--tmpfs", "/var/tmp"]
    for path in sorted(os.path.abspath(p) for p in writable):
        cmd += ["--bind", path, path]
    cmd += _bind_args(binds, ro_binds)
    cmd += [a for a in ISOLATION_ARGS if network is False or a != "--unshare-net"]
    if drop_caps:
        cmd += ["--cap-drop", "ALL"]
    cmd += _env_args(env) + ["--chdir", os.path.abspath(cwd or "/"), "--"] + list(argv)
    return cmd


def check_available():
    if shutil.which(BWRAP) is None:
        raise ToolError("bwrap (bubblewrap) is not installed; run .ci/setup", cmd=[BWRAP])


def run_in_root(root_dir, argv, *, log_path=None, timeout=None, check=True, **kw):
    """Run ``argv`` in ``root_dir`` (see :func:`in_root_cmd`); output goes to ``log_path``."""
    check_available()
    return tools.run(in_root_cmd(root_dir, argv, **kw), log_path=log_path, timeout=timeout,
                     check=check)


def run_on_host(argv, *, log_path=None, timeout=None, check=True, **kw):
    """Run ``argv`` on the read-only host (see :func:`on_host_cmd`)."""
    check_available()
    return tools.run(on_host_cmd(argv, **kw), log_path=log_path, timeout=timeout, check=check)
