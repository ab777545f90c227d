"""Repos: rows and states, newRepo, repoInit/repoDone (host calls), lookups and expiry.

States are Koji's (``koji.REPO_STATES``: INIT, READY, EXPIRED, DELETED, PROBLEM). A repo's
content is fixed by its ``create_event``: the latest builds of the tag with inheritance as of that
event, its groups as comps, its blocked packages and (read by the createrepo tasks) its external
repos. Repo requests (the 1.35+ ``repo.*`` calls) are in :mod:`.repo_requests`; the queue's
housekeeping (requests -> newRepo tasks, automatic regeneration, clean-up) in :mod:`.scheduler`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

import koji
from sqlalchemy import insert, null, select, update

from ...fileutil import write_atomic
from ..db import schema as s
from ..pathinfo import UnsafePathError, component, safe_join
from .common import as_int, assert_login, get_tag_row, has_perm, one
from .context import context, event_id, event_ts, fmt_time, perms, quiet_event
from .inheritance import inheritance_memo, read_full_inheritance
from .registry import export, read_only

STATES = koji.REPO_STATES
DEFAULT_OPTS = {"src": False, "debuginfo": False, "separate_src": False, "maven": False}


def norm_opts(opts):
    """Only Koji's repo option keys, as bools; None stays None."""
    if opts is None:
        return None
    if not isinstance(opts, dict):
        raise koji.ParameterError("Invalid type for opts: %s" % type(opts))
    bad = set(opts) - set(DEFAULT_OPTS)
    if bad:
        raise koji.ParameterError("Invalid repo opts: %s" % ", ".join(sorted(bad)))
    return {k: bool(v) for k, v in opts.items()}


def full_opts(tag_row, custom):
    """Defaults, then the tag's ``repo.opts`` extra, then the explicitly requested ones."""
    opts = dict(DEFAULT_OPTS)
    extra = _tag_extra(tag_row["id"])
    if isinstance(extra.get("repo.opts"), dict):
        opts.update({k: bool(v) for k, v in extra["repo.opts"].items() if k in DEFAULT_OPTS})
    if extra.get("with_debuginfo"):
        opts["debuginfo"] = True
    opts.update(custom or {})
    return opts


def tag_arches(tag_id, event=None):
    """The tag's arches (a list) now or as of ``event``."""
    from .common import active_at

    value = context.conn.execute(select(s.tag_config.c.arches).where(
        s.tag_config.c.tag_id == tag_id, active_at(s.tag_config, event))).scalar()
    return (value or "").split()


def _tag_extra(tag_id):
    te = s.tag_extra
    out = {}
    for r in context.conn.execute(select(te.c.key, te.c.value).where(
            te.c.tag_id == tag_id, te.c.active.is_(True))):
        if r.value is not None:
            try:
                out[r.key] = json.loads(r.value)
            except ValueError:
                out[r.key] = r.value
    return out


# --- reading ------------------------------------------------------------------------------

def repo_info(row):
    # the times of its begin and end events, its tag's name and its task's state in one
    # statement (a round trip each on PostgreSQL; getRepo is what clients poll)
    ev, t = s.events, s.task

    def one_of(column, key, value):
        return select(column).where(key == value).scalar_subquery() if value else \
            null()

    begin_ts, end_ts, tag_name, task_state = context.conn.execute(select(
        one_of(ev.c.ts, ev.c.id, row["begin_event"]),
        one_of(ev.c.ts, ev.c.id, row["end_event"]),
        one_of(s.tag.c.name, s.tag.c.id, row["tag_id"]),
        one_of(t.c.state, t.c.id, row["task_id"]))).one()
    ev = {row["begin_event"]: begin_ts, row["end_event"]: end_ts}
    info = {k: row[k] for k in ("id", "tag_id", "create_event", "state", "dist", "task_id",
                                "begin_event", "end_event")}
    info.update({
        "tag_name": tag_name, "create_ts": row["create_ts"],
        "creation_time": fmt_time(row["create_ts"]), "creation_ts": row["create_ts"],
        "state_ts": row["state_ts"], "state_time": fmt_time(row["state_ts"]),
        "begin_ts": ev.get(row["begin_event"]), "end_ts": ev.get(row["end_event"]),
        "opts": json.loads(row["opts"]) if row["opts"] else None,
        "custom_opts": json.loads(row["custom_opts"]) if row["custom_opts"] else None,
        "task_state": task_state,
    })
    return info


def _repo_row(repo_id, strict=True, with_tag_name=False):
    """The repo's row; ``with_tag_name``: with its tag's name (``tag_name``), read with it."""
    q = select(s.repo) if not with_tag_name else select(
        s.repo, s.tag.c.name.label("tag_name")).join_from(
        s.repo, s.tag, s.tag.c.id == s.repo.c.tag_id, isouter=True)
    row = one(context.conn.execute(q.where(
        s.repo.c.id == as_int(repo_id, "repo_id"))).first())
    if row is None and strict:
        raise koji.GenericError("Repo %r does not exist" % (repo_id,))
    return row


def query_repos(tag_id=None, state=None, dist=False, min_event=None, at_event=None,
                opts=None, before_event=None, order_desc=True):
    r = s.repo
    q = select(r)
    if tag_id is not None:
        q = q.where(r.c.tag_id == tag_id)
    if state is not None:
        q = q.where(r.c.state.in_(state) if isinstance(state, (list, tuple)) else r.c.state == state)
    if dist is not None:
        q = q.where(r.c.dist.is_(bool(dist)))
    if min_event is not None:
        q = q.where(r.c.create_event >= min_event)
    if at_event is not None:
        q = q.where(r.c.create_event == at_event)
    if before_event is not None:
        q = q.where(r.c.create_event <= before_event)
    q = q.order_by(r.c.create_event.desc() if order_desc else r.c.create_event,
                   r.c.id.desc() if order_desc else r.c.id)
    rows = [dict(x._mapping) for x in context.conn.execute(q)]
    if opts is not None:
        want = norm_opts(opts)
        rows = [row for row in rows if _opts_match(row, want)]
    return rows


def _opts_match(row, want):
    """The repo ``row`` has the (normalised) options ``want``."""
    have = json.loads(row["opts"]) if row["opts"] else dict(DEFAULT_OPTS)
    custom = json.loads(row["custom_opts"]) if row["custom_opts"] else {}
    # opts must match what was asked; options the repo was asked for but the caller
    # did not ask for disqualify it (Koji: custom_opts must be a subset)
    return all(have.get(k, False) == v for k, v in want.items()) and \
        all(k in want for k in custom)


@read_only
def getRepo(tag, state=None, event=None, dist=False, min_event=None):
    """The newest repo of a tag: READY by default; with ``event`` the newest as of it."""
    tag_row = get_tag_row(tag, strict=True)
    if event is not None:
        rows = query_repos(tag_row["id"], state=state, dist=dist,
                           before_event=as_int(event, "event"))
    else:
        rows = query_repos(tag_row["id"], state=STATES["READY"] if state is None else state,
                           dist=dist,
                           min_event=as_int(min_event, "min_event") if min_event else None)
    return repo_info(rows[0]) if rows else None


@read_only
def repoInfo(repo_id, strict=False):
    row = _repo_row(repo_id, strict)
    return repo_info(row) if row else None


@read_only
def getActiveRepos():
    """Repos in INIT, READY and PROBLEM states (what kojira watches)."""
    return [repo_info(r) for r in query_repos(
        state=[STATES["INIT"], STATES["READY"], STATES["PROBLEM"]], dist=None, order_desc=False)]


# --- state changes ------------------------------------------------------------------------

def set_state(repo_id, state):
    """Set the repo's state; returns its new ``state_ts``."""
    now = time.time()
    context.conn.execute(update(s.repo).where(s.repo.c.id == repo_id).values(
        state=state, state_ts=now))
    return now


def _assert_repo_perm():
    assert_login()
    if not has_perm("repo"):
        raise koji.ActionNotAllowed("repo permission required (logged in as %s)"
                                    % context.user["name"])


@export
def repoExpire(repo_id):
    _assert_repo_perm()
    set_state(_repo_row(repo_id)["id"], STATES["EXPIRED"])


@export
def repoProblem(repo_id):
    _assert_repo_perm()
    set_state(_repo_row(repo_id)["id"], STATES["PROBLEM"])


@export
def repoDelete(repo_id):
    """Mark a repo DELETED (files are removed by the clean-up); returns the referencing
    buildroots (none can be deleted while a buildroot in use references it)."""
    _assert_repo_perm()
    row = _repo_row(repo_id)
    refs = [dict(r._mapping) for r in context.conn.execute(
        select(s.buildroot.c.id, s.buildroot.c.state).where(
            s.buildroot.c.repo_id == row["id"],
            s.buildroot.c.state.in_([koji.BR_STATES["INIT"], koji.BR_STATES["WAITING"],
                                     koji.BR_STATES["BUILDING"]])))]
    if not refs:
        set_state(row["id"], STATES["DELETED"])
        delete_repo_files(row)
    return refs


def delete_repo_files(row):
    tag_name = context.conn.execute(select(s.tag.c.name).where(
        s.tag.c.id == row["tag_id"])).scalar()
    if row.get("dist"):
        from .distrepos import delete_dist_repo_files

        return delete_dist_repo_files(row, tag_name)
    try:
        path = context.hub.pathinfo.repo(row["id"], tag_name)
    except UnsafePathError as exc:
        # a tag name stored before names were checked: never delete outside the top directory
        logging.getLogger(__name__).error("repo %s: files not deleted: %s", row["id"], exc)
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


@export
def newRepo(tag, event=None, src=False, debuginfo=False, separate_src=False):
    """Create a ``newRepo`` task (channel createrepo, priority 15); perm repo or regen-repo."""
    assert_login()
    if not (has_perm("repo") or "regen-repo" in perms()):
        raise koji.ActionNotAllowed("repo or regen-repo permission required")
    tag_row = get_tag_row(tag, strict=True)
    opts = {}
    for key, value in (("event", event), ("src", src), ("debuginfo", debuginfo),
                       ("separate_src", separate_src)):
        if value:
            opts[key] = value
    return make_newrepo_task(tag_row, opts)


#: the channel of newRepo tasks
NEWREPO_CHANNEL = "createrepo"


def make_newrepo_task(tag_row, kwargs, owner=None, priority=15, channel_row=None):
    """A newRepo task of the tag ``tag_row`` (``{id, name}``, read now in this transaction:
    the policies' data takes its name without reading the tag again). ``channel_row``: the
    createrepo channel's row when the caller read it (tasks.make_task)."""
    from .tasks import make_task

    os.makedirs(os.path.join(context.hub.pathinfo.topdir, "repos"), exist_ok=True)
    return make_task("newRepo", [tag_row["name"]], kwargs or None, channel=NEWREPO_CHANNEL,
                     priority=priority, owner=owner, channel_row=channel_row,
                     known_tags={tag_row["name"]: tag_row["name"]})


# --- repoInit / repoDone (host calls) -----------------------------------------------------

def _rpm_arches(tag_arches, opts):
    arches = sorted({koji.canonArch(a) for a in tag_arches})
    if opts.get("separate_src"):
        arches.append("src")
    return arches


def build_relpath(build):
    """``packages/<name>/<version>/<release>`` of a build (``vol/<volume>/...`` on another
    volume), relative to the top directory: what ``PathInfo.build`` gives, as text only.

    Each name is checked as one path component; symlinks are not resolved here (1,000 builds
    took 0.1 s of realpath calls per repoInit): the hub only writes this text into a pkglist,
    and whoever opens the files checks where they lead (the builder's
    ``TaskContext.local_files``, as ``hub_file``)."""
    name = build.get("name") or build.get("package_name")
    rel = "packages/%s/%s/%s" % (component(name, "package name"),
                                 component(build["version"], "version"),
                                 component(build["release"], "release"))
    volume = build.get("volume_name")
    if volume in (None, "DEFAULT"):
        return rel
    return "vol/%s/%s" % (component(volume, "volume name"), rel)


#: the keys of each line of an arch's rpmlist.jsonl
_RPMLIST_KEYS = ("id", "name", "version", "release", "epoch", "arch", "build_id", "payloadhash",
                 "size")


_RPMLIST_SORTED = tuple(sorted(_RPMLIST_KEYS))
_encode = json.JSONEncoder().encode


#: what stands between two items of the encoded list (its objects' first key is "arch")
_ITEM_GAP = '}, {"%s": ' % _RPMLIST_SORTED[0]


def _jsonl(rpms):
    """rpmlist.jsonl's text: a line per RPM, its _RPMLIST_KEYS as a JSON object with sorted
    keys (what ``json.dumps(..., sort_keys=True)`` gives), made by one call of the encoder
    for the whole list. Its items are flat objects whose first key is ``arch``, so
    ``}, {"arch": `` is found only between two items: inside an encoded string every ``"``
    is escaped, and after a string's closing quote comes ``,`` or ``}``, never ``arch``."""
    if not rpms:
        return ""
    text = _encode([{k: r[k] for k in _RPMLIST_SORTED} for r in rpms])
    return text[1:-1].replace(_ITEM_GAP, _ITEM_GAP.replace(", ", "\n", 1)) + "\n"


def repo_init(tag, task_id=None, event=None, opts=None):
    """Insert an INIT repo and write ``repos/<tag>/<id>/``; returns ``[repo_id, event_id]``."""
    # the tag's inheritance at the repo's event is read once for the last change, the package
    # list, the latest RPMs and the groups (a statement a level each time)
    with inheritance_memo():
        return _repo_init(tag, task_id, event, opts)


def _repo_init(tag, task_id, event, opts):
    from .events import tag_change_events, tagLastChangeEvent
    from .groups import tag_group_list
    from .packages import read_package_list
    from .tag_reads import read_latest_rpms

    tag_row = get_tag_row(tag, strict=True, event=as_int(event, "event") if event else None)
    custom = norm_opts(opts) or {}
    ropts = full_opts(tag_row, custom)
    if event is not None:
        ev = as_int(event, "event")
        ev_ts = context.conn.execute(select(s.events.c.ts).where(s.events.c.id == ev)).scalar()
        # as Koji: the repo's content is that of the tag's last change before its event
        begin = tagLastChangeEvent(tag_row["id"], before=ev) or ev
    else:
        ev, ev_ts = event_id(), event_ts()
        # the same for this call's new event, which changes nothing of the tag (the call
        # writes the repo row only): the tag (found above) and its inheritance before the
        # event are those at it
        parents = [link["parent_id"] for link in read_full_inheritance(tag_row["id"], ev)]
        begin = max(tag_change_events([tag_row["id"]] + parents, "max", before=ev),
                    default=None) or ev
    # the repo's creation gives no builder work: no wake, no automatic repo check for it
    quiet_event(ev)
    repo_id = context.conn.execute(insert(s.repo).values(
        create_event=ev, create_ts=ev_ts, begin_event=begin, tag_id=tag_row["id"],
        state=STATES["INIT"],
        state_ts=time.time(), dist=False, task_id=task_id, opts=json.dumps(ropts, sort_keys=True),
        custom_opts=json.dumps(custom, sort_keys=True)).returning(s.repo.c.id)).scalar_one()
    arches = _rpm_arches(tag_arches(tag_row["id"], ev), ropts)
    # one read of the inherited package list: the latest builds are filtered by it and the
    # blocklist comes from it
    packages = read_package_list(tag_row["id"], event=ev, inherit=True, with_owners=False)
    pi = context.hub.pathinfo
    lists = {a: [] for a in arches}
    bdirs = {}   # id(build dict) -> its relpath
    for r, build in read_latest_rpms(tag_row["id"], ev, packages):
        if r["metadata_only"]:
            continue
        if r["arch"] == "src":
            targets = ["src"] if ropts["separate_src"] else (arches if ropts["src"] else [])
            targets = [a for a in targets if a in lists]
        elif r["arch"] == "noarch":
            targets = [a for a in arches if a != "src"]
        else:
            if koji.is_debuginfo(r["name"]) and not ropts["debuginfo"]:
                continue
            targets = [koji.canonArch(r["arch"])] if koji.canonArch(r["arch"]) in lists else []
        bdir = bdirs.get(id(build))
        if bdir is None:
            bdir = bdirs[id(build)] = build_relpath(build)
        path = "toplink/%s/%s" % (bdir, pi.rpm(r))
        for a in targets:
            lists[a].append((path, r))
    blocked = sorted(p["package_name"] for p in packages.values() if p["blocked"])
    repodir = pi.repo(repo_id, tag_row["name"])
    os.makedirs(repodir, exist_ok=True)
    groups = tag_group_list(tag_row["id"], event=ev, inherit=True)
    # The files of an INIT repo are written atomically but not synced (as Koji's): nothing
    # reads them before the createrepo tasks, which run after this call committed, and the
    # repodata moved in by repoDone is not synced either; 5 fsyncs were 20-50 ms of every
    # repoInit.
    if groups:
        write_atomic(os.path.join(repodir, "groups", "comps.xml"), koji.generate_comps(groups),
                     fsync=False)
    for arch in arches:
        adir = safe_join(repodir, arch)
        os.makedirs(adir, exist_ok=True)
        link = os.path.join(adir, "toplink")
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(pi.topdir, adir), link)
        entries = sorted(lists[arch], key=lambda e: os.path.basename(e[0]))
        write_atomic(os.path.join(adir, "pkglist"), "".join(p + "\n" for p, _ in entries),
                     fsync=False)
        write_atomic(os.path.join(adir, "rpmlist.jsonl"), _jsonl([r for _, r in entries]),
                     fsync=False)
        write_atomic(os.path.join(adir, "blocklist"), "".join(n + "\n" for n in blocked),
                     fsync=False)
    repo_json = {"id": repo_id, "tag": tag_row["name"], "tag_id": tag_row["id"],
                 "task_id": task_id, "event_id": ev, "opts": ropts, "custom_opts": custom,
                 "with_src": ropts["src"], "with_separate_src": ropts["separate_src"],
                 "with_debuginfo": ropts["debuginfo"], "arches": arches}
    write_atomic(os.path.join(repodir, "repo.json"),
                 json.dumps(repo_json, indent=2, sort_keys=True) + "\n", fsync=False)
    return [repo_id, ev]


def repo_done(repo_id, data, expire=False, repo_json_updates=None, row=None):
    """Move each arch's uploaded repodata into place; READY (or EXPIRED); fulfil requests.
    ``row``: the repo's row, read in this transaction already (host.repoDone)."""
    from .repo_requests import fulfil_requests

    row = dict(row if row is not None else _repo_row(repo_id, with_tag_name=True))
    if row["state"] != STATES["INIT"]:
        raise koji.GenericError("Repo %i is not in the INIT state" % row["id"])
    if "tag_name" in row:
        tag_name = row.pop("tag_name")
    else:
        tag_name = context.conn.execute(select(s.tag.c.name).where(
            s.tag.c.id == row["tag_id"])).scalar()
    if row["dist"]:
        # a dist repo's files were moved in by host.distRepoMove, arch by arch
        from .distrepos import finish_dist_repo

        if data:
            raise koji.GenericError("repoDone of dist repo %d takes no data" % row["id"])
        return finish_dist_repo(row, tag_name)
    pi = context.hub.pathinfo
    repodir = pi.repo(row["id"], tag_name)
    if repo_json_updates is not None and not isinstance(repo_json_updates, dict):
        raise koji.ParameterError("Invalid type for repo_json_updates: %s"
                                  % type(repo_json_updates).__name__)
    for arch, (uploadpath, files) in (data or {}).items():
        src_dir = pi.upload_dir(uploadpath)
        # the arch and file names come from the host: one plain path component each, so no
        # '..', absolute path or symlink leads a move out of the repo or the upload directory
        adir = safe_join(repodir, component(arch, "arch"))
        if not os.path.isdir(adir):
            raise koji.GenericError("Repo %i has no arch %s" % (row["id"], arch))
        for fn in files:
            if not isinstance(fn, str) or fn.startswith("."):
                raise koji.GenericError("Invalid repodata file name: %r" % (fn,))
            src = safe_join(src_dir, component(fn, "repodata file name"))
            if os.path.islink(src) or not os.path.isfile(src):
                raise koji.GenericError("Uploaded file is missing: %s/%s" % (uploadpath, fn))
            dest_dir = adir if fn.endswith("pkglist") else os.path.join(adir, "repodata")
            os.makedirs(dest_dir, exist_ok=True)
            shutil.move(src, os.path.join(dest_dir, fn))
    if repo_json_updates:
        path = os.path.join(repodir, "repo.json")
        with open(path) as f:
            rj = json.load(f)
        rj.update(repo_json_updates)
        write_atomic(path, json.dumps(rj, indent=2, sort_keys=True) + "\n")
    if expire:
        set_state(row["id"], STATES["EXPIRED"])
        return
    ready_ts = set_state(row["id"], STATES["READY"])
    opts = json.loads(row["opts"]) if row["opts"] else dict(DEFAULT_OPTS)
    # older READY repos of the tag with the same options are superseded; the rest (this one
    # among them) say whether this is the tag's newest with the default options (one read)
    ready = []
    for old in query_repos(row["tag_id"], state=STATES["READY"], dist=False):
        if old["id"] != row["id"] and old["create_event"] <= row["create_event"] and \
                (json.loads(old["opts"]) if old["opts"] else dict(DEFAULT_OPTS)) == opts:
            set_state(old["id"], STATES["EXPIRED"])
        else:
            ready.append(old)
    if opts == DEFAULT_OPTS:
        newest = [r for r in ready if _opts_match(r, DEFAULT_OPTS)]
        if newest and newest[0]["id"] == row["id"]:
            link = os.path.join(os.path.dirname(repodir), "latest")
            tmp = link + ".new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(str(row["id"]), tmp)
            os.replace(tmp, link)
    # what fulfil_requests reads of the READY repo (its row as now written; repo_info's
    # event times, tag name and task state are not needed)
    fulfil_requests(dict(row, state=STATES["READY"], state_ts=ready_ts,
                         opts=json.loads(row["opts"]) if row["opts"] else None,
                         custom_opts=json.loads(row["custom_opts"]) if row["custom_opts"]
                         else None))


def _host_repoInit(tag, task_id=None, event=None, opts=None):
    """``repo_init`` for the newRepo task the calling host holds (``task_id`` is required)."""
    from .hostcheck import assert_task_held

    if task_id is None:
        raise koji.ActionNotAllowed("host.repoInit needs the task_id of the newRepo task the "
                                    "host is running")
    task = assert_task_held(task_id)
    return repo_init(tag, task_id=task["id"], event=event, opts=opts)


def _host_repoDone(repo_id, data, expire=False, repo_json_updates=None):
    """``repo_done`` for a repo whose creating task the calling host holds; the uploaded files
    come only from that task's output directory or those of its subtasks."""
    from .hostcheck import assert_task_held

    row = _repo_row(repo_id, with_tag_name=True)
    if row["task_id"] is None:
        raise koji.ActionNotAllowed("repo %d was not created by a task; no host may finish it"
                                    % row["id"])
    task = assert_task_held(row["task_id"])
    if data is not None and not isinstance(data, dict):
        raise koji.ParameterError("Invalid type for data: %s" % type(data).__name__)
    kids = {r[0] for r in context.conn.execute(select(s.task.c.id).where(
        s.task.c.parent == task["id"]))}
    allowed = {koji.pathinfo.taskrelpath(t) for t in kids | {task["id"]}}
    for arch, entry in (data or {}).items():
        if not isinstance(entry, (list, tuple)) or len(entry) != 2 or \
                not isinstance(entry[0], str) or not isinstance(entry[1], (list, tuple)):
            raise koji.ParameterError("repoDone data for %r must be [uploadpath, [files]]"
                                      % (arch,))
        if os.path.normpath(entry[0]) not in allowed:
            raise koji.ActionNotAllowed("repoDone may only take files from the output of task "
                                        "%d or its subtasks, not from %s" % (task["id"],
                                                                             entry[0]))
    return repo_done(row["id"], data, expire, repo_json_updates, row=row)


def _register():
    from .registry import METHODS, Method

    METHODS["host.repoInit"] = Method("host.repoInit", _host_repoInit, True)
    METHODS["host.repoDone"] = Method("host.repoDone", _host_repoDone, True)


_register()
