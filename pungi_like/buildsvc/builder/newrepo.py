"""The work of ``newRepo`` / ``createrepo`` tasks: per-arch repodata of a build tag.

Layout (Koji's ``repos/<tag>/<id>/``; ``outdir`` is that id directory)::

    <outdir>/groups/comps.xml          the tag's groups (when given)
    <outdir>/<arch>/pkglist            one package path per line, relative to <outdir>/<arch>
    <outdir>/<arch>/toplink -> topdir  (when ``topdir`` is given, as Koji links its topdir)
    <outdir>/<arch>/repodata/          createrepo_c output, gz-compressed, comps as "group"

Without ``topdir`` the RPMs are hard-linked (copied across filesystems) into
``<arch>/Packages/``.

External repos are merged in Python from their repodata (createrepo_c's Python API reads and
writes the metadata), following what kojid runs (``mergerepo_c``; see kojid's
``CreaterepoTask.merge_repos`` and createrepo_c's ``koji.c``/``mergerepo_c.c``).  The tag's own
packages are repo 0, then each external repo in priority order (lower number first, as
``getExternalRepoList`` orders them).  One merge mode per tag; mixing modes is an error, as in
Koji.  Only packages of the arch being generated (with its multilib arches) and noarch are read.

* ``koji`` (``mergerepo_c --koji``) - each source package name belongs to the first repo that has
  a package built from it; within that repo only the packages of its newest SRPM of that name
  are kept (so an external repo can never mix a newer ``foo-libs`` with the tag's ``foo``).
  Packages whose SRPM name is in the tag's blocklist are dropped; of packages with the same
  name-version-release.arch the first is kept.
* ``simple`` (``mergerepo_c --koji --simple``) - every package of every repo except those whose
  SRPM name is blocked; even identical NEVRAs from two repos are both kept.
* ``bare`` (``mergerepo_c --pkgorigins --all``) - every package of every repo, the first of
  identical name-epoch-version-release.arch kept; no blocklist.

External packages keep their ``location_href`` and get ``xml:base`` = the external repo's URL
(``file://`` for local paths), so clients fetch them from there.  ``$arch`` in an external URL is
replaced by the arch being generated.  ``http://`` and ``https://`` repos have their repodata
fetched first (:mod:`pungi_like.rpmtools.remoterepo`: bounded sizes and time, checksums checked);
a mirror that cannot be read fails the repo with a message naming the URL.  As mergerepo_c does,
the merged repodata carries an ``origin`` record (``pkgorigins.gz``: NEVRA and repo URL per
external package line).
"""

from __future__ import annotations

import gzip
import os
import shutil
import time

import createrepo_c as cr
import rpm

from ...errors import PungiLikeError
from ...fileutil import link_file, write_atomic
from ...rpmtools import arches as archmod
from ...rpmtools.remoterepo import RemoteRepoError, fetch_repodata, is_remote
from ...rpmtools.repodata import createrepo, repo_path

MERGE_MODES = ("koji", "simple", "bare")


class RepoGenError(PungiLikeError):
    pass


def _srpm_nvr(pkg):
    """(name, version, release) of the package's source RPM, or None when it names none."""
    src = pkg.rpm_sourcerpm or ""
    if not src.endswith(".rpm"):
        return None
    parts = src[:-len(".rpm")].rsplit(".", 1)[0].rsplit("-", 2)
    return tuple(parts) if len(parts) == 3 and all(parts) else None


def _nvra(pkg):
    """name-version-release.arch, as mergerepo_c's ``cr_package_nvra`` (no epoch)."""
    return f"{pkg.name}-{pkg.version}-{pkg.release}.{pkg.arch}"


def _nevra(pkg):
    return f"{pkg.name}-{pkg.epoch or 0}:{pkg.version}-{pkg.release}.{pkg.arch}"


def _arch_set(arch):
    if arch == "src":
        return {"src", "nosrc"}
    return set(archmod.valid_arches(arch, multilib=True, add_noarch=True))


def _load_external(url, arch, cache_dir):
    """All packages of an external repo (primary+filelists+other) as cr.Package objects.

    ``url`` has ``$arch`` replaced already; an http(s) repo's repodata is fetched into
    ``cache_dir`` first."""
    if is_remote(url):
        try:
            path = fetch_repodata(url, cache_dir)
        except RemoteRepoError as exc:
            raise RepoGenError(f"external repo {url}: {exc}") from None
        base = url
    else:
        try:
            path = repo_path(url)
        except PungiLikeError as exc:
            raise RepoGenError(f"external repo {url}: unsupported URL ({exc})") from None
        if not os.path.isdir(os.path.join(path, "repodata")):
            raise RepoGenError(f"external repo {url}: no repodata/ in {path}")
        base = url if "://" in url else "file://" + os.path.abspath(path)
    md = cr.Metadata()
    try:
        md.locate_and_load_xml(path)
    except Exception as exc:  # createrepo_c's own error type, with a message
        raise RepoGenError(f"external repo {url}: unreadable repodata ({exc})") from None
    pkgs = []
    for key in md.keys():
        pkg = md.get(key)
        pkg.location_base = base.rstrip("/") + "/"
        pkgs.append(pkg)
    pkgs.sort(key=lambda p: (p.name, p.arch, p.version, p.release, p.location_href))
    return pkgs


def _write_repodata(arch_dir, packages, groupfile, log_path, origins=None):
    """Write repodata for ``packages`` (cr.Package) with the Python API, gz, unique names;
    ``origins`` ([(nvra, url)]) becomes an ``origin`` record."""
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
    if origins is not None:
        records.append(("origin", _write_origins(tmp, origins)))
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


def _koji_included_srpms(repos):
    """{srpm name: (repo index, source rpm file name)} as mergerepo_c --koji decides it: the
    first repo with a package built from that name wins it, and within that repo its newest
    SRPM (rpm version order)."""
    include = {}
    for index, (_label, pkgs) in enumerate(repos):
        for pkg in pkgs:
            nvr = _srpm_nvr(pkg)
            if nvr is None:
                continue
            have = include.get(nvr[0])
            if have is not None:
                if have[0] != index:
                    continue
                old = _srpm_nvr_from_name(have[1])
                if rpm.labelCompare(("0", nvr[1], nvr[2]), ("0", old[1], old[2])) < 1:
                    continue
            include[nvr[0]] = (index, pkg.rpm_sourcerpm)
    return include


def _srpm_nvr_from_name(filename):
    return filename[:-len(".rpm")].rsplit(".", 1)[0].rsplit("-", 2)


def merge_packages(internal, externals, mode, blocked=()):
    """Apply a merge mode (see the module docstring for the rules).

    ``internal``: cr.Package list of the tag (repo 0); ``externals``: list of (label,
    [cr.Package]) in priority order; ``blocked``: SRPM names to drop (koji and simple modes).
    Returns (kept packages, {label: dropped count}); the kept list is in repo order."""
    if mode not in MERGE_MODES:
        raise RepoGenError(f"merge mode {mode!r} is not one of {', '.join(MERGE_MODES)}")
    repos = [(None, list(internal))] + list(externals)
    blocked = set(blocked) if mode != "bare" else set()
    include = _koji_included_srpms(repos) if mode == "koji" else {}
    kept, dropped = [], {}
    seen_nvra, seen_nevra = set(), set()
    for index, (label, pkgs) in enumerate(repos):
        count = 0
        for pkg in pkgs:
            nvr = _srpm_nvr(pkg)
            if nvr is not None and nvr[0] in blocked:
                count += 1
                continue
            if mode == "koji":
                if nvr is not None and include.get(nvr[0]) != (index, pkg.rpm_sourcerpm):
                    count += 1
                    continue
                if _nvra(pkg) in seen_nvra:
                    count += 1
                    continue
            elif mode == "bare" and _nevra(pkg) in seen_nevra:
                count += 1
                continue
            seen_nvra.add(_nvra(pkg))
            seen_nevra.add(_nevra(pkg))
            kept.append(pkg)
        if label is not None:
            dropped[label] = count
    return kept, dropped


def _write_origins(arch_dir, origins):
    """``pkgorigins.gz`` (NVRA, tab, repo URL per line), as mergerepo_c writes for Koji."""
    path = os.path.join(arch_dir, "pkgorigins.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write("".join(f"{nvra}\t{url}\n" for nvra, url in origins).encode())
    return path


class DumpedRepodata:
    """The repodata this builder's createrepo tasks wrote with the createrepo_c library this
    process loads (its ``createrepo_c`` program or :mod:`~pungi_like.rpmtools.repowrite`),
    known by the SHA-256 of each repomd.xml: one empty file per repomd in ``directory`` (the
    builder's work directory: a repo's repodata is uploaded and moved into the hub's repo
    byte for byte, so the hub's copy has the same repomd). The records of such repodata are
    what this library dumps, so the next repo's can be taken verbatim
    (:func:`repowrite.trust`). Repodata written by another builder or another library
    version is not known here: createrepo_c runs for it, as before."""

    #: markers kept (the newest; one per repo written)
    KEEP = 200

    def __init__(self, directory):
        self.directory = directory

    def _marker(self, repo_dir):
        from ...rpmtools import repowrite

        try:
            digest = repowrite._repomd_digest(repo_dir)
        except OSError:
            return None
        return os.path.join(self.directory, "%s-%s" % (cr.VERSION, digest))

    def knows(self, repo_dir):
        marker = self._marker(repo_dir)
        return marker is not None and os.path.exists(marker)

    def note(self, repo_dir):
        marker = self._marker(repo_dir)
        if marker is None:
            return
        os.makedirs(self.directory, exist_ok=True)
        with open(marker, "w"):
            pass
        names = os.listdir(self.directory)
        if len(names) > self.KEEP:
            paths = sorted((os.path.join(self.directory, n) for n in names),
                           key=lambda p: os.stat(p).st_mtime_ns)
            for path in paths[:len(paths) - self.KEEP]:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _write_from_records(arch_dir, pkglist, groupfile, log_path, old_dir, dumped):
    """The repodata ``createrepo_c --update --skip-stat`` writes from ``old_dir``'s, written
    by :func:`repowrite.write_repo` from the records of that repodata when this builder
    dumped it (``dumped``, :class:`DumpedRepodata`): each record of the very file (same name,
    size and mtime) is taken as it is, the other files are read; the bytes are createrepo_c's
    (rpmtools/repowrite.py). A tenth of the packages without a record or more, and what
    write_repo does not write, are left to createrepo_c. Returns True when written."""
    from ...rpmtools import repowrite

    if dumped is None or not dumped.knows(old_dir):
        return False
    reason = repowrite.unsupported()
    if reason is None:
        with open(pkglist, encoding="utf-8") as fh:
            rels = [line.strip() for line in fh if line.strip()]
        repowrite.trust(old_dir)
        try:
            result = repowrite.write_repo(arch_dir, arch_dir, rels, sources=[old_dir],
                                          groupfile=groupfile, group_compressed=True,
                                          max_read=max(50, len(rels) // 10))
        except Exception as exc:   # (a file gone: createrepo_c --skip-stat does not look)
            reason = "%s: %s" % (type(exc).__name__, exc)
        else:
            repowrite.log_result(log_path, arch_dir, result, [old_dir])
            dumped.note(arch_dir)
            return True
    repowrite.log_fallback(log_path, arch_dir, reason)
    return False


def _createrepo_maybe_update(arch_dir, groupfile, log_path, old_dir, dumped=None):
    """kojid's create_local_repo: with the previous repo's repodata (``old_dir``) copied into
    the output first, ``createrepo_c --update --skip-stat`` (kojid's createrepo_update and
    createrepo_skip_stat, both on by default) takes the records of the packages it lists
    from there, by file name (a build's files never change under the same name), instead of
    reading those RPMs; the old ``pkgorigins.gz`` is dropped as kojid does. When this
    builder wrote ``old_dir``'s repodata (``dumped``), the same repodata is written from its
    records in this process instead (:func:`_write_from_records`; at 1,000 packages
    createrepo_c took 60-64 ms of CPU for it, this 26-33 ms)."""
    pkglist = os.path.join(arch_dir, "pkglist")
    if old_dir and os.path.isfile(os.path.join(old_dir, "repodata", "repomd.xml")):
        if _write_from_records(arch_dir, pkglist, groupfile, log_path, old_dir, dumped):
            return
        try:
            repodata = os.path.join(arch_dir, "repodata")
            shutil.rmtree(repodata, ignore_errors=True)
            shutil.copytree(os.path.join(old_dir, "repodata"), repodata)
            origins = os.path.join(repodata, "pkgorigins.gz")
            if os.path.isfile(origins):
                os.unlink(origins)
            createrepo(arch_dir, pkglist=pkglist, groupfile=groupfile, update=True,
                       skip_stat=True, log_path=log_path, mark_dumper=dumped is not None)
            _note_dumped(arch_dir, dumped)
            return
        except Exception as exc:  # any failure: the scratch run below decides
            if log_path:
                with open(log_path, "a", encoding="utf-8") as fh:
                    fh.write(f"# --update from {old_dir} failed ({exc}); from scratch\n")
            shutil.rmtree(os.path.join(arch_dir, "repodata"), ignore_errors=True)
            shutil.rmtree(os.path.join(arch_dir, ".repodata"), ignore_errors=True)
    createrepo(arch_dir, pkglist=pkglist, groupfile=groupfile, update=False, log_path=log_path,
               mark_dumper=dumped is not None)
    _note_dumped(arch_dir, dumped)


def _note_dumped(arch_dir, dumped):
    """Remember ``arch_dir``'s repodata in ``dumped`` when this library's createrepo_c
    program wrote it (createrepo's ``mark_dumper``)."""
    if dumped is not None:
        from ...rpmtools import repowrite

        if repowrite.is_trusted(arch_dir):
            dumped.note(arch_dir)


def generate_repo(outdir, rpm_paths_by_arch, *, arches, comps_xml=None, external_repos=(),
                  blocked=(), topdir=None, log_path=None, cache_dir=None, update_from=None,
                  dumped=None):
    """Write ``<outdir>/<arch>/repodata`` for each of ``arches``.

    ``rpm_paths_by_arch``: {arch: [rpm paths]}; ``noarch`` packages (key ``noarch``) go into
    every arch, as Koji's repo_init puts them in every arch's pkglist.  ``comps_xml``: a file
    path or the XML text.  ``external_repos``: [(url_or_path, priority, merge_mode)].
    ``blocked``: package names blocked in the tag.  Returns {arch: {"repodir", "packages",
    "internal", "external" ({url: kept}), "dropped", "seconds"}}.  ``cache_dir``: where the
    repodata of http(s) external repos is fetched to (default: ``<outdir>/.extrepos``, removed
    afterwards).  ``update_from``: {arch: directory holding the previous repo's ``repodata/``}:
    as kojid's ``createrepo_update`` (with ``createrepo_skip_stat``), that repodata is copied
    into the output and createrepo_c takes the records of the packages it still lists from it
    (``--update --skip-stat``: by file name; a build's files never change under the same
    name); if that run fails (say the old repo was deleted meanwhile) it runs again from
    scratch.  Not used with external repos (merged in Python).  ``dumped``: a
    :class:`DumpedRepodata`; the previous repo's repodata that it knows is not given to
    createrepo_c but its records taken as they are (the same bytes), and the repodata written
    here is noted in it.
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
            prefix = topdir_abs.rstrip(os.sep) + os.sep
            for p in paths:
                # a normalised path below the topdir needs no relpath (1,000 of them: 20 ms)
                rel = p[len(prefix):] if p.startswith(prefix) and os.path.normpath(p) == p \
                    else os.path.relpath(os.path.abspath(p), topdir_abs)
                if rel.startswith(".."):
                    raise RepoGenError(f"{p} is not under the topdir {topdir_abs}")
                hrefs.append(f"toplink/{rel}")
        else:
            for p in paths:
                link_file(p, os.path.join(arch_dir, "Packages", os.path.basename(p)))
                hrefs.append(f"Packages/{os.path.basename(p)}")
        # (a work file createrepo_c reads next: not synced)
        write_atomic(os.path.join(arch_dir, "pkglist"), "".join(h + "\n" for h in hrefs),
                     fsync=False)
        info = {"repodir": arch_dir, "internal": len(hrefs), "external": {}, "dropped": {}}
        if not externals:
            if hrefs:
                _createrepo_maybe_update(arch_dir, groupfile, log_path,
                                         (update_from or {}).get(arch), dumped)
            else:
                _write_repodata(arch_dir, [], groupfile, log_path)
            info["packages"] = len(hrefs)
        else:
            internal = [cr.package_from_rpm(os.path.join(arch_dir, h), checksum_type=cr.SHA256,
                                            location_href=h, changelog_limit=10)
                        for h in hrefs]
            wanted = _arch_set(arch)
            ext_lists = []
            fetch_root = cache_dir or os.path.join(outdir, ".extrepos")
            try:
                for n, (url, _prio, _mode) in enumerate(externals):
                    url = url.replace("$arch", arch)
                    pkgs = [p for p in _load_external(url, arch,
                                                      os.path.join(fetch_root, f"{arch}-{n}"))
                            if p.arch in wanted]
                    ext_lists.append((url, pkgs))
            finally:
                if not cache_dir:
                    shutil.rmtree(fetch_root, ignore_errors=True)
            kept, dropped = merge_packages(internal, ext_lists, mode, blocked)
            origins = [(_nvra(p), p.location_base.rstrip("/") + "/") for p in kept
                       if p.location_base]
            kept.sort(key=lambda p: (p.name, p.arch, p.version, p.release))
            _write_repodata(arch_dir, kept, groupfile, log_path, origins=origins)
            info["packages"] = len(kept)
            info["dropped"] = dropped
            for url, pkgs in ext_lists:
                info["external"][url] = info["external"].get(url, 0) + len(pkgs) - dropped[url]
        info["merge_mode"] = mode
        info["seconds"] = round(time.monotonic() - t0, 2)
        results[arch] = info
    return results
