"""``distRepo`` and ``createdistrepo`` tasks (``koji dist-repo``), as kojid runs them.

distRepo: one ``createdistrepo`` child per arch of ``task_opts['arch']`` (else the tag's), wait
for all (the first failure cancels the rest), then ``host.distRepoMove`` of each child's output
into ``repos-dist/<tag>/<id>/<arch>/`` and ``host.repoDone(repo_id, {})``; the result is
``"Dist repository #<id> successfully generated"``.

createdistrepo: the tag's RPMs for one arch (that arch and noarch, or src) from
``listTaggedRPMS(..., rpmsigs=True)`` as of the repo's event, with ``latest``/``inherit`` as
asked.  For each RPM the copy signed with the first of ``keys`` it has a signature for is taken
(``--write-signed-rpms`` first writes those copies on the hub).  RPMs with none of the keys:
``--skip-missing-signatures`` leaves them out, ``--allow-missing-signatures`` takes the unsigned
copy, otherwise the task fails with Koji's "Unsigned packages found. See
missing_signatures.log" (the log lists each RPM and the keys it has).  Signed copies that were
never written fail the task with "Packages missing from the filesystem. See
missing_files.log.".  ``--split-debuginfo`` puts debuginfo/debugsource RPMs in a ``debug/``
sub-repo.  The work directory gets ``Packages/<first letter>/<file>`` links, ``pkglist``,
``kojipkgs`` (the RPMs' database records, keyed by file name, which the hub checks again) and
createrepo_c's ``repodata/`` (with the uploaded comps as group data); every file but the links
is uploaded, with a ``repo_manifest`` listing them.
"""

from __future__ import annotations

import json
import os

import koji

from ....rpmtools import arches as archmod
from ....rpmtools.repodata import createrepo
from . import handler


@handler("distRepo", weight=0.1, channel="createrepo")
def dist_repo(ctx, tag, repo_id, keys, task_opts):
    tinfo = ctx.session.getTag(tag, strict=True, event=task_opts.get("event"))
    arches = list(task_opts.get("arch") or (tinfo["arches"] or "").split())
    if not arches:
        raise koji.GenericError("No arches specified nor for the tag!")
    canon = sorted({koji.canonArch(a) for a in arches})
    kids = {arch: ctx.subtask("createdistrepo", [tag, repo_id, arch, keys, task_opts],
                              label=arch, arch="noarch")
            for arch in canon}
    ctx.wait(list(kids.values()), all=True, failany=True)
    for arch, task_id in sorted(kids.items()):
        ctx.session.host.distRepoMove(repo_id, koji.pathinfo.taskrelpath(task_id), arch)
    ctx.session.host.repoDone(repo_id, {})
    return "Dist repository #%s successfully generated" % repo_id


def _rpm_arches(arch):
    if arch == "src":
        return ["src"]
    return archmod.valid_arches(arch, multilib=False, add_noarch=True)


def _build_rel(build):
    """A build's directory relative to the top directory."""
    base = "packages/%(name)s/%(version)s/%(release)s" % {
        "name": build.get("name") or build["package_name"], "version": build["version"],
        "release": build["release"]}
    volume = build.get("volume_name")
    return base if volume in (None, "DEFAULT") else "vol/%s/%s" % (volume, base)


def _pick_key(keys, available):
    """The first of ``keys`` (lower case, in preference order) in ``available``, else None."""
    for key in keys:
        if key in available:
            return key
    return None


def _upload_log(ctx, name, text):
    path = os.path.join(ctx.workdir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    ctx.upload(path, name)


def select_rpms(ctx, tag, arch, keys, opts):
    """{file name: rpminfo (+ ``_pkgpath``, the local file)} of the dist repo's arch."""
    keys = [k.lower() for k in keys]
    index, builddirs = {}, {}
    for a in _rpm_arches(arch):
        rpms, builds = ctx.session.listTaggedRPMS(
            tag, event=opts.get("event"), arch=a, latest=opts.get("latest", True),
            inherit=opts.get("inherit", True), rpmsigs=True)
        for build in builds:
            if build.get("draft"):
                raise koji.BuildError("Draft build: %s is not allowed" % build["nvr"])
            builddirs[build["id"]] = _build_rel(build)
        for rpminfo in rpms:
            index.setdefault(rpminfo["id"], {})[(rpminfo.get("sigkey") or "").lower()] = rpminfo
    selected = {}
    for rpm_id, by_key in sorted(index.items()):
        best = _pick_key(keys, by_key)
        if best is None:
            info = dict(next(iter(by_key.values())))
            info["sigkey"] = None
        else:
            info = dict(by_key[best])
            info["sigkey"] = best
        selected[rpm_id] = info
    if opts.get("write_signed_rpms"):
        lines = []
        for rpm_id, info in sorted(selected.items()):
            if info["sigkey"]:
                try:
                    ctx.session.host.writeSignedRPM(rpm_id, info["sigkey"])
                    lines.append("Signed RPM %s is written with %s key.\n"
                                 % (rpm_id, info["sigkey"]))
                except koji.GenericError as exc:
                    lines.append("FAILED: Signed RPM %s is not written with %s key, error: %s\n"
                                 % (rpm_id, info["sigkey"], exc))
        if lines:
            _upload_log(ctx, "written_signed_rpms.log", "".join(lines))
    kojipkgs, fs_missing, sig_missing = {}, [], []
    for rpm_id, info in sorted(selected.items()):
        if info["sigkey"] is None:
            sig_missing.append(rpm_id)
            if opts.get("skip_missing_signatures"):
                continue
            rel = "%s/%s" % (builddirs[info["build_id"]], koji.pathinfo.rpm(info))
        else:
            rel = "%s/%s" % (builddirs[info["build_id"]],
                             koji.pathinfo.signed(info, info["sigkey"]))
        try:
            path = ctx.hub_file(rel)
        except (OSError, koji.GenericError):
            path = None
        if not path or not os.path.isfile(path):
            fs_missing.append(rel)
            continue
        info["_pkgpath"] = path
        kojipkgs[os.path.basename(rel)] = info
    if fs_missing:
        _upload_log(ctx, "missing_files.log",
                    "Some rpm files were missing.\nMost likely, you want to create these signed "
                    "copies.\n\nMissing files:\n" + "".join(p + "\n" for p in sorted(fs_missing)))
        raise koji.GenericError("Packages missing from the filesystem. See missing_files.log.")
    if sig_missing:
        text = "Some rpms were missing requested signatures.\n"
        if opts.get("skip_missing_signatures"):
            text += ("The skip_missing_signatures option was specified, so these files were "
                     "excluded.\n")
        text += "Requested keys: %r\n\n# RPM name: available keys\n" % keys
        for name, rpm_id in sorted(("%(name)s-%(version)s-%(release)s.%(arch)s" % selected[r],
                                    r) for r in sig_missing):
            text += "%s: %r\n" % (name, sorted(index[rpm_id]))
        _upload_log(ctx, "missing_signatures.log", text)
        if not opts.get("skip_missing_signatures") and not opts.get("allow_missing_signatures"):
            raise koji.GenericError("Unsigned packages found. See missing_signatures.log")
    return kojipkgs


@handler("createdistrepo", weight=1.5, channel="createrepo")
def create_dist_repo(ctx, tag, repo_id, arch, keys, opts):
    rinfo = ctx.session.repoInfo(repo_id, strict=True)
    if rinfo["state"] != koji.REPO_STATES["INIT"]:
        raise koji.GenericError("Repo %(id)s not in INIT state (got %(state)s)" % rinfo)
    if not rinfo.get("dist"):
        raise koji.GenericError("Repo %s is not a dist repo" % repo_id)
    groupdata = None
    try:
        groupdata = ctx.hub_file("repos-dist/%s/%s/groups/comps.xml" % (rinfo["tag_name"],
                                                                        repo_id))
    except (OSError, koji.GenericError):
        groupdata = None
    if groupdata and not os.path.isfile(groupdata):
        groupdata = None
    kojipkgs = select_rpms(ctx, tag, arch, keys, opts)
    repodir = os.path.join(ctx.workdir, "repo")
    os.makedirs(repodir, exist_ok=True)
    lists = {None: []}
    for bnp, info in sorted(kojipkgs.items()):
        letter = bnp[0].lower()
        link = os.path.join(repodir, "Packages", letter, bnp)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(info["_pkgpath"], link)
        if opts.get("split_debuginfo") and koji.is_debuginfo(info["name"]):
            lists.setdefault("debug", []).append("../Packages/%s/%s" % (letter, bnp))
        else:
            lists[None].append("Packages/%s/%s" % (letter, bnp))
    public = {bnp: {k: v for k, v in info.items() if not k.startswith("_")}
              for bnp, info in kojipkgs.items()}
    with open(os.path.join(repodir, "kojipkgs"), "w", encoding="utf-8") as f:
        json.dump(public, f, indent=2, sort_keys=True)
    os.makedirs(os.path.join(ctx.workdir, "logs"), exist_ok=True)
    for sub, hrefs in sorted(lists.items(), key=lambda kv: kv[0] or ""):
        subdir = os.path.join(repodir, sub) if sub else repodir
        os.makedirs(subdir, exist_ok=True)
        pkglist = os.path.join(subdir, "pkglist")
        with open(pkglist, "w", encoding="utf-8") as f:
            f.write("".join(h + "\n" for h in hrefs))
        createrepo(subdir, pkglist=pkglist, groupfile=groupdata, update=False,
                   log_path=os.path.join(ctx.workdir, "logs",
                                         "createrepo_%s.log" % sub if sub else "createrepo.log"))
    if not kojipkgs:
        with open(os.path.join(repodir, "repodata", "EMPTY_REPO"), "w") as f:
            f.write("This repo is empty because its tag has no content for this arch\n")
    ctx.log.info("%s: %d packages (%s)", arch, len(kojipkgs),
                 ", ".join("%s %d" % (k or "main", len(v)) for k, v in sorted(
                     lists.items(), key=lambda kv: kv[0] or "")))
    manifest = []
    for dirpath, _dirs, files in os.walk(repodir):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            rel = os.path.relpath(path, repodir)
            reldir = os.path.dirname(rel)
            ctx.session.uploadWrapper(path, ctx.upload_path + ("/" + reldir if reldir else ""),
                                      name=name, overwrite=True)
            manifest.append(rel)
    mpath = os.path.join(ctx.workdir, "repo_manifest")
    with open(mpath, "w", encoding="utf-8") as f:
        json.dump(sorted(manifest), f, indent=4)
    ctx.upload(mpath, "repo_manifest")
    return None
