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
import json
import os

import koji

from ..newrepo import RepoGenError, generate_repo
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
    # one call: the repo made, its tag, and the tag's current READY repo (the INIT repo just
    # made is not READY, so it is the tag's previous one) whose records the children reuse
    with ctx.session.multicall(strict=True) as m:
        init = m.host.repoInit(tag_id, **kw)
        tinfo = m.getTag(tag_id, strict=True)
        old = m.getRepo(tag_id)
    repo_id, event_id = init.result
    tag_name, oldrepo = tinfo.result["name"], old.result
    ctx.log.info("repo %s of %s at event %s", repo_id, tag_name, event_id)
    repo_json = ctx.hub_file("repos/%s/%s/repo.json" % (tag_name, repo_id))
    with open(repo_json) as f:
        arches = json.load(f).get("arches") or []
    if not arches:
        raise koji.GenericError("Tag %s has no arches: no repo to generate" % tag_name)
    kids = {}
    for arch in arches:
        kids[arch] = ctx.subtask("createrepo", [repo_id, arch, oldrepo], label=arch, arch="noarch")
    results = ctx.wait(list(kids.values()), all=True)
    data = {arch: results[tid] for arch, tid in kids.items()}
    # the task log goes with repoDone, in one call (nothing is logged after it)
    ctx.log.info("repo %s done", repo_id)
    ctx.upload_many([], with_logs=True, then=lambda m: m.host.repoDone(repo_id, data))
    return [repo_id, event_id]


@handler("createrepo", weight=1.5, channel="createrepo")
def create_repo(ctx, repo_id, arch, oldrepo=None):
    info = ctx.session.repoInfo(repo_id, strict=True)
    if info["state"] != koji.REPO_STATES["INIT"]:
        raise koji.GenericError("Repo %s is not in the INIT state" % repo_id)
    rel = "repos/%s/%s" % (info["tag_name"], repo_id)
    pkglist = ctx.hub_file("%s/%s/pkglist" % (rel, arch))
    with open(pkglist) as f:
        rels = [href[len("toplink/"):] for href in (line.strip() for line in f)
                if href.startswith("toplink/")]
    # the package paths are checked (a thousand of them: 30-80 ms of lstat calls) while the
    # external repos are asked for
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        checked = pool.submit(ctx.hub_files, rels)
        ext_list = ctx.session.getExternalRepoList(info["tag_id"], event=info["create_event"])
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
                               update_from=update_from)[arch]
    except RepoGenError as exc:
        # an unreachable mirror or bad repodata: the task fails with the message (URL and
        # cause), as kojid's "failed to merge repos"
        raise koji.GenericError("failed to merge repos: %s" % exc) from None
    ctx.log.info("%s: %s packages (%s internal) in %.2fs", arch, result["packages"],
                 result["internal"], result["seconds"])
    repodata = os.path.join(outdir, arch, "repodata")
    files = sorted(os.listdir(repodata))
    # the repodata and the logs in one call (nothing is logged after it: the task's end has
    # no log left to send)
    ctx.upload_many([(os.path.join(repodata, name), name) for name in files], with_logs=True)
    return [ctx.upload_path, files]
