"""``image`` (image-build's parent, channel ``image``) and ``createImage`` (one per arch).

``koji image-build NAME VERSION TARGET INSTALL_TREE ARCH... --kickstart KS --format F...``
sends ``buildImageOz(name, version, arches, target, inst_tree, opts)`` with
``opts['kickstart'] = 'work/cli-image/.../KS'`` (or ``opts['ksurl']`` + the kickstart's path in
that repository) and ``opts['format']`` a list of ``raw``, ``raw-xz``, ``qcow2``, ``tar-gz``
(others are refused). The disk is made from the kickstart's ``%packages`` installed from the build tag's repo
(or ``opts['repo']``), not by running an installer from ``inst_tree``: the install tree is only
recorded. The parent follows the livecd flow (see livecd.py); its result maps each arch to its
child's imgdata.
"""

from __future__ import annotations

import os

import koji

from ....errors import PungiLikeError
from . import handler
from .build import fail
from .livecd import fetch_kickstart, imgdata, report, run_image_parent, task_repos

IMAGE_FORMATS = ("raw", "raw-xz", "qcow2", "tar-gz")


@handler("image", weight=1.0, channel="image")
def image(ctx, name, version, arches, target, inst_tree, opts=None):
    opts = opts or {}
    arches = [arches] if isinstance(arches, str) else list(arches)
    optional = set((opts.get("optional_arches") or "").replace(",", " ").split()) \
        if isinstance(opts.get("optional_arches"), str) else set(opts.get("optional_arches") or ())
    if optional - set(arches):
        raise koji.BuildError("optional arches %s are not among the arches"
                              % " ".join(sorted(optional - set(arches))))
    results, bld_info, children = run_image_parent(ctx, "image", name, version, arches, target,
                                                   inst_tree, opts)
    ctx.log.info(report(ctx, "image", bld_info, children))
    return {arch: results[str(tid)] for arch, tid in children.items()}


@handler("createImage", weight=2.0, channel="image")
def createImage(ctx, name, version, release, arch, target_info, build_tag, repo_info, inst_tree,
                opts=None):
    """Disk images in the requested formats from ``opts['kickstart']``; returns imgdata."""
    from ..image import build_disk_image

    opts = opts or {}
    formats = opts.get("format") or ["raw"]
    formats = [formats] if isinstance(formats, str) else list(formats)
    bad = [f for f in formats if f not in IMAGE_FORMATS]
    if bad:
        raise koji.BuildError("image formats %s are not supported (%s)"
                              % (", ".join(bad), ", ".join(IMAGE_FORMATS)))
    if not opts.get("kickstart"):
        raise koji.BuildError("image-build needs a kickstart (--kickstart)")
    ks = fetch_kickstart(ctx, opts["kickstart"], opts, work_relative=False)
    repos = task_repos(ctx, repo_info, arch, opts)
    try:
        result = build_disk_image(ks, repos, arch=arch, name=name, version=version,
                                  release=release, workdir=os.path.join(ctx.workdir, "image"),
                                  formats=tuple(formats), ksversion=opts.get("ksversion"))
    except PungiLikeError as exc:
        raise fail(exc) from exc
    data = imgdata(ctx, name, version, release, arch, result, list(result["images"].values()))
    data["rootdev"] = (result.get("disk") or {}).get("root_label")
    data["install_tree"] = inst_tree
    return data
