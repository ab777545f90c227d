"""``livemedia`` (``koji spin-livemedia``, Pungi's live_media phase) and ``createLiveMedia``.

Parent (kojid's BuildLiveMediaTask): ``livemedia(name, version, arches, target, ksfile, opts)``
takes a *list* of arches (duplicates dropped, each checked against the build tag), makes one
``createLiveMedia`` child per arch (label ``livemedia <arch>``), waits with ``failany`` (the
first failure cancels the siblings) except for ``opts['optional_arches']``, whose failures are
tolerated as long as one arch succeeds; then imports (or moves to scratch) and tags as the other
image parents do (handlers/livecd.py).

Child: where Koji runs livemedia-creator (anaconda installing from ``--install-tree-url`` plus
the ``--repo`` repos into a root, then a live ISO of it), the builder installs the kickstart's
packages from the same repos with its own engine (builder/root.py) and writes the live ISO with
builder/livecd.py, which is the same thing the livecd task makes: a hybrid BIOS + UEFI ISO whose
squashfs root boots with ``rd.live.image``. Repos, in order: ``opts['install_tree_url']`` and
each of ``opts['repo']`` (``$arch`` and ``$basearch`` substituted), or the build tag's repo when
neither is given. The ISO is named as kojid names it, ``<name>-<arch>-<version>-<release>.iso``
(``opts['isoname']`` overrides), with kojid's volume id (``opts['volid']``, or name-version-release
shortened with Koji's substitutions to at most 32 characters).
"""

from __future__ import annotations

import os
import re

import koji

from ....errors import PungiLikeError
from . import handler
from .livecd import _ksversion, fetch_kickstart, imgdata, report, run_image_parent

#: kojid's (and Pungi's) volume id abbreviations, longest key first when applied
VOLID_SUBSTITUTIONS = {
    "Beta": "B", "Rawhide": "rawh", "Astronomy_KDE": "AstK", "Atomic": "AH", "Cinnamon": "Cinn",
    "Cloud": "C", "Design_suite": "Dsgn", "Electronic_Lab": "Elec", "Everything": "E",
    "Games": "Game", "Images": "img", "Jam_KDE": "Jam", "MATE_Compiz": "MATE",
    "Python-Classroom": "Clss", "Python_Classroom": "Clss", "Robotics": "Robo",
    "Scientific_KDE": "SciK", "Security": "Sec", "Server": "S", "Workstation": "WS",
    "WorkstationOstree": "WS",
}

_ISO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*\.iso$")


def shorten_volid(name, version, release):
    """Koji's default live media volume id: substitutions, then the first 32 characters."""
    for key, short in sorted(VOLID_SUBSTITUTIONS.items(), key=lambda kv: len(kv[0]),
                             reverse=True):
        name, version, release = (v.replace(key, short) for v in (name, version, release))
    return ("%s-%s-%s" % (name, version, release))[:32]


def media_repos(ctx, repo_info, arch, opts):
    """(name, url) pairs of the repos to install from (see the module docstring)."""
    urls = []
    if opts.get("install_tree_url"):
        urls.append(("install-tree", opts["install_tree_url"]))
    extra = opts.get("repo") or []
    extra = [extra] if isinstance(extra, str) else list(extra)
    urls += [("repo-%d" % (i + 1), url) for i, url in enumerate(extra)]
    if not urls:
        return [("build-tag", ctx.local_repo(repo_info["id"], arch))]
    out = []
    for name, url in urls:
        if not isinstance(url, str) or not url:
            raise koji.ParameterError("Invalid repo URL for livemedia: %r" % (url,))
        url = url.replace("$basearch", arch).replace("$arch", arch)
        if url.startswith(("http://", "https://", "ftp://")):
            raise koji.LiveMediaError("repo %s: builders read repos from local paths or file:// "
                                      "URLs only (no downloads)" % url)
        out.append((name, url))
    return out


@handler("livemedia", weight=1.0, channel="livemedia")
def livemedia(ctx, name, version, arches, target, ksfile, opts=None):
    opts = opts or {}
    if isinstance(arches, str):
        arches = arches.split(",")
    if not isinstance(arches, (list, tuple)) or not arches:
        raise koji.ParameterError("livemedia needs a list of arches, got %r" % (arches,))
    arches = sorted({koji.canonArch(a) for a in arches})
    _results, bld_info, children = run_image_parent(ctx, "livemedia", name, version, arches,
                                                    target, ksfile, opts)
    return report(ctx, "livemedia", bld_info, children)


@handler("createLiveMedia", weight=1.5, channel="livemedia")
def createLiveMedia(ctx, name, version, release, arch, target_info, build_tag, repo_info,
                    ksfile, opts=None):
    """A bootable live ISO from the kickstart and the install tree; returns imgdata."""
    from ..livecd import build_livecd

    opts = opts or {}
    volid = opts.get("volid") or shorten_volid(name, version, release)
    if len(volid) > 32:
        raise koji.LiveMediaError("volume ID is longer than 32 characters")
    iso_name = opts.get("isoname") or "%s-%s-%s-%s.iso" % (name, arch, version, release)
    if not _ISO_NAME_RE.match(iso_name):
        raise koji.LiveMediaError("invalid ISO file name: %r" % (iso_name,))
    ks = fetch_kickstart(ctx, ksfile, opts)
    repos = media_repos(ctx, repo_info, arch, opts)
    try:
        result = build_livecd(ks, repos, arch=arch, name=name, version=version, release=release,
                              workdir=os.path.join(ctx.workdir, "livemedia"), volid=volid,
                              ksversion=_ksversion(opts), title=opts.get("title"),
                              iso_name=iso_name)
    except PungiLikeError as exc:
        raise koji.LiveMediaError("Could not create LiveMedia: %s" % exc) from exc
    return imgdata(ctx, name, version, release, arch, result, [result["image"]])
