"""The work of ``newRepo`` / ``createrepo`` tasks: per-arch repodata of a build tag.

Layout (Koji's ``repos/<tag>/<id>/``; ``outdir`` is that id directory)::

    <outdir>/groups/comps.xml          the tag's groups (when given)
    <outdir>/<arch>/pkglist            one package path per line, relative to <outdir>/<arch>
    <outdir>/<arch>/toplink -> topdir  (when ``topdir`` is given, as Koji links its topdir)
    <outdir>/<arch>/repodata/          createrepo_c output, gz-compressed, comps as "group"

Without ``topdir`` the RPMs are hard-linked (copied across filesystems) into
``<arch>/Packages/``.

External repos are merged in Python from their repodata (createrepo_c's Python API reads and
writes the metadata; no mergerepo_c): the tag's own packages come first, then each external repo
in priority order (lower number first, as Koji orders them).  Merge modes, as Koji names them
(one mode per tag; mixing modes is an error, as in Koji):

* ``koji`` — the first repo that has *any* package built from a given source package name wins
  that name: later repos' packages from the same SRPM name are dropped (so an external repo can
  never mix a newer ``foo-libs`` with the tag's ``foo``).  Blocked package names are dropped
  from the external repos too.
* ``simple`` — the first repo wins per NEVRA; other versions from later repos stay in.
* ``bare`` — everything from every repo (only byte-identical duplicates dropped); no blocklist.

External packages keep their ``location_href`` and get ``xml:base`` = the external repo's URL
(``file://`` for local paths), so clients fetch them from there.  ``$arch`` in an external URL is
replaced by the arch being generated.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time

import createrepo_c as cr

from ...errors import PungiLikeError
from ...fileutil import link_file, write_atomic
from ...rpmtools import arches as archmod
from ...rpmtools.repodata import createrepo, repo_path

MERGE_MODES = ("koji", "simple", "bare")


class RepoGenError(PungiLikeError):
    pass


def _srpm_name(pkg):
    src = pkg.rpm_sourcerpm or ""
    if not src:
        return pkg.name
    return src[:-len(".src.rpm")].rsplit("-", 2)[0] if src.endswith(".src.rpm") else src


def _nevra(pkg):
    return f"{pkg.name}-{pkg.epoch or 0}:{pkg.version}-{pkg.release}.{pkg.arch}"


def _arch_set(arch):
    if arch == "src":
        return {"src", "nosrc"}
    return set(archmod.valid_arches(arch, multilib=True, add_noarch=True))


def _load_external(url, arch):
    """All packages of an external repo (primary+filelists+other) as cr.Package objects."""
    url = url.replace("$arch", arch)
    path = repo_path(url)
    if not os.path.isdir(os.path.join(path, "repodata")):
        raise RepoGenError(f"external repo {url}: no repodata/ in {path}")
    md = cr.Metadata()
    md.locate_and_load_xml(path)
    base = url if "://" in url else "file://" + os.path.abspath(path)
    pkgs = []
    for key in md.keys():
        pkg = md.get(key)
        pkg.location_base = base.rstrip("/") + "/"
        pkgs.append(pkg)
    pkgs.sort(key=lambda p: (p.name, p.arch, p.location_href))
    return pkgs


def _write_repodata(arch_dir, packages, groupfile, log_path):
    """Write repodata for ``packages`` (cr.Package) with the Python API, gz, unique names."""
    repodata = os.path.join(arch_dir, "repodata")
    tmp = repodata + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    files = {kind: os.path.join(tmp, f"{kind}.xml.gz") for kind in ("primary", "filelists",
                                                                    "other")}
    pri = cr.PrimaryXmlFile(files["primary"], cr.GZ_COMPRESSION)
    fil = cr.FilelistsXmlFile(files["filelists"], cr.GZ_COMPRESSION)
    oth = cr.OtherXmlFile(files["other"], cr.GZ_COMPRESSION)
    for xml in (pri, fil, oth):
        xml.set_num_of_pkgs(len(packages))
    for pkg in packages:
        pri.add_pkg(pkg)
        fil.add_pkg(pkg)
        oth.add_pkg(pkg)
    for xml in (pri, fil, oth):
        xml.close()
    repomd = cr.Repomd()
    records = [(kind, path) for kind, path in files.items()]
    if groupfile:
        comps = os.path.join(tmp, "comps.xml")
        shutil.copyfile(groupfile, comps)
        comps_gz = comps + ".gz"
        with open(comps, "rb") as src, gzip.GzipFile(comps_gz, "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        records += [("group", comps), ("group_gz", comps_gz)]
    for kind, path in records:
        rec = cr.RepomdRecord(kind, path)
        rec.fill(cr.SHA256)
        rec.rename_file()
        repomd.set_record(rec)
    with open(os.path.join(tmp, "repomd.xml"), "w", encoding="utf-8") as fh:
        fh.write(repomd.xml_dump())
    shutil.rmtree(repodata, ignore_errors=True)
    os.replace(tmp, repodata)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"# wrote {repodata}: {len(packages)} packages\n")


def merge_packages(internal, externals, mode, blocked=()):
    """Apply a merge mode. ``internal``: cr.Package list of the tag; ``externals``: list of
    (label, [cr.Package]) in priority order.  Returns (kept packages, {label: dropped count})."""
    if mode not in MERGE_MODES:
        raise RepoGenError(f"merge mode {mode!r} is not one of {', '.join(MERGE_MODES)}")
    kept, dropped = list(internal), {}
    seen_srpm = {_srpm_name(p) for p in internal}
    seen_nevra = {_nevra(p) for p in internal}
    seen_pkgid = {p.pkgId for p in internal}
    blocked = set(blocked)
    for label, pkgs in externals:
        these_srpms = set()
        count = 0
        for pkg in pkgs:
            srpm = _srpm_name(pkg)
            if mode == "koji":
                if srpm in seen_srpm or srpm in blocked or pkg.name in blocked:
                    count += 1
                    continue
                these_srpms.add(srpm)
            elif mode == "simple":
                if _nevra(pkg) in seen_nevra:
                    count += 1
                    continue
            elif pkg.pkgId in seen_pkgid:
                count += 1
                continue
            seen_nevra.add(_nevra(pkg))
            seen_pkgid.add(pkg.pkgId)
            kept.append(pkg)
        seen_srpm |= these_srpms
        dropped[label] = count
    return kept, dropped


def generate_repo(outdir, rpm_paths_by_arch, *, arches, comps_xml=None, external_repos=(),
                  blocked=(), topdir=None, log_path=None):
    """Write ``<outdir>/<arch>/repodata`` for each of ``arches``.

    ``rpm_paths_by_arch``: {arch: [rpm paths]}; ``noarch`` packages (key ``noarch``) go into
    every arch, as Koji's repo_init puts them in every arch's pkglist.  ``comps_xml``: a file
    path or the XML text.  ``external_repos``: [(url_or_path, priority, merge_mode)].
    ``blocked``: package names blocked in the tag.  Returns {arch: {"repodir", "packages",
    "internal", "external" ({url: kept}), "dropped", "seconds"}}.
    """
    outdir = os.path.abspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    groupfile = None
    if comps_xml:
        groupfile = os.path.join(outdir, "groups", "comps.xml")
        if os.path.exists(str(comps_xml)) and not str(comps_xml).lstrip().startswith("<"):
            os.makedirs(os.path.dirname(groupfile), exist_ok=True)
            shutil.copyfile(comps_xml, groupfile)
        else:
            write_atomic(groupfile, comps_xml)
    externals = sorted(external_repos, key=lambda r: r[1])
    modes = {r[2] or "koji" for r in externals}
    if len(modes) > 1:
        raise RepoGenError(f"external repos with different merge modes ({', '.join(sorted(modes))})"
                           f" cannot be merged into one repo")
    mode = modes.pop() if modes else None
    results = {}
    for arch in arches:
        t0 = time.monotonic()
        arch_dir = os.path.join(outdir, arch)
        os.makedirs(arch_dir, exist_ok=True)
        paths = list(rpm_paths_by_arch.get(arch, []))
        if arch != "src":
            paths += rpm_paths_by_arch.get("noarch", [])
        paths = sorted(set(paths), key=os.path.basename)
        hrefs = []
        if topdir:
            topdir_abs = os.path.abspath(topdir)
            link = os.path.join(arch_dir, "toplink")
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(topdir_abs, link)
            for p in paths:
                rel = os.path.relpath(os.path.abspath(p), topdir_abs)
                if rel.startswith(".."):
                    raise RepoGenError(f"{p} is not under the topdir {topdir_abs}")
                hrefs.append(f"toplink/{rel}")
        else:
            for p in paths:
                link_file(p, os.path.join(arch_dir, "Packages", os.path.basename(p)))
                hrefs.append(f"Packages/{os.path.basename(p)}")
        write_atomic(os.path.join(arch_dir, "pkglist"), "".join(h + "\n" for h in hrefs))
        info = {"repodir": arch_dir, "internal": len(hrefs), "external": {}, "dropped": {}}
        if not externals:
            if hrefs:
                createrepo(arch_dir, pkglist=os.path.join(arch_dir, "pkglist"),
                           groupfile=groupfile, update=False, log_path=log_path)
            else:
                _write_repodata(arch_dir, [], groupfile, log_path)
            info["packages"] = len(hrefs)
        else:
            internal = [cr.package_from_rpm(os.path.join(arch_dir, h), checksum_type=cr.SHA256,
                                            location_href=h, changelog_limit=10)
                        for h in hrefs]
            wanted = _arch_set(arch)
            ext_lists = []
            for url, _prio, _mode in externals:
                pkgs = [p for p in _load_external(url, arch) if p.arch in wanted]
                ext_lists.append((url, pkgs))
            kept, dropped = merge_packages(internal, ext_lists, mode, blocked)
            kept.sort(key=lambda p: (p.name, p.arch, p.version, p.release))
            _write_repodata(arch_dir, kept, groupfile, log_path)
            info["packages"] = len(kept)
            info["dropped"] = dropped
            for url, pkgs in ext_lists:
                info["external"][url] = len(pkgs) - dropped[url]
        info["merge_mode"] = mode
        info["seconds"] = round(time.monotonic() - t0, 2)
        results[arch] = info
    return results
