"""``runroot``: a command run in a root populated from a tag's repo (Koji's runroot plugin).

Request: ``runroot(tagInfo, arch, command, packages=[...], mounts=[...], repo_id=None,
skip_setarch=False, weight=None, upload_logs=[...], new_chroot=None, keep=False)``, created by
the hub's ``runroot`` call (permission ``runroot``, channel ``runroot`` unless asked otherwise).

The root gets the repo's ``runroot`` group (from its comps, when it has one) plus ``packages``
and their dependencies; the command runs through ``/bin/sh -c`` (a list is shell-quoted first,
as the plugin does) inside the bubblewrap root sandbox (builder/sandbox.py: no network, own
PID/IPC/UTS namespaces). ``mounts`` are host directories bound read-write at the same path
inside the root; only directories below the hub's top directory or the task's own work
directory are accepted (Koji checks them against the builder's runroot.conf; we have no such
file). ``runroot.log`` (the command's output) and ``root.log`` are uploaded, plus every file
matching ``upload_logs`` inside the root. A non-zero exit fails the task with the exit code and
the end of the output; success gives ``"<command> completed successfully"``.
"""

from __future__ import annotations

import os
import shlex

import koji

from ....errors import PungiLikeError
from . import handler
from .build import get_repo, upload_all


def _weight(_handler, tagInfo, arch, command, weight=None, **_opts):
    return max(float(weight), 0.5) if weight else 2.0


def _group_packages(repo_dir, group="runroot"):
    from ..root import load_repo_comps, repo_dirs

    comps = load_repo_comps(repo_dirs([repo_dir]))
    if comps is None or group not in comps.group_ids():
        return []
    return comps.group_packages([group], include_optional=False, include_conditional=False)


def _check_mounts(ctx, mounts):
    allowed = [d for d in (ctx.topdir, ctx.workdir) if d]
    binds = {}
    for mount in mounts or ():
        path = mount if isinstance(mount, str) else mount.get("mountpoint") or mount.get("path")
        real = os.path.realpath(path)
        if not any(real == d or real.startswith(d.rstrip("/") + "/") for d in allowed):
            raise koji.GenericError("runroot: mount %s is not allowed (only directories below "
                                    "the top directory or the task's work directory)" % path)
        if not os.path.isdir(real):
            raise koji.GenericError("runroot: mount %s is not a directory" % path)
        binds[real] = path
    return binds


@handler("runroot", weight=_weight, channel="runroot")
def runroot(ctx, tagInfo, arch, command, keep=False, packages=None, mounts=None, repo_id=None,
            skip_setarch=False, weight=None, upload_logs=None, new_chroot=None):
    from ..runroot import run_in_root

    tag = ctx.session.getTag(tagInfo, strict=True)
    repo = get_repo(ctx, tag["id"], repo_id)
    if repo["tag_id"] != tag["id"]:
        raise koji.BuildError("repo %s is not a repo of tag %s" % (repo["id"], tag["name"]))
    if arch == "noarch":
        arch = ctx.arch if ctx.arch != "noarch" else koji.canonArch(os.uname().machine)
    repo_dir = ctx.local_repo(repo["id"], arch)
    cmd = command if isinstance(command, str) else " ".join(shlex.quote(c) for c in command)
    pkgs = list(dict.fromkeys(_group_packages(repo_dir) + list(packages or [])))
    binds = _check_mounts(ctx, mounts)
    outputs = [p for p in (upload_logs or []) if isinstance(p, str)]
    try:
        result = run_in_root([repo_dir], pkgs, cmd, arch=arch,
                             workdir=os.path.join(ctx.workdir, "runroot"), output_paths=outputs,
                             mounts=binds, keep_root=bool(keep))
    except PungiLikeError as exc:
        raise koji.BuildError(str(exc)) from exc
    upload_all(ctx, [result["log"], result["root_log"]] + result["outputs"])
    if result["exit_code"] != 0:
        tail = "\n".join((result["output"] or "").strip().splitlines()[-10:])
        raise koji.BuildError("error running %r (exit code %s); see runroot.log\n%s"
                              % (cmd, result["exit_code"], tail))
    return "%s completed successfully" % cmd
