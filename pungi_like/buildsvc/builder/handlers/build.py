"""Package build tasks: ``build`` (parent), ``buildSRPMFromSCM``, ``buildArch``; and the helpers
the other task handlers share (waiting for the build tag's repo, SCM checkouts, uploads).

A ``build`` task, as Koji's kojid runs it:

1. the target's build tag repo (``repo_id`` option, else the current READY repo, else a repo
   request the parent waits for);
2. the SRPM: the uploaded one (``work/<src>``), or a ``buildSRPMFromSCM`` child that checks out
   ``git+...?path#rev`` and runs ``rpmbuild -bs`` on the spec in ``path``;
3. non-scratch: the package must be listed (and not blocked) in the destination tag;
   ``host.initBuild`` reserves the NVR;
4. one ``buildArch`` child per arch (the build tag's arches, narrowed by ExclusiveArch /
   ExcludeArch; a noarch package builds once, as ``noarch``);
5. ``host.completeBuild`` imports the SRPM, RPMs and logs (or ``host.moveBuildToScratch``); on
   any failure ``host.failBuild``;
6. unless scratch or ``skip_tag``: ``tagBuild`` into the destination tag.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import urllib.parse

import koji

from ....errors import PungiLikeError
from . import handler

REPO_WAIT = 1800          # seconds a task waits for its build tag's repo
REPO_POLL = 1.0


# ---------------------------------------------------------------------------------------------
# shared helpers


def fail(exc_or_msg, cls=koji.BuildError):
    """A Koji fault class for a work function's error (the task's fault says what happened)."""
    return cls(str(exc_or_msg))


def get_repo(ctx, tag, repo_id=None, timeout=REPO_WAIT):
    """repoinfo of ``repo_id`` (must be READY/EXPIRED), or the build tag's current repo, asking
    for one (repo.request) and waiting while there is none."""
    session = ctx.session
    if repo_id is not None:
        info = session.repoInfo(repo_id, strict=True)
        if koji.REPO_STATES[info["state"]] not in ("READY", "EXPIRED"):
            raise koji.BuildError("Bad repo: %s (%s)" % (info["id"],
                                                          koji.REPO_STATES[info["state"]]))
        return info
    info = session.getRepo(tag)
    if info:
        return info
    request = session.repo.request(tag)
    if request.get("repo"):
        return request["repo"]
    req_id = request["request"]["id"]
    ctx.log.info("waiting for a repo of tag %s (request %s)", tag, req_id)
    deadline = time.time() + timeout
    while time.time() < deadline:
        check = session.repo.checkRequest(req_id)
        if check.get("repo"):
            return check["repo"]
        if not check["request"].get("active", True):
            raise koji.BuildError("repo request %s for tag %s ended without a repo"
                                  % (req_id, tag))
        time.sleep(REPO_POLL)
    raise koji.BuildError("no repo for tag %s after %d s" % (tag, timeout))


def tag_arches(ctx, build_tag):
    config = ctx.session.getBuildConfig(build_tag)
    arches = [koji.canonArch(a) for a in (config.get("arches") or "").split()]
    if not arches:
        raise koji.BuildError("No arches for tag %(name)s [%(id)s]" % config)
    return list(dict.fromkeys(arches))


def work_path(ctx, relpath):
    """Local path of a ``work/``-relative file (an upload, another task's output)."""
    norm = os.path.normpath(relpath)
    if os.path.isabs(relpath) or norm.startswith(".."):
        raise koji.GenericError("invalid work path: %r" % relpath)
    return ctx.hub_file(os.path.join("work", norm))


def task_relpath(ctx, name):
    """``work/``-relative path of a file uploaded into this task's output directory."""
    return "%s/%s" % (ctx.upload_path, name)


def upload_all(ctx, paths):
    """Upload files to the task output; returns their base names (in order, no duplicates)."""
    names = []
    for path in paths:
        name = os.path.basename(path)
        if name in names:
            continue
        ctx.upload(path, name)
        names.append(name)
    return names


def parse_scm(url):
    if not url.startswith(("git://", "git+")) or "#" not in url:
        raise koji.BuildError("Invalid SCM URL: %s (expected git+<scheme>://host/repo?path#rev)"
                              % url)
    parts = urllib.parse.urlsplit(url)
    transport = parts.scheme.split("+", 1)[1] if "+" in parts.scheme else "git"
    clone = urllib.parse.urlunsplit((transport, parts.netloc, parts.path, "", ""))
    return clone, parts.query.strip("/"), parts.fragment


def checkout_scm(ctx, url, dest):
    """Clone ``url``'s repository into ``dest`` at its revision; returns (the directory of its
    ``?path`` module, the commit id)."""
    clone, module, rev = parse_scm(url)
    if getattr(ctx, "allowed_scms", None) is not None:
        from ..conf import scm_allowed

        if not scm_allowed(ctx.allowed_scms, url):
            raise koji.BuildError("SCM %s is not allowed by this builder's allowed_scms" % url)
    log_path = os.path.join(ctx.workdir, "checkout.log")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:
        for cmd in (["git", "clone", "--quiet", "--no-checkout", clone, dest],
                    ["git", "-C", dest, "checkout", "--quiet", rev],
                    ["git", "-C", dest, "rev-parse", "HEAD"]):
            log.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
            log.write(proc.stdout + proc.stderr)
            if proc.returncode:
                raise koji.BuildError("SCM checkout of %s failed: %s: %s"
                                      % (url, " ".join(cmd[:2] + cmd[3:4]),
                                         proc.stderr.strip()))
    commit = proc.stdout.strip()
    moddir = os.path.normpath(os.path.join(dest, module))
    if not moddir.startswith(os.path.normpath(dest)) or not os.path.isdir(moddir):
        raise koji.BuildError("SCM %s: no directory %r at %s" % (url, module, rev))
    return moddir, commit


def run_tag_build(ctx, dest_tag, build_id):
    """Tag the build into the destination tag: a ``tagBuild`` child as kojid makes one."""
    child = ctx.subtask("tagBuild", [dest_tag, build_id, False, None, True], label="tag",
                        arch="noarch")
    ctx.wait([child])


@handler("tagBuild", weight=0.1, channel="default")
def tagBuild(ctx, tag_id, build_id, force=False, fromtag=None, ignore_success=False):
    """Tag a build (kojid's TagBuildTask, without notifications)."""
    ctx.session.getBuild(build_id, strict=True)
    ctx.session.getTag(tag_id, strict=True)
    ctx.session.host.tagBuild(ctx.task_id, tag_id, build_id, force=force, fromtag=fromtag)


# ---------------------------------------------------------------------------------------------
# build


def _srpm_arches(path):
    """BuildArch of the package (noarch packages say so in the SRPM's BUILDARCHS)."""
    proc = subprocess.run(["rpm", "-qp", "--nosignature", "--nodigest", "--qf",
                           "[%{BUILDARCHS} ]", path], capture_output=True, text=True)
    return proc.stdout.split()


def build_arch_list(ctx, build_tag, srpm_path, info):
    arches = tag_arches(ctx, build_tag)
    if "noarch" in _srpm_arches(srpm_path):
        return ["noarch"]
    if info["exclusivearch"]:
        arches = [a for a in arches if a in info["exclusivearch"]]
    arches = [a for a in arches if a not in info["excludearch"]]
    if not arches:
        raise koji.BuildError("No matching arches were found (tag arches %s, ExclusiveArch %s,"
                              " ExcludeArch %s)" % (" ".join(tag_arches(ctx, build_tag)),
                                                    " ".join(info["exclusivearch"]) or "-",
                                                    " ".join(info["excludearch"]) or "-"))
    return arches


@handler("build", weight=0.2, channel="default")
def build(ctx, src, target, opts=None):
    """The parent of a package build (see the module docstring)."""
    from ..buildarch import BuildError, srpm_info

    opts = opts or {}
    session = ctx.session
    repo_info = get_repo(ctx, None, opts["repo_id"]) if opts.get("repo_id") is not None else None
    target_info = session.getBuildTarget(target) if target else None
    if target_info:
        dest_tag, build_tag = target_info["dest_tag"], target_info["build_tag"]
        if repo_info and repo_info["tag_id"] != build_tag:
            raise koji.BuildError("Repo/Target mismatch: %s/%s"
                                  % (repo_info["tag_name"], target_info["build_tag_name"]))
    elif repo_info:
        build_tag = repo_info["tag_id"]
        dest_tag = session.getTag(target, strict=True)["id"] if target else build_tag
        if target is None:
            opts["skip_tag"] = True
    else:
        raise koji.GenericError("unknown build target: %s" % target)
    if repo_info is None:
        repo_info = get_repo(ctx, build_tag)
    scratch = bool(opts.get("scratch"))
    source = None
    if src.startswith(("git://", "git+")):
        child = ctx.subtask("buildSRPMFromSCM", [src, build_tag, {"repo_id": repo_info["id"],
                                                               "scratch": scratch}],
                            label="srpm", arch="noarch")
        result = ctx.wait([child])[child]
        srpm_rel, source = result["srpm"], result.get("source")
    else:
        srpm_rel = src
    srpm_path = work_path(ctx, srpm_rel)
    try:
        info = srpm_info(srpm_path)
    except (BuildError, PungiLikeError) as exc:
        raise fail(exc) from exc
    if not scratch and not opts.get("skip_tag"):
        pkg_cfg = session.getPackageConfig(dest_tag, info["name"])
        dest_name = target_info["dest_tag_name"] if target_info else dest_tag
        if pkg_cfg is None:
            raise koji.BuildError("package %s not in list for tag %s" % (info["name"], dest_name))
        if pkg_cfg.get("blocked"):
            raise koji.BuildError("package %s is blocked for tag %s" % (info["name"], dest_name))
    arches = build_arch_list(ctx, build_tag, srpm_path, info)
    build_id = None
    if not scratch:
        data = {k: info[k] for k in ("name", "version", "release", "epoch")}
        data["task_id"] = ctx.task_id
        if source:
            data["source"] = source.get("source")
        if opts.get("draft"):       # kojid passes the draft option in
            data["draft"] = True
        build_id = session.host.initBuild(data)
    try:
        children = {}
        for i, arch in enumerate(arches):
            children[arch] = ctx.subtask(
                "buildArch", [srpm_rel, build_tag, arch, i == 0, {"repo_id": repo_info["id"]}],
                label=arch, arch=arch)
        # kojid's failany: the first failed buildArch cancels its siblings and fails the build
        # at once, rather than waiting for arches that may never run
        results = ctx.wait(list(children.values()), failany=True)
        srpm_out, rpms, logs, brmap = None, [], {}, {}
        for arch, child in children.items():
            res = results[child]
            rpms.extend(res["rpms"])
            logs[arch] = res["logs"]
            brmap.update(dict.fromkeys(res["rpms"], res.get("brootid")))
            if res.get("srpms"):
                srpm_out = res["srpms"][0]
                brmap[srpm_out] = res.get("brootid")
        if scratch:
            session.host.moveBuildToScratch(ctx.task_id, srpm_out, rpms, logs)
        else:
            session.host.completeBuild(ctx.task_id, build_id, srpm_out, rpms, brmap, logs)
    except Exception:
        if build_id is not None:
            session.host.failBuild(ctx.task_id, build_id)
        raise
    if not scratch and not opts.get("skip_tag"):
        run_tag_build(ctx, dest_tag, build_id)
    return None


@handler("buildArch", weight=1.5, channel="default")
def buildArch(ctx, pkg, root, arch, keep_srpm, opts=None):
    """Binary RPMs of ``pkg`` (a ``work/``-relative SRPM) for ``arch`` in a buildroot made from
    the build tag's repo; returns {srpms, rpms, logs, brootid} (paths relative to ``work/``)."""
    from ..buildarch import BuildError, build_arch

    opts = opts or {}
    session = ctx.session
    repo_info = get_repo(ctx, root, opts.get("repo_id"))
    build_for = arch if arch != "noarch" else tag_arches(ctx, root)[0]
    repo_dir = ctx.local_repo(repo_info["id"], build_for)
    srpm_path = work_path(ctx, pkg)
    # the buildroot as kojid records it: INIT when made, WAITING while it is set up, BUILDING
    # with its installed RPMs listed, EXPIRED when the task is done with it
    brootid = session.host.newBuildRoot(repo_info["id"], build_for, task_id=ctx.task_id)
    session.host.setBuildRootState(brootid, "WAITING", task_id=ctx.task_id)

    def record_buildroot(installed):
        session.host.updateBuildRootList(brootid, buildroot_listing(installed),
                                         task_id=ctx.task_id)
        session.host.setBuildRootState(brootid, "BUILDING", task_id=ctx.task_id)

    try:
        result = build_arch(srpm_path, [repo_dir], arch=build_for,
                            workdir=os.path.join(ctx.workdir, "buildarch"),
                            on_buildroot=record_buildroot)
    except BuildError as exc:
        upload_all(ctx, [p for p in _logs(ctx, "buildarch") if os.path.exists(p)])
        raise fail(exc) from exc
    finally:
        session.host.setBuildRootState(brootid, "EXPIRED", task_id=ctx.task_id)
    rpm_names = upload_all(ctx, result["rpms"])
    log_names = upload_all(ctx, result["logs"])
    srpms = []
    if keep_srpm:
        srpms = upload_all(ctx, [srpm_path])
    return {"srpms": [task_relpath(ctx, n) for n in srpms],
            "rpms": [task_relpath(ctx, n) for n in rpm_names],
            "logs": [task_relpath(ctx, n) for n in log_names],
            "brootid": brootid, "buildroot": result["buildroot"]}


def buildroot_listing(installed):
    """host.updateBuildRootList entries (name, version, release, epoch, arch) of the
    ``name-epoch:version-release.arch`` strings rpm reported installed in a buildroot."""
    out = []
    for nevra in installed:
        rest, _, arch = nevra.rpartition(".")
        name, evr = rest.rsplit("-", 2)[0], rest.rsplit("-", 2)[1:]
        epoch, _, version = evr[0].partition(":")
        out.append({"name": name, "version": version, "release": evr[1], "arch": arch,
                    "epoch": int(epoch) if epoch not in ("", "0") else None})
    return out


def _logs(ctx, sub):
    d = os.path.join(ctx.workdir, sub, "logs")
    return sorted(os.path.join(d, f) for f in os.listdir(d)) if os.path.isdir(d) else []


@handler("buildSRPMFromSCM", weight=1.0, channel="default")
def buildSRPMFromSCM(ctx, url, build_tag, opts=None):
    """Check out ``url`` and make the SRPM of the spec in its ``?path`` (host ``rpmbuild -bs``).
    Returns {srpm, logs, brootid, source}."""
    moddir, commit = checkout_scm(ctx, url, os.path.join(ctx.workdir, "scm"))
    specs = sorted(f for f in os.listdir(moddir) if f.endswith(".spec"))
    if len(specs) != 1:
        raise koji.BuildError("SCM %s: expected one .spec file in %s, found %s"
                              % (url, os.path.basename(moddir) or "/", specs or "none"))
    out = os.path.join(ctx.workdir, "srpm")
    log_path = os.path.join(ctx.workdir, "srpm.log")
    cmd = ["rpmbuild", "-bs", "--nodeps", "--define", "_sourcedir " + moddir,
           "--define", "_srcrpmdir " + out, "--define", "_topdir " + os.path.join(ctx.workdir,
                                                                                 "rpmbuild"),
           os.path.join(moddir, specs[0])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ %s\n%s%s" % (" ".join(shlex.quote(c) for c in cmd), proc.stdout,
                                  proc.stderr))
    if proc.returncode:
        upload_all(ctx, [log_path])
        raise koji.BuildError("rpmbuild -bs %s failed: %s" % (specs[0],
                                                             proc.stderr.strip()[-500:]))
    srpms = sorted(f for f in os.listdir(out) if f.endswith(".src.rpm"))
    names = upload_all(ctx, [os.path.join(out, srpms[0]),
                             os.path.join(ctx.workdir, "checkout.log"), log_path])
    source = url.split("#", 1)[0] + "#" + commit
    return {"srpm": task_relpath(ctx, names[0]),
            "logs": [task_relpath(ctx, n) for n in names[1:]], "brootid": None,
            "source": {"source": source, "url": url}}


# ---------------------------------------------------------------------------------------------
# chain builds


@handler("waitrepo", weight=0.2, channel="default")
def waitrepo(ctx, tag, newer_than=None, nvrs=None, min_event=None):
    """Wait for a repo of ``tag`` that is new enough and holds ``nvrs`` (koji.tasks'
    WaitrepoTask, on koji's own RepoWatcher); returns the repo info."""
    import koji.util

    if newer_than is not None:
        if min_event is not None:
            raise koji.GenericError("newer_than and min_event args confict")
        if isinstance(newer_than, str) and newer_than.lower() == "now":
            min_event = "last"
        elif isinstance(newer_than, (int, float)) and not isinstance(newer_than, bool):
            base = ctx.session.getLastEvent(before=newer_than, strict=False)
            min_event = ctx.session.tagFirstChangeEvent(tag, after=base) or "last"
        else:
            raise koji.GenericError("Invalid value for newer_than: %s" % newer_than)
    watcher = koji.util.RepoWatcher(ctx.session, tag, nvrs=nvrs, min_event=min_event,
                                    logger=ctx.log)
    watcher.PAUSE = REPO_POLL
    watcher.TIMEOUT = REPO_WAIT / 60.0
    return watcher.waitrepo()


@handler("chainbuild", weight=0.1, channel="default")
def chainbuild(ctx, srcs, target, opts=None):
    """Builds in levels (kojid's ChainBuildTask): each level's SCM URLs become ``build``
    children that run side by side; its N-V-Rs are builds to wait for. Before a level starts,
    a ``waitrepo`` child waits until the build tag's repo holds every build of the levels
    before it. Any failure fails the chain at once (the other children are canceled)."""
    opts = dict(opts or {})
    if opts.get("scratch"):
        raise koji.BuildError("--scratch is not allowed with chain-builds")
    target_info = ctx.session.getBuildTarget(target)
    if not target_info:
        raise koji.GenericError("unknown build target: %s" % target)
    nvrs = []
    for n_level, level in enumerate(srcs):
        if nvrs:
            wait_id = ctx.subtask("waitrepo", [target_info["build_tag_name"], None, nvrs],
                                  label="wait %i" % n_level, arch="noarch")
            ctx.wait([wait_id], failany=True)
        nvrs = []
        build_tasks = []
        for n_src, src in enumerate(level):
            if src.startswith(("git://", "git+")):
                build_tasks.append(ctx.subtask("build", [src, target, opts],
                                               label="build %i,%i" % (n_level, n_src),
                                               arch="noarch"))
            else:
                nvrs.append(src)
        if build_tasks:
            ctx.wait(build_tasks, failany=True)
        for task_id in build_tasks:
            builds = ctx.session.listBuilds(taskID=task_id)
            if builds:
                nvrs.append(builds[0]["nvr"])
    return None
