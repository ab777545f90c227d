"""``newRepo`` and ``createrepo`` tasks, as kojid runs them.

newRepo: ``host.repoInit`` (the hub writes ``repos/<tag>/<id>/`` with ``repo.json``,
``groups/comps.xml`` and per arch ``pkglist``/``blocklist``/``toplink``), one ``createrepo`` child
per arch, then ``host.repoDone`` with each child's uploaded repodata; the result is
``[repo_id, event_id]``.

createrepo: repodata for one arch with :func:`builder.newrepo.generate_repo` over the pkglist
(plus the tag's external repos as of the repo's event - local, file:// or http(s) - merged by
priority and merge mode), in the task's work directory; the ``repodata/`` files are uploaded to
the task output and returned as ``[upload_path, [files]]`` for repoDone to move into place.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import sys

import koji

from ..newrepo import DumpedRepodata, RepoGenError, generate_repo
from . import handler


@handler("newRepo", weight=0.1, channel="createrepo")
def new_repo(ctx, tag, event=None, src=False, debuginfo=False, separate_src=False, opts=None):
    repo_opts = dict(opts or {})
    for key, value in (("src", src), ("debuginfo", debuginfo), ("separate_src", separate_src)):
        if value:
            repo_opts[key] = True
    tag_id = tag["id"] if isinstance(tag, dict) else tag
    kw = {"task_id": ctx.task_id, "opts": repo_opts or None}
    if event is not None:
        kw["event"] = event
    # one call: the repo made and the tag's current READY repo (the INIT repo just made is
    # not READY, so it is the tag's previous one) whose records the children reuse; that
    # repo names the tag (getTag, for the name only, is asked when the tag has none: 4
    # statements less in each regeneration on the hub)
    with ctx.session.multicall(strict=True) as m:
        init = m.host.repoInit(tag_id, **kw)
        old = m.getRepo(tag_id)
    repo_id, event_id = init.result
    oldrepo = old.result
    tag_name = oldrepo.get("tag_name") if isinstance(oldrepo, dict) else None
    if not isinstance(tag_name, str) or not tag_name:
        tag_name = ctx.session.getTag(tag_id, strict=True)["name"]
    ctx.log.info("repo %s of %s at event %s", repo_id, tag_name, event_id)
    repo_json = ctx.hub_file("repos/%s/%s/repo.json" % (tag_name, repo_id))
    with open(repo_json) as f:
        arches = json.load(f).get("arches") or []
    if not arches:
        raise koji.GenericError("Tag %s has no arches: no repo to generate" % tag_name)
    # the children, the wait mark and the first look at them: one call
    ids, results = ctx.subtasks_and_wait(
        [("createrepo", [repo_id, arch, oldrepo], {"label": arch, "arch": "noarch"})
         for arch in arches])
    data = {arch: results[tid] for arch, tid in zip(arches, ids)}
    # the task log goes with repoDone, in one call (nothing is logged after it)
    ctx.log.info("repo %s done", repo_id)
    ctx.upload_many([], with_logs=True, then=lambda m: m.host.repoDone(repo_id, data))
    return [repo_id, event_id]


def _checked_pkglist(ctx, tag_name, repo_id, arch):
    """The local paths of the packages in ``repos/<tag_name>/<repo_id>/<arch>/pkglist``,
    each checked (TaskContext.hub_files)."""
    pkglist = ctx.hub_file("repos/%s/%s/%s/pkglist" % (tag_name, repo_id, arch))
    with open(pkglist) as f:
        rels = [href[len("toplink/"):] for href in (line.strip() for line in f)
                if href.startswith("toplink/")]
    return ctx.hub_files(rels)


def _repo_json(ctx, tag_name, repo_id):
    """(tag id, event id) that ``repos/<tag_name>/<repo_id>/repo.json`` names (repoInit
    writes it), on a local topdir; None when there is none or it cannot be read."""
    if not ctx.topdir:
        return None   # a download from the hub would cost what it saves
    try:
        with open(ctx.hub_file("repos/%s/%s/repo.json" % (tag_name, repo_id))) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    known = (data.get("tag_id"), data.get("event_id")) if isinstance(data, dict) else ()
    return known if all(isinstance(x, int) and not isinstance(x, bool) for x in known) and \
        known else None


def _repo_and_externals(ctx, repo_id, guess):
    """repoInfo of the repo and the external repos of its tag as of its event
    (getExternalRepoList). When the repo.json at the tag name ``guess`` names the tag and
    the event, both go to the hub in one call and that external repo list is kept if
    repoInfo names the same tag and event; otherwise (or with no guess) the list is asked
    once repoInfo answered, as kojid does."""
    known = _repo_json(ctx, guess, repo_id) if guess else None
    ext_list = None
    if known is None:
        info = ctx.session.repoInfo(repo_id, strict=True)
    else:
        with ctx.session.multicall() as m:
            asked = m.repoInfo(repo_id, strict=True)
            ext = m.getExternalRepoList(known[0], event=known[1])
        info = asked.result   # a fault raises here
        if (info["tag_id"], info["create_event"]) == known:
            ext_list = ext.result
    if info["state"] != koji.REPO_STATES["INIT"]:
        raise koji.GenericError("Repo %s is not in the INIT state" % repo_id)
    if ext_list is None:
        ext_list = ctx.session.getExternalRepoList(info["tag_id"], event=info["create_event"])
    return info, ext_list


#: the interpreter's switch interval while the package paths are checked beside the hub call
QUICK_SWITCH = 0.0005


@contextlib.contextmanager
def _quick_switches():
    """The interpreter lock handed between threads every :data:`QUICK_SWITCH` seconds (5 ms
    by default) for the block. The path check's thread makes three short system calls a
    path and takes the lock back after each before the waiting thread wakes, so the thread
    that sends the hub call got it only at the forced switches: its call reached the hub
    once the check was nearly done (9-10 ms after it started), not beside it."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, QUICK_SWITCH))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@handler("createrepo", weight=1.5, channel="createrepo")
def create_repo(ctx, repo_id, arch, oldrepo=None):
    # the package paths are checked (a thousand of them: 10-50 ms) while the hub is asked
    # for the repo and its external repos: the previous repo (``oldrepo``, getRepo's
    # answer) names the tag, so where the pkglist is is known before repoInfo answers; if
    # repoInfo names another tag, they are read and checked again from there
    guess = oldrepo.get("tag_name") if isinstance(oldrepo, dict) else None
    guess = guess if isinstance(guess, str) and guess else None
    with concurrent.futures.ThreadPoolExecutor(1) as pool, _quick_switches():
        early = pool.submit(_checked_pkglist, ctx, guess, repo_id, arch) if guess else None
        info, ext_list = _repo_and_externals(ctx, repo_id, guess)
        rel = "repos/%s/%s" % (info["tag_name"], repo_id)
        checked = early if early is not None and info["tag_name"] == guess else \
            pool.submit(_checked_pkglist, ctx, info["tag_name"], repo_id, arch)
        paths = checked.result()
    topdir = ctx.topdir or os.path.join(ctx.workdir, "cache", "topdir")
    blocked = []
    try:
        with open(ctx.hub_file("%s/%s/blocklist" % (rel, arch))) as f:
            blocked = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        pass
    comps = None
    try:
        comps = ctx.hub_file("%s/groups/comps.xml" % rel)
        if not os.path.exists(comps):
            comps = None
    except OSError:
        comps = None
    externals = []
    for er in ext_list:
        if er.get("arches") and arch not in er["arches"].split():
            continue
        externals.append((er["url"], er["priority"], er.get("merge_mode") or "koji"))
    update_from = None
    if ctx.topdir and isinstance(oldrepo, dict) and oldrepo.get("tag_id") == info["tag_id"] \
            and isinstance(oldrepo.get("id"), int) and oldrepo["id"] != repo_id:
        # kojid's createrepo_update: records of unchanged packages come from the tag's
        # previous repo (on the shared topdir only: nothing is downloaded for it)
        update_from = {arch: ctx.hub_file("%s/%s/%s" % (
            os.path.dirname(rel), oldrepo["id"], arch))}
    outdir = os.path.join(ctx.workdir, "repo")
    os.makedirs(os.path.join(ctx.workdir, "logs"), exist_ok=True)
    try:
        result = generate_repo(outdir, {arch: paths}, arches=[arch], comps_xml=comps,
                               external_repos=externals, blocked=blocked, topdir=topdir,
                               log_path=os.path.join(ctx.workdir, "logs", "createrepo.log"),
                               cache_dir=os.path.join(ctx.workdir, "extrepos"),
                               update_from=update_from,
                               dumped=DumpedRepodata(ctx.cache_dir("repodata-dumped"))
                               if ctx.topdir else None)[arch]
    except RepoGenError as exc:
        # an unreachable mirror or bad repodata: the task fails with the message (URL and
        # cause), as kojid's "failed to merge repos"
        raise koji.GenericError("failed to merge repos: %s" % exc) from None
    ctx.log.info("%s: %s packages (%s internal) in %.2fs", arch, result["packages"],
                 result["internal"], result["seconds"])
    repodata = os.path.join(outdir, arch, "repodata")
    files = sorted(os.listdir(repodata))
    # the repodata, the logs and the task's close in one call (nothing is logged after it:
    # the task's end has no log left to send)
    return ctx.upload_and_close([(os.path.join(repodata, name), name) for name in files],
                                [ctx.upload_path, files])
