"""The work of a ``runroot`` task: a command run in a root populated from a repo.

The root gets the requested packages and their dependencies (libsolv against the task's repos,
installed with rpm), then the command runs with that root as ``/`` inside bubblewrap (see
:mod:`pungi_like.buildsvc.builder.sandbox` for exactly what is isolated: no network, own PID/IPC/
UTS namespaces, fresh /dev and /proc, nothing of the host's filesystem but the ``mounts`` asked
for).  The command is a shell string (run with ``/bin/sh -c``, as Koji's runroot does) or an
argv list.  Its output goes to ``runroot.log``; the files the caller names are copied out.
"""

from __future__ import annotations

import glob
import os
import shutil
import time

from ...errors import PungiLikeError
from ...rpmtools.rootinstall import install_root, resolve_packages
from . import sandbox
from .root import installed_rpms, repo_dirs


class RunrootError(PungiLikeError):
    pass


def run_in_root(repos, packages, command, *, arch, workdir, output_paths=(), mounts=None,
                network=False, drop_caps=False, timeout=None, env=None, keep_root=False):
    """Install ``packages`` from ``repos`` into ``<workdir>/root`` and run ``command`` there.

    ``output_paths``: paths (globs allowed) inside the root whose files are copied to
    ``<workdir>/output/`` after the command, keeping their path below the root.  ``mounts``:
    {host directory: path in the root} bound read-write.  Returns {"exit_code", "log",
    "outputs" (copied files), "rpms", "seconds", "command"}.  A non-zero exit is reported, not
    raised (the task decides); a root that cannot be populated raises.
    """
    workdir = os.path.abspath(workdir)
    root_dir = os.path.join(workdir, "root")
    out_dir = os.path.join(workdir, "output")
    log_dir = os.path.join(workdir, "logs")
    if os.path.exists(root_dir):
        shutil.rmtree(root_dir)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(log_dir, exist_ok=True)
    root_log = os.path.join(log_dir, "root.log")
    log_path = os.path.join(log_dir, "runroot.log")
    seconds = {}
    t0 = time.monotonic()
    names = list(packages) or ["/bin/sh"]
    try:
        paths = resolve_packages(repo_dirs(repos), names, arch=arch)
    except PungiLikeError as exc:
        raise RunrootError(f"runroot: cannot populate the root: {exc}") from exc
    install_root(root_dir, paths, log_path=root_log)
    seconds["install"] = round(time.monotonic() - t0, 2)
    for dest in (mounts or {}).values():
        os.makedirs(os.path.join(root_dir, dest.lstrip("/")), exist_ok=True)
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    t0 = time.monotonic()
    proc = sandbox.run_in_root(root_dir, argv, binds=mounts, log_path=log_path, check=False,
                               network=network, drop_caps=drop_caps, timeout=timeout, env=env)
    seconds["command"] = round(time.monotonic() - t0, 2)
    outputs = []
    for pattern in output_paths:
        for src in sorted(glob.glob(os.path.join(root_dir, pattern.lstrip("/")))):
            rel = os.path.relpath(src, root_dir)
            if rel.startswith(".."):
                continue
            dest = os.path.join(out_dir, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dest)
            outputs.append(dest)
    rpms = installed_rpms(root_dir)
    if not keep_root:
        shutil.rmtree(root_dir)
    return {"exit_code": proc.returncode, "log": log_path, "root_log": root_log,
            "output": proc.stdout, "outputs": outputs, "rpms": rpms, "seconds": seconds,
            "command": argv}
