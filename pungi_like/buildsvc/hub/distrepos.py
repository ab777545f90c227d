"""Dist repos (``koji dist-repo``): distRepo, host.distRepoMove, host.writeSignedRPM.

A dist repo is a yum repo *with the RPM files in it* (Koji's "exporting repositories"), made of
the copies of the tag's RPMs signed with the requested keys, for publishing.  As in Koji:

* ``distRepo(tag, keys, **task_opts)`` (permission ``dist-repo`` or admin, else the
  ``dist_repo`` policy) inserts a repo row with ``dist=True`` in INIT at the current event (or
  ``task_opts['event']``), creates ``repos-dist/<tag>/<id>/<arch>/`` for each requested arch,
  copies the uploaded ``--comps`` file to ``groups/comps.xml``, writes ``repo.json`` and
  queues a ``distRepo`` task (channel createrepo, priority 15).  The tag extra
  ``distrepo.cancel_others`` cancels the tag's other distRepo tasks first.
* The builder's ``distRepo`` task runs one ``createdistrepo`` subtask per arch (the selection of
  signed copies, the repodata), then for each arch calls ``host.distRepoMove``, which checks the
  uploaded ``kojipkgs`` against the database, moves the uploaded repodata into
  ``repos-dist/<tag>/<id>/<arch>/`` and hard-links (or copies) each RPM file into
  ``<arch>/Packages/<first letter>/``; then ``host.repoDone(repo_id, {})`` marks it READY and
  points ``repos-dist/<tag>/latest`` at it.

Differences from Koji (doc/koji-differences.md): ``multilib``, ``delta`` (drpms), ``zck`` and
volumes other than DEFAULT are refused with a clear fault instead of being run.  A host may move
files only from the output of the distRepo task it holds or that task's subtasks.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import koji
from sqlalchemy import insert, select, update

from ...fileutil import write_atomic
from ..db import schema as s
from ..pathinfo import UnsafePathError, component, safe_join
from .common import as_int, assert_login, get_tag_row, has_perm
from .context import context, event_id, perms
from .registry import export

STATES = koji.REPO_STATES
#: Upper bound of the uploaded repo_manifest and kojipkgs files (JSON).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
#: Options a dist repo task accepts (what koji 1.36's CLI sends).
KNOWN_OPTS = {"arch", "comps", "delta", "event", "volume", "inherit", "multilib", "latest",
              "split_debuginfo", "skip_missing_signatures", "allow_missing_signatures",
              "zck", "zck_dict_dir", "write_signed_rpms", "createrepo_skip_stat"}
#: Options this hub refuses when set (they need tools kojid uses and we do not have: dnf's
#: multilib, drpm, zchunk dictionaries).
REFUSED_OPTS = {"multilib": "multilib", "delta": "delta rpms", "zck": "zchunk repodata",
                "zck_dict_dir": "zchunk dictionaries"}
_RPM_CHECK_KEYS = ("name", "version", "release", "arch", "epoch", "size", "payloadhash",
                   "build_id")


def _check_keys(keys):
    if not isinstance(keys, (list, tuple)):
        raise koji.ParameterError("Invalid type for keys: %s" % type(keys).__name__)
    out = []
    for key in keys:
        if not isinstance(key, str) or not key or len(key) > 64 or \
                any(c not in "0123456789abcdefABCDEF" for c in key):
            raise koji.ParameterError("Invalid signing key id: %r" % (key,))
        out.append(key)
    return out


def _check_opts(task_opts):
    """The task options, checked; faults name the option."""
    unknown = sorted(set(task_opts) - KNOWN_OPTS)
    if unknown:
        raise koji.ParameterError("Unknown dist repo option(s): %s" % ", ".join(unknown))
    for key, what in REFUSED_OPTS.items():
        if task_opts.get(key):
            raise koji.GenericError("Dist repos with %s are not supported by this hub" % what)
    arches = task_opts.get("arch")
    if not isinstance(arches, (list, tuple)) or not arches or \
            not all(isinstance(a, str) and a for a in arches):
        raise koji.ParameterError("Dist repo option 'arch' must be a non-empty list of arches")
    for a in arches:
        component(a, "arch")
    if task_opts.get("event") is not None:
        as_int(task_opts["event"], "event")
    latest = task_opts.get("latest", True)
    if not isinstance(latest, (bool, int)) or (not isinstance(latest, bool) and latest < 1):
        raise koji.ParameterError("Dist repo option 'latest' must be a boolean or a count >= 1")
    for key in ("inherit", "split_debuginfo", "skip_missing_signatures",
                "allow_missing_signatures", "write_signed_rpms", "createrepo_skip_stat"):
        if not isinstance(task_opts.get(key, False), (bool, type(None))):
            raise koji.ParameterError("Dist repo option %r must be a boolean" % key)
    comps = task_opts.get("comps")
    if comps is not None and not isinstance(comps, str):
        raise koji.ParameterError("Invalid type for comps: %s" % type(comps).__name__)
    volume = task_opts.get("volume")
    if volume not in (None, "DEFAULT"):
        raise koji.GenericError("Dist repos on volume %r are not supported by this hub (only "
                                "DEFAULT)" % (volume,))


def dist_repo_init(tag_row, keys, task_opts):
    """Insert the INIT dist repo row and lay out its directory; returns (repo_id, event)."""
    ev = task_opts.get("event")
    ev = as_int(ev, "event") if ev is not None else event_id()
    ev_ts = context.conn.execute(select(s.events.c.ts).where(s.events.c.id == ev)).scalar()
    if ev_ts is None:
        raise koji.GenericError("No such event: %d" % ev)
    arches = sorted({koji.canonArch(a) for a in task_opts["arch"]})
    repo_id = context.conn.execute(insert(s.repo).values(
        create_event=ev, create_ts=ev_ts, tag_id=tag_row["id"], state=STATES["INIT"],
        state_ts=time.time(), dist=True, task_id=None, opts=None,
        custom_opts=None).returning(s.repo.c.id)).scalar_one()
    pi = context.hub.pathinfo
    repodir = pi.distrepo(repo_id, tag_row["name"])
    for arch in arches:
        os.makedirs(safe_join(repodir, arch), exist_ok=True)
    if task_opts.get("comps"):
        src = pi.upload_dir(task_opts["comps"])
        if not os.path.isfile(src):
            raise koji.GenericError("Uploaded comps file is missing: %s" % task_opts["comps"])
        os.makedirs(os.path.join(repodir, "groups"), exist_ok=True)
        shutil.copyfile(src, os.path.join(repodir, "groups", "comps.xml"))
    info = {"id": repo_id, "tag": tag_row["name"], "tag_id": tag_row["id"], "keys": keys,
            "volume": task_opts.get("volume"), "task_opts": task_opts}
    write_atomic(os.path.join(repodir, "repo.json"),
                 json.dumps(info, indent=2, default=str) + "\n")
    return repo_id, ev


def _cancel_others(tag_row):
    from .repos import _tag_extra
    from .tasks import cancel_task, decode_request

    if not _tag_extra(tag_row["id"]).get("distrepo.cancel_others"):
        return
    t = s.task
    rows = context.conn.execute(select(t.c.id, t.c.request).where(
        t.c.method == "distRepo", t.c.state.in_([koji.TASK_STATES[n] for n in
                                                 ("FREE", "OPEN", "ASSIGNED")])))
    for row in rows:
        try:
            params = decode_request(row.request)[0]
        except Exception:  # an unreadable old request: not ours to judge, leave it
            continue
        if params and params[0] in (tag_row["name"], tag_row["id"]):
            cancel_task(row.id, recurse=True)


@export
def distRepo(tag, keys, **task_opts):
    """Create a dist repo (INIT) and its ``distRepo`` task; returns the task id."""
    from .policy import assert_policy
    from .tasks import make_task

    assert_login()
    if not (has_perm("admin") or "dist-repo" in perms()):
        assert_policy("dist_repo", {"tag": tag})
    keys = _check_keys(keys)
    _check_opts(task_opts)
    tag_row = get_tag_row(tag, strict=True)
    repo_id, ev = dist_repo_init(tag_row, keys, task_opts)
    task_opts["event"] = ev
    _cancel_others(tag_row)
    task_id = make_task("distRepo", [tag, repo_id, keys, task_opts], channel="createrepo",
                        priority=15)
    context.conn.execute(update(s.repo).where(s.repo.c.id == repo_id).values(task_id=task_id))
    return task_id


# --- host calls ---------------------------------------------------------------------------

def _load_json(path, what):
    if not os.path.isfile(path):
        raise koji.GenericError("Missing %s" % what)
    if os.path.getsize(path) > MAX_MANIFEST_BYTES:
        raise koji.GenericError("The %s is larger than %d bytes" % (what, MAX_MANIFEST_BYTES))
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError:
        raise koji.GenericError("The %s is not valid JSON" % what) from None


def _rel(relpath):
    """A relative path inside a repo arch directory; faults on anything that would leave it."""
    if not isinstance(relpath, str) or not relpath or relpath.startswith("/") or \
            "\0" in relpath:
        raise koji.GenericError("Invalid file in repo manifest: %r" % (relpath,))
    norm = os.path.normpath(relpath)
    if norm.startswith("..") or norm == ".":
        raise koji.GenericError("Invalid file in repo manifest: %r" % (relpath,))
    return norm


def _host_distRepoMove(repo_id, uploadpath, arch):
    """Move one arch of a dist repo into ``repos-dist/<tag>/<id>/<arch>/`` (see module doc)."""
    from .builds import get_build_row
    from .hostcheck import assert_task_held
    from .repos import _repo_row
    from .rpms import getRPM

    row = _repo_row(repo_id)
    if not row["dist"]:
        raise koji.GenericError("Repo %d is not a dist repo" % row["id"])
    if row["task_id"] is None:
        raise koji.ActionNotAllowed("repo %d was not created by a task" % row["id"])
    task = assert_task_held(row["task_id"])
    if not isinstance(uploadpath, str) or not isinstance(arch, str):
        raise koji.ParameterError("distRepoMove takes (repo_id, uploadpath, arch) as strings")
    kids = {r[0] for r in context.conn.execute(select(s.task.c.id).where(
        s.task.c.parent == task["id"]))}
    if os.path.normpath(uploadpath) not in {koji.pathinfo.taskrelpath(t)
                                            for t in kids | {task["id"]}}:
        raise koji.ActionNotAllowed("distRepoMove may only take files from the output of task "
                                    "%d or its subtasks, not from %s" % (task["id"], uploadpath))
    state = STATES[row["state"]]
    if state != "INIT":
        raise koji.GenericError("Repo is in state: %s" % state)
    tag_name = context.conn.execute(select(s.tag.c.name).where(
        s.tag.c.id == row["tag_id"])).scalar()
    pi = context.hub.pathinfo
    archdir = os.path.join(pi.distrepo(row["id"], tag_name), component(koji.canonArch(arch),
                                                                       "arch"))
    if not os.path.isdir(archdir):
        raise koji.GenericError("Repo arch directory missing: %s/%s" % (row["id"], arch))
    updir = pi.upload_dir(uploadpath)
    files = _load_json(os.path.join(updir, "repo_manifest"), "repo manifest")
    kojipkgs = _load_json(os.path.join(updir, "kojipkgs"), "kojipkgs file")
    if not isinstance(files, list) or not isinstance(kojipkgs, dict):
        raise koji.GenericError("Malformed repo manifest or kojipkgs file")
    moves = []
    for relpath in files:
        rel = _rel(relpath)
        src = safe_join(updir, rel)
        # a symlink would be moved as a link, whose target then resolves from the repo
        if os.path.islink(src) or not os.path.isfile(src):
            raise koji.GenericError("uploaded file missing: %s" % rel)
        moves.append((src, safe_join(archdir, rel)))
    links = []
    builds = {}
    for bnp, rpminfo in sorted(kojipkgs.items()):
        if not isinstance(rpminfo, dict) or not isinstance(rpminfo.get("id"), int):
            raise koji.GenericError("kojipkgs entry for %r is malformed" % (bnp,))
        known = getRPM(rpminfo["id"], strict=True)
        for key in _RPM_CHECK_KEYS:
            if key not in rpminfo or rpminfo[key] != known[key]:
                raise koji.GenericError("kojipkgs entry does not match db: file %s, key %s"
                                        % (bnp, key))
        if known["build_id"] not in builds:
            builds[known["build_id"]] = get_build_row(known["build_id"], strict=True)
        sigkey = rpminfo.get("sigkey")
        if sigkey:
            if not isinstance(sigkey, str):
                raise koji.GenericError("kojipkgs entry for %s has a bad sigkey" % bnp)
            relpath = pi.signed(known, sigkey.lower())
        else:
            relpath = pi.rpm(known)
        if bnp != os.path.basename(relpath):
            raise koji.GenericError("kojipkgs entry %r does not name the file %s"
                                    % (bnp, os.path.basename(relpath)))
        fullpath = os.path.join(pi.build(builds[known["build_id"]]), relpath)
        if not os.path.isfile(fullpath):
            raise koji.GenericError("RPM file missing on the hub: %s" % bnp)
        links.append((fullpath, os.path.join(archdir, "Packages", bnp[0].lower(), bnp)))
    for src, dst in moves:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.exists(dst):
            raise koji.GenericError("File already in repo: %s" % os.path.relpath(dst, archdir))
        shutil.move(src, dst)
    for src, dst in links:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.exists(dst):
            raise koji.GenericError("File already in repo: %s" % os.path.relpath(dst, archdir))
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return None


def _host_writeSignedRPM(an_rpm, sigkey, force=False):
    """Write a signed copy from a stored signature (kojid's ``--write-signed-rpms``); only for
    a host holding an open distRepo task or createdistrepo subtask."""
    from .hostcheck import verify_host
    from .signing import write_signed_rpm

    host = verify_host()
    held = context.conn.execute(select(s.task.c.id).where(
        s.task.c.host_id == host["id"], s.task.c.state == koji.TASK_STATES["OPEN"],
        s.task.c.method.in_(["distRepo", "createdistrepo"]))).first()
    if held is None:
        raise koji.ActionNotAllowed("host %s holds no dist repo task" % host["name"])
    return write_signed_rpm(an_rpm, sigkey, force)


def finish_dist_repo(row, tag_name):
    """repoDone of a dist repo: READY, and ``repos-dist/<tag>/latest`` when it is the newest."""
    from .repos import query_repos, set_state

    set_state(row["id"], STATES["READY"])
    newest = query_repos(row["tag_id"], state=STATES["READY"], dist=True)
    if newest and newest[0]["id"] == row["id"]:
        link = os.path.join(os.path.dirname(context.hub.pathinfo.distrepo(row["id"], tag_name)),
                            "latest")
        tmp = link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(str(row["id"]), tmp)
        os.replace(tmp, link)


def dist_repo_housekeeping(lifetime):
    """What kojira does to dist repos: an INIT dist repo whose task FAILED or was CANCELED
    becomes PROBLEM; a READY dist repo older than ``lifetime`` seconds that is not the newest
    READY dist repo of its tag becomes EXPIRED (and loses its files after the delete grace, as
    other repos).  Returns (problem ids, expired ids)."""
    from .repos import query_repos, set_state

    r, t = s.repo, s.task
    failed = [row.id for row in context.conn.execute(
        select(r.c.id).select_from(r.join(t, t.c.id == r.c.task_id)).where(
            r.c.dist.is_(True), r.c.state == STATES["INIT"],
            t.c.state.in_([koji.TASK_STATES["FAILED"], koji.TASK_STATES["CANCELED"]])))]
    for repo_id in failed:
        set_state(repo_id, STATES["PROBLEM"])
    expired = []
    cutoff = time.time() - lifetime
    old = context.conn.execute(select(r.c.id, r.c.tag_id).where(
        r.c.dist.is_(True), r.c.state == STATES["READY"], r.c.state_ts < cutoff)).all()
    newest = {}
    for row in old:
        if row.tag_id not in newest:
            latest = query_repos(row.tag_id, state=STATES["READY"], dist=True)
            newest[row.tag_id] = latest[0]["id"] if latest else None
        if row.id != newest[row.tag_id]:
            set_state(row.id, STATES["EXPIRED"])
            expired.append(row.id)
    return failed, expired


def delete_dist_repo_files(row, tag_name):
    try:
        path = context.hub.pathinfo.distrepo(row["id"], tag_name)
    except UnsafePathError:
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def _register():
    from .registry import METHODS, Method

    METHODS["host.distRepoMove"] = Method("host.distRepoMove", _host_distRepoMove, True)
    METHODS["host.writeSignedRPM"] = Method("host.writeSignedRPM", _host_writeSignedRPM, True)


_register()
