"""Image tasks from kickstarts: ``livecd`` / ``appliance`` (parents) and ``createLiveCD`` /
``createAppliance`` (the work); the ``image`` family (image-build) is in image.py and shares
the helpers here.

Parent (kojid's BuildLiveCDTask): the target's build tag repo; the arch must be one of the
build tag's; release = ``opts['release']`` or getNextRelease; non-scratch: the image "package"
must be listed in the destination tag and ``host.initImageBuild`` reserves the NVR; one child
(label = the image type, arch = the arch); then ``host.completeImageBuild`` (archives under
``packages/<n>/<v>/<r>/images/``) or ``host.moveImageBuildToScratch``; on failure
``host.failBuild``; then a ``tagBuild`` child into the destination tag unless scratch or
``skip_tag``.

Child: the kickstart is ``work/<ksfile>`` (what the CLI uploaded) or, with ``opts['ksurl']``,
``<ksfile>`` inside a checkout of that SCM URL; ``%include`` lines are flattened on the builder,
relative to the including file (so an uploaded kickstart can only include files that are in the
upload directory too; with ``--ksurl`` it can include anything in the repository). The
kickstart's repos are replaced by ``opts['repo']`` (``$arch`` substituted) or else by the build
tag's repo. Both kickstarts (as given, and flattened with the repos replaced), the image and the
logs are uploaded; the result is Koji's imgdata.
"""

from __future__ import annotations

import os
import re

import koji

from ....errors import PungiLikeError
from . import handler
from .build import checkout_scm, fail, get_repo, run_tag_build, tag_arches, upload_all, work_path

CHILD_METHODS = {"livecd": "createLiveCD", "appliance": "createAppliance", "image": "createImage",
                 "livemedia": "createLiveMedia"}
APPLIANCE_FORMATS = {"raw": "raw", "qcow2": "qcow2", "tar-gz": "tar-gz"}


def init_image_build(ctx, name, version, release, target_info, opts):
    pkg_cfg = ctx.session.getPackageConfig(target_info["dest_tag_name"], name)
    if not opts.get("skip_tag") and not opts.get("scratch"):
        if pkg_cfg is None:
            raise koji.BuildError("package (image) %s not in list for tag %s"
                                  % (name, target_info["dest_tag_name"]))
        if pkg_cfg.get("blocked"):
            raise koji.BuildError("package (image) %s is blocked for tag %s"
                                  % (name, target_info["dest_tag_name"]))
    return ctx.session.host.initImageBuild(ctx.task_id, {"name": name, "version": version,
                                                         "release": release, "epoch": 0})


def run_image_parent(ctx, kind, name, version, arches, target, source, opts):
    """The common parent flow; ``source`` is the ksfile (livecd/appliance) or the install tree
    (image).  Returns (results by child id, build info or None, child ids by arch)."""
    opts = opts or {}
    session = ctx.session
    target_info = session.getBuildTarget(target, strict=True)
    build_tag = target_info["build_tag"]
    repo_info = get_repo(ctx, build_tag)
    valid = tag_arches(ctx, build_tag)
    for arch in arches:
        if koji.canonArch(arch) not in valid:
            raise koji.BuildError("Invalid arch for build tag: %s" % arch)
    release = opts.get("release") or session.getNextRelease({"name": name, "version": version})
    scratch = bool(opts.get("scratch"))
    bld_info = None
    try:
        if not scratch:
            bld_info = init_image_build(ctx, name, version, release, target_info, opts)
            release = bld_info["release"]
        children = {}
        for arch in arches:
            children[arch] = ctx.subtask(
                CHILD_METHODS[kind], [name, version, release, arch, target_info, build_tag,
                                      repo_info, source, opts],
                label=_child_label(kind, arch), arch=arch)
        # as kojid: the first failure cancels the siblings, except for optional arches
        optional = set(opts.get("optional_arches") or ())
        canfail = [tid for arch, tid in children.items() if arch in optional]
        results = ctx.wait(list(children.values()), failany=True, canfail=canfail)
        by_id = {str(tid): results[tid] for tid in children.values()
                 if not _is_fault(results[tid])}
        if not by_id:
            raise koji.GenericError("all subtasks failed")
        if scratch:
            session.host.moveImageBuildToScratch(ctx.task_id, by_id)
        else:
            session.host.completeImageBuild(ctx.task_id, bld_info["id"], by_id)
    except Exception:
        if bld_info is not None:
            session.host.failBuild(ctx.task_id, bld_info["id"])
        raise
    if not scratch and not opts.get("skip_tag"):
        run_tag_build(ctx, target_info["dest_tag"], bld_info["id"])
    return by_id, bld_info, children


def _child_label(kind, arch):
    """Koji's subtask labels: the type (livecd, appliance), the arch (image), or
    ``livemedia <arch>``."""
    if kind == "image":
        return arch
    if kind == "livemedia":
        return "livemedia %s" % arch
    return kind


def _is_fault(result):
    return isinstance(result, dict) and "faultCode" in result


def report(ctx, kind, bld_info, children):
    """Koji's one-line result of an image parent task (paths relative to the top directory)."""
    if bld_info is None:
        owner_id = ctx.task.get("owner")
        owner = ctx.session.getUser(owner_id) if owner_id else None
        where = " ".join("scratch/%s/task_%s" % (owner["name"] if owner else "-", tid)
                         for tid in children.values())
        return "Scratch %s build results in: %s" % (kind, where)
    return "%s build results in: packages/%s/%s/%s/images" % (
        kind, bld_info["name"], bld_info["version"], bld_info["release"])


@handler("livecd", weight=1.0, channel="livecd")
def livecd(ctx, name, version, arch, target, ksfile, opts=None):
    _results, bld_info, children = run_image_parent(ctx, "livecd", name, version, [arch],
                                                    target, ksfile, opts)
    return report(ctx, "livecd", bld_info, children)


@handler("appliance", weight=1.0, channel="appliance")
def appliance(ctx, name, version, arch, target, ksfile, opts=None):
    _results, bld_info, children = run_image_parent(ctx, "appliance", name, version, [arch],
                                                    target, ksfile, opts)
    return report(ctx, "appliance", bld_info, children)


# ---------------------------------------------------------------------------------------------
# the children's shared steps


def fetch_kickstart(ctx, ksfile, opts, work_relative=True):
    """Local path of the task's kickstart (see the module docstring)."""
    if opts.get("ksurl"):
        moddir, _commit = checkout_scm(ctx, opts["ksurl"], os.path.join(ctx.workdir, "scm"))
        path = os.path.normpath(os.path.join(moddir, ksfile))
        if not path.startswith(moddir) or not os.path.isfile(path):
            raise koji.BuildError("kickstart %s is not in %s" % (ksfile, opts["ksurl"]))
        return path
    rel = ksfile
    if not work_relative:
        # image-build sends "work/cli-image/..." (relative to the top directory)
        rel = ksfile[len("work/"):] if ksfile.startswith("work/") else ksfile
    path = work_path(ctx, rel)
    if not os.path.isfile(path):
        raise koji.BuildError("kickstart %s not found (was it uploaded?)" % ksfile)
    return path


def task_repos(ctx, repo_info, arch, opts):
    """The repos that replace the kickstart's: ``opts['repo']`` or the build tag's repo."""
    if opts.get("repo"):
        repos = opts["repo"]
        repos = [repos] if isinstance(repos, str) else list(repos)
        out = []
        for i, url in enumerate(r.replace("$arch", arch) for r in repos):
            if url.startswith(("http://", "https://", "ftp://")):
                raise koji.BuildError("repo %s: builders read repos from local paths or file:// "
                                      "URLs only (no downloads)" % url)
            out.append(("repo-%d" % (i + 1), url))
        return out
    return [("build-tag", ctx.local_repo(repo_info["id"], arch))]


def volume_id(name, version, release, opts):
    """``opts['volid']``, or name-version-release shortened as livecd-creator labels fit
    (32 characters, no spaces)."""
    volid = opts.get("volid") or "%s-%s-%s" % (name, version, release)
    volid = re.sub(r"[^A-Za-z0-9._-]", "_", volid)
    return volid[:32]


def imgdata(ctx, name, version, release, arch, result, images):
    """Upload what a work function made and describe it as Koji's imgdata."""
    files = upload_all(ctx, [img["path"] for img in images] +
                       [result["kickstart"], result["kickstart_flat"]])
    logs = upload_all(ctx, result["logs"])
    rpmlist = [{k: r[k] for k in ("name", "version", "release", "epoch", "arch", "buildtime",
                                  "size", "payloadhash")} for r in result["rpmlist"]]
    info = [{k: v for k, v in img.items() if k not in ("path", "iso_files")} for img in images]
    return {"arch": arch, "files": files, "rootdev": None, "task_id": ctx.task_id,
            "logs": logs, "name": name, "version": version, "release": release,
            "rpmlist": rpmlist, "imageinfo": info,
            "included_files": [os.path.basename(f) for f in result.get("included_files") or ()]}


def _ksversion(opts):
    return opts.get("ksversion") or None


@handler("createLiveCD", weight=1.5, channel="livecd")
def createLiveCD(ctx, name, version, release, arch, target_info, build_tag, repo_info, ksfile,
                 opts=None):
    """A live ISO (builder/livecd.build_livecd) from the kickstart; returns imgdata."""
    from ..livecd import build_livecd

    opts = opts or {}
    ks = fetch_kickstart(ctx, ksfile, opts)
    repos = task_repos(ctx, repo_info, arch, opts)
    try:
        result = build_livecd(ks, repos, arch=arch, name=name, version=version,
                              release=release, workdir=os.path.join(ctx.workdir, "livecd"),
                              volid=volume_id(name, version, release, opts),
                              ksversion=_ksversion(opts), title=opts.get("title"))
    except PungiLikeError as exc:
        raise fail(exc, koji.LiveCDError) from exc
    return imgdata(ctx, name, version, release, arch, result, [result["image"]])


@handler("createAppliance", weight=1.5, channel="appliance")
def createAppliance(ctx, name, version, release, arch, target_info, build_tag, repo_info,
                    ksfile, opts=None):
    """A disk image (raw unless ``opts['format']`` says qcow2) from the kickstart."""
    from ..image import build_disk_image

    opts = opts or {}
    fmt = opts.get("format") or "raw"
    if fmt not in APPLIANCE_FORMATS:
        raise koji.ApplianceError("appliance format %s is not supported (%s)"
                                  % (fmt, ", ".join(APPLIANCE_FORMATS)))
    ks = fetch_kickstart(ctx, ksfile, opts)
    repos = task_repos(ctx, repo_info, arch, opts)
    try:
        result = build_disk_image(ks, repos, arch=arch, name=name, version=version,
                                  release=release, workdir=os.path.join(ctx.workdir, "appliance"),
                                  formats=(APPLIANCE_FORMATS[fmt],), ksversion=_ksversion(opts))
    except PungiLikeError as exc:
        raise fail(exc, koji.ApplianceError) from exc
    data = imgdata(ctx, name, version, release, arch, result, list(result["images"].values()))
    data["rootdev"] = (result.get("disk") or {}).get("root_label")
    return data
