"""Package builds and runroot: ``build`` and ``runroot`` tasks, the SCM allow-list, and the host
calls that import a package build (host.initBuild, completeBuild, failBuild,
moveBuildToScratch).

``build(src, target, opts)``: ``src`` is an uploaded SRPM (``cli-build/<t>.<rand>/x.src.rpm``,
relative to ``work/``) or an SCM URL ``git+<scheme>://<host>/<repo>?<path in repo>#<revision>``.
An SCM URL must match the hub's ``allowed_scms`` setting (``.hub/hub.json``; a list of
``"<host glob>:<repository path glob>"`` patterns, e.g. ``"pkgs.example.com:/rpms/*"``, or
``":/srv/git/*"`` for ``git+file://`` repositories, whose host is empty); then any logged-in
user may build from it. An SRPM build that is not scratch must pass the ``build_from_srpm``
policy and ``repo_id`` the ``build_from_repo_id`` policy (Koji's defaults: admin only; see
policy.py).
"""

from __future__ import annotations

import fnmatch
import os
import time
import urllib.parse

import koji
from sqlalchemy import insert, select, update

from ..db import schema as s
from ..pathinfo import component, safe_join
from .builds import get_build_row
from .common import as_int, assert_login, assert_perm, get_tag_row, lookup
from .context import context
from .images import host_task, reserve_build, user_priority
from .names import verify_filename
from .registry import METHODS, export, read_only
from .tasks import make_task

SCM_SCHEMES = ("git://", "git+http://", "git+https://", "git+rsync://", "git+ssh://",
               "git+file://")


def export_unless_defined(name, write=True):
    """Register a method only if another module has not (the host API module may own it)."""

    def wrap(func):
        if name not in METHODS:
            export(func, name=name, write=write)
        return func

    return wrap


# ---------------------------------------------------------------------------------------------
# SCM URLs


def is_scm_url(url):
    return isinstance(url, str) and url.startswith(SCM_SCHEMES)


def parse_scm_url(url):
    """{scheme, host, repository, module, revision, clone_url} of ``git+...?path#rev``."""
    if not is_scm_url(url):
        raise koji.GenericError("Invalid SCM URL: %s (expected git+<scheme>://host/repo"
                                "?path#revision)" % url)
    parts = urllib.parse.urlsplit(url)
    if not parts.fragment:
        raise koji.GenericError("Invalid SCM URL: %s: no revision (#<commit or ref>)" % url)
    scheme = parts.scheme
    transport = scheme.split("+", 1)[1] if "+" in scheme else "git"
    host = parts.hostname or ""
    clone = urllib.parse.urlunsplit((transport, parts.netloc, parts.path, "", ""))
    return {"scheme": scheme, "host": host, "repository": parts.path,
            "module": parts.query.strip("/"), "revision": parts.fragment, "clone_url": clone}


def allowed_scms():
    return list(getattr(context.hub.config, "allowed_scms", None) or [])


def scm_allowed(url):
    """True if the URL's host and repository match one of the hub's ``allowed_scms``."""
    info = parse_scm_url(url)
    for pattern in allowed_scms():
        host_glob, _, path_glob = pattern.partition(":")
        if fnmatch.fnmatchcase(info["host"], host_glob or "") and \
                fnmatch.fnmatchcase(info["repository"], path_glob or "*"):
            return True
    return False


def assert_scm_allowed(url):
    info = parse_scm_url(url)
    if not scm_allowed(url):
        raise koji.ActionNotAllowed(
            "SCM %s:%s is not allowed: add a matching \"host:path\" pattern to allowed_scms in "
            "the hub's .hub/hub.json (now: %s)"
            % (info["host"], info["repository"], ", ".join(allowed_scms()) or "empty"))
    return info


# ---------------------------------------------------------------------------------------------
# task creation


@export
def build(src, target, opts=None, priority=None, channel=None):
    """A ``build`` task for an uploaded SRPM or an SCM URL; returns its id.

    The policies kojid asks the hub about are checked here, before the task exists, with the
    data kojid gives them: ``build_from_srpm`` (an SRPM, not scratch), ``build_from_repo_id``
    (``repo_id`` given), ``build_rpm`` (every build), and ``build_from_scm`` for SCM URLs when
    ``allowed_scms_use_policy`` is on (after the ``allowed_scms`` patterns)."""
    from .policy import assert_policy

    assert_login()
    if not isinstance(src, str):
        raise koji.ParameterError("Invalid type for src: %s" % type(src))
    opts = opts or {}
    if not isinstance(opts, dict):
        raise koji.ParameterError("Invalid type for opts: %s" % type(opts))
    data = _build_policy_data(src, target, opts)
    if is_scm_url(src):
        assert_scm_allowed(src)
        if getattr(context.hub.config, "allowed_scms_use_policy", False):
            assert_scm_policy(src, data)
    elif not opts.get("scratch"):
        assert_policy("build_from_srpm", data)
    if opts.get("repo_id") is not None:
        assert_policy("build_from_repo_id", data)
    assert_policy("build_rpm", data)
    return make_task("build", [src, target, opts], channel=channel,
                     priority=user_priority(priority))


def _build_policy_data(src, target, opts):
    """What kojid's BuildTask gives the build policies (no task_id yet: the hub asks first)."""
    from .targets import getBuildTarget

    data = {"user_id": context.user["id"], "source": src,
            "skip_tag": bool(opts.get("skip_tag")), "scratch": opts.get("scratch"),
            "draft": opts.get("draft"), "from_scm": is_scm_url(src),
            "repo_id": opts.get("repo_id")}
    info = getBuildTarget(target) if isinstance(target, (int, str)) else None
    if info:
        data["target"] = info["name"]
        data["build_tag"] = info["build_tag"]
        if not opts.get("skip_tag"):
            data["tag"] = info["dest_tag"]
    return data


#: koji.daemon.SCM's types by URL scheme, as the build_from_scm policy sees them (scm_type)
SCM_TYPES = {"git": "GIT", "git+http": "GIT+HTTP", "git+https": "GIT+HTTPS",
             "git+rsync": "GIT+RSYNC", "git+ssh": "GIT+SSH", "git+file": "GIT+FILE"}


def assert_scm_policy(url, extra):
    """The ``build_from_scm`` policy for an SCM URL: ``allow ...`` or ``deny [reason]``
    (koji.daemon.SCM.assert_allowed_by_policy's data and message)."""
    from .policy import eval_policy

    info = parse_scm_url(url)
    parts = urllib.parse.urlsplit(url)
    data = {"scm_url": url, "scm_scheme": parts.scheme + "://", "scm_user": parts.username,
            "scm_host": info["host"], "scm_repository": info["repository"],
            "scm_module": info["module"], "scm_revision": info["revision"],
            "scm_type": SCM_TYPES.get(parts.scheme, parts.scheme.upper())}
    data.update(extra)
    result = (eval_policy("build_from_scm", data) or "").split()
    if not (result and result[0].lower() in ("yes", "true", "allow", "allowed")):
        raise koji.BuildError("SCM: %s:%s is not allowed, reason: %s"
                              % (info["host"], info["repository"],
                                 " ".join(result[1:]) or None))


@export
def chainBuild(srcs, target, opts=None, priority=None, channel=None):
    """A ``chainbuild`` task: ``srcs`` is a list of levels, each a list of SCM URLs (built) or
    N-V-Rs (waited for); each level is built once the build tag's repo holds the builds of
    the levels before it. Every SCM URL passes the checks ``build`` makes for it (allowed_scms,
    build_from_scm when on, build_rpm) before the task exists."""
    from .policy import assert_policy

    assert_login()
    if not isinstance(srcs, (list, tuple)) or not all(
            isinstance(level, (list, tuple)) and all(isinstance(x, str) for x in level)
            for level in srcs):
        raise koji.ParameterError("Invalid type for srcs: a list of lists of strings expected")
    opts = opts or {}
    if not isinstance(opts, dict):
        raise koji.ParameterError("Invalid type for opts: %s" % type(opts))
    for level in srcs:
        for src in level:
            if not is_scm_url(src):
                continue
            data = _build_policy_data(src, target, opts)
            assert_scm_allowed(src)
            if getattr(context.hub.config, "allowed_scms_use_policy", False):
                assert_scm_policy(src, data)
            assert_policy("build_rpm", data)
    return make_task("chainbuild", [[list(level) for level in srcs], target, opts],
                     channel=channel, priority=user_priority(priority))


@export
def runroot(tagInfo, arch, command, channel=None, **opts):
    """A ``runroot`` task (permission ``runroot``); channel ``runroot`` unless given."""
    assert_perm("runroot")
    tag = get_tag_row(tagInfo, strict=True)
    task_arch = arch
    if arch == "noarch":
        from .tags import getBuildConfig

        arches = (getBuildConfig(tag["id"]).get("arches") or "").split()
        if not arches:
            raise koji.GenericError("tag %s has no arches" % tag["name"])
        task_arch = koji.canonArch(arches[0])
    kwargs = {k: v for k, v in opts.items() if k in (
        "packages", "mounts", "repo_id", "skip_setarch", "weight", "new_chroot",
        "upload_logs", "keep")}
    return make_task("runroot", [tagInfo, arch, command], kwargs, channel=channel or "runroot",
                     arch=task_arch, priority=15)


# ---------------------------------------------------------------------------------------------
# host calls: import of a package build


@export(name="host.initBuild")
def host_initBuild(data):
    """Reserve a BUILDING rpm build for ``data['task_id']``; returns the build id."""
    task = host_task(data["task_id"])
    if data.get("draft"):
        from .drafts import reserve_draft_build

        return reserve_draft_build(data["name"], data["version"], data["release"],
                                   data.get("epoch"), task, source=data.get("source"))["id"]
    build = reserve_build(data["name"], data["version"], data["release"], data.get("epoch"),
                          task, "rpm", source=data.get("source"))
    return build["id"]


def _work_path(relpath):
    try:
        return context.hub.pathinfo.upload_dir(relpath)
    except ValueError as exc:
        raise koji.GenericError(str(exc)) from None


def _import_rpm_file(path, build, expect_src, buildroot_id=None):
    from .rpms import getRPM, read_rpm

    data = read_rpm(path)
    basename = os.path.basename(path)
    if (data["arch"] == "src") != expect_src:
        raise koji.BuildError("%s: expected %s RPM" % (basename,
                                                      "a source" if expect_src else "a binary"))
    if data["arch"] == "src":
        nvr = data
    else:
        nvr = koji.parse_NVRA(data["sourcerpm"])
    from .drafts import target_release

    # a draft build's RPMs carry its target release (the build's without ",draft_<id>")
    if (nvr["name"], nvr["version"], nvr["release"]) != (build["name"], build["version"],
                                                          target_release(build)):
        raise koji.BuildError("%s does not belong to build %s" % (basename, build["nvr"]))
    expected = "%(name)s-%(version)s-%(release)s.%(arch)s.rpm" % data
    if basename != expected:
        raise koji.BuildError("bad filename: %s (expected %s)" % (basename, expected))
    if getRPM({k: data[k] for k in ("name", "version", "release", "arch")}):
        raise koji.BuildError("RPM already exists: %s" % basename)
    rpm_id = context.conn.execute(insert(s.rpminfo).values(
        build_id=build["id"], name=data["name"], version=data["version"],
        release=data["release"], epoch=data["epoch"], arch=data["arch"],
        draft=bool(build["draft"]), buildroot_id=buildroot_id,
        external_repo_id=0, payloadhash=data["payloadhash"], size=os.path.getsize(path),
        buildtime=data["buildtime"], metadata_only=False).returning(s.rpminfo.c.id)).scalar_one()
    import hashlib

    context.conn.execute(insert(s.rpmsigs).values(
        rpm_id=rpm_id, sigkey=data["sigkey"], sighash=hashlib.md5(data["sighdr"]).hexdigest()))
    pi = context.hub.pathinfo
    builddir = pi.build(build)
    rinfo = getRPM(rpm_id, strict=True)
    sigpath = os.path.join(builddir, pi.sighdr(rinfo, data["sigkey"]))
    os.makedirs(os.path.dirname(sigpath), exist_ok=True)
    with open(sigpath, "wb") as fh:
        fh.write(data["sighdr"])
    dest = os.path.join(builddir, pi.rpm(rinfo))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.exists(dest):
        raise koji.GenericError("Error importing RPM file. %s already exists." % dest)
    os.rename(path, dest)
    os.symlink(dest, path)
    return rinfo


def _checked_brmap(task, brmap):
    """``brmap`` ({work path: buildroot id}) with every buildroot checked to belong to
    ``task`` or one of its subtasks (a host names only buildroots its own task tree made)."""
    from .hostcheck import assert_task_or_subtask

    if brmap is None:
        return {}
    if not isinstance(brmap, dict):
        raise koji.ParameterError("Invalid type for brmap: %s" % type(brmap).__name__)
    out, seen = {}, {}
    for rel, brootid in brmap.items():
        if brootid is None:
            continue
        brootid = as_int(brootid, "buildroot id")
        if brootid not in seen:
            row = context.conn.execute(select(s.buildroot.c.task_id).where(
                s.buildroot.c.id == brootid)).first()
            if row is None or row[0] is None:
                raise koji.GenericError("No such buildroot: %d" % brootid)
            assert_task_or_subtask(task, row[0])
            seen[brootid] = True
        out[rel] = brootid
    return out


@export(name="host.completeBuild")
def host_completeBuild(task_id, build_id, srpm, rpms, brmap=None, logs=None):
    """Import the SRPM, the binary RPMs and the logs (paths relative to ``work/``) into a
    BUILDING build and set it COMPLETE; returns the build dict."""
    from .hostcheck import assert_build_of_task, task_tree_path

    task = host_task(task_id)
    build = get_build_row(as_int(build_id, "build_id"), strict=True)
    assert_build_of_task(build, task)
    if build["state"] != koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError("build %s is not BUILDING" % build["nvr"])
    if not isinstance(rpms, (list, tuple)) or not isinstance(logs or {}, dict):
        raise koji.ParameterError("completeBuild takes a list of rpms and a map of logs")
    # every file comes from this task's tree (its buildArch children), checked before any move
    for rel in [srpm] + list(rpms) + [p for ps in (logs or {}).values()
                                      for p in (ps if isinstance(ps, (list, tuple)) else [ps])]:
        task_tree_path(task, rel)
    brmap = _checked_brmap(task, brmap)
    _import_rpm_file(_work_path(srpm), build, expect_src=True, buildroot_id=brmap.get(srpm))
    for rel in rpms:
        _import_rpm_file(_work_path(rel), build, expect_src=False, buildroot_id=brmap.get(rel))
    for arch, paths in sorted((logs or {}).items()):
        for rel in paths:
            src = _work_path(rel)
            dest = context.hub.pathinfo.build_file(
                build, "data", "logs", component(arch, "arch"),
                verify_filename(os.path.basename(rel), "log file name"))
            if os.path.isfile(src) and not os.path.islink(src) and not os.path.exists(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.rename(src, dest)
                os.symlink(dest, src)
    context.conn.execute(update(s.build).where(s.build.c.id == build["id"]).values(
        state=koji.BUILD_STATES["COMPLETE"], completion_ts=time.time()))
    return get_build_row(build["id"], strict=True)


@export(name="host.failBuild")
def host_failBuild(task_id, build_id):
    """Mark a BUILDING build FAILED (the task that reserved it failed)."""
    from .hostcheck import assert_build_of_task

    task = host_task(task_id)
    build = get_build_row(as_int(build_id, "build_id"), strict=True)
    assert_build_of_task(build, task)
    if build["state"] != koji.BUILD_STATES["BUILDING"]:
        raise koji.GenericError("build %s is not BUILDING" % build["nvr"])
    context.conn.execute(update(s.build).where(s.build.c.id == build["id"]).values(
        state=koji.BUILD_STATES["FAILED"], completion_ts=time.time()))


@export(name="host.moveBuildToScratch")
def host_moveBuildToScratch(task_id, srpm, rpms, logs=None):
    """Scratch build results to ``scratch/<owner>/task_<id>/`` (symlinks stay behind)."""
    from .hostcheck import task_tree_path

    task = host_task(task_id)
    owner = lookup(s.users, task["owner"], "user", strict=True)["name"]
    destdir = context.hub.pathinfo.scratch_task(owner, task["id"])
    if not isinstance(rpms, (list, tuple)) or not isinstance(logs or {}, dict):
        raise koji.ParameterError("moveBuildToScratch takes a list of rpms and a map of logs")
    paths = [srpm] + list(rpms) + [p for ps in (logs or {}).values()
                                   for p in (ps if isinstance(ps, (list, tuple)) else [ps])]
    for rel in paths:          # all checked before the first move
        task_tree_path(task, rel)
    for rel in paths:
        src = _work_path(rel)
        if os.path.isfile(src) and not os.path.islink(src):
            dest = safe_join(destdir, verify_filename(os.path.basename(rel)))
            os.makedirs(destdir, exist_ok=True)
            os.rename(src, dest)
            os.symlink(dest, src)


@export_unless_defined("host.tagBuild")
def host_tagBuild(task_id, tag, build, force=False, fromtag=None):
    """Tag a build for the task's host (the ``tagBuild`` step of a build task).

    As Koji's host.tagBuild: the ``tag`` policy and the tag access check run for the task's
    owner (``user_id``), not for the host."""
    from .policy import assert_policy, assert_tag_access
    from .tagging import tag_build

    task = host_task(task_id)
    tag_row = get_tag_row(tag, strict=True)
    build_row = get_build_row(build, strict=True)
    fromtag_row = get_tag_row(fromtag, strict=True) if fromtag is not None else None
    assert_policy("tag", {"tag": tag_row["name"], "build": build_row["id"],
                          "fromtag": fromtag_row["name"] if fromtag_row else None,
                          "user_id": task["owner"],
                          "operation": "tag" if fromtag_row is None else "move"}, force=force)
    for row in (fromtag_row, tag_row):
        if row is not None:
            assert_tag_access(row["id"], user_id=task["owner"], force=force)
    tag_build(tag_row["id"], build_row["id"], bool(force),
              fromtag_row["id"] if fromtag_row else None, by_user=task["owner"])


@export_unless_defined("getPackageConfig", write=False)
def getPackageConfig(tag, pkg, event=None):
    """The package list entry of ``pkg`` in ``tag`` (with inheritance), or None."""
    from .packages import read_package_list

    tag_row = get_tag_row(tag, strict=True, event=event)
    pkg_row = lookup(s.package, pkg, "package")
    if pkg_row is None:
        return None
    entry = read_package_list(tag_row["id"], pkg_id=pkg_row["id"], event=event,
                              inherit=True).get(pkg_row["id"])
    return dict(entry) if entry else None


@read_only
def getSCMAllowed(url):
    """Whether the hub accepts ``url`` as a build or kickstart source (no Koji equivalent)."""
    return scm_allowed(url)

