"""Repodata: run createrepo_c, and read repos back into package records.

:func:`repo_from_records` writes a work repo (the package set's) from the records other repos
hold of the very same files (:mod:`pungi_like.rpmtools.repowrite`), createrepo_c's bytes without
reading each RPM again; :func:`createrepo` runs the command.

Repos are written gz-compressed by default because the PyPI ``solv`` wheel cannot read zstd
(see reference/toolchain.md); :func:`load_packages` reads any compression createrepo_c can.
"""

import os
import shutil
import sys
from dataclasses import dataclass, field

from ..lazyimport import lazy_module

from .. import tools
from . import repowrite
from ..errors import PungiLikeError

cr = lazy_module("createrepo_c", globals(), "cr")

CREATEREPO = "createrepo_c"


def library_binary(name=CREATEREPO):
    """The program ``name`` (createrepo_c, mergerepo_c) shipped with the createrepo_c library
    this process loads (the PyPI wheel's ``data/bin``), or None."""
    bin_dir = getattr(cr, "_BIN_DIR", None)
    candidate = os.path.join(bin_dir, name) if bin_dir else None
    return candidate if candidate and os.access(candidate, os.X_OK) else None


def createrepo_binary():
    """The createrepo_c CLI: the library's own program if it ships one, else the one installed
    beside our Python (venv/bin), else PATH's. The venv's ``createrepo_c`` is a Python script
    that starts an interpreter and imports the library only to run that same program: 0.08 s
    more per run on this machine kind."""
    lib = library_binary()
    if lib:
        return lib
    candidate = os.path.join(os.path.dirname(sys.executable), CREATEREPO)
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(CREATEREPO) or CREATEREPO


def createrepo_cmd(repo_dir, outputdir=None, pkglist=None, groupfile=None, checksum="sha256",
                   database=False, workers=3, update=True, update_md_path=None, skip_stat=False,
                   compress_type="gz", baseurl=None, unique_md_filenames=True, extra_args=()):
    """The createrepo_c command line (a list) for these options."""
    cmd = [createrepo_binary(), str(repo_dir)]
    if outputdir:
        cmd.append(f"--outputdir={outputdir}")
    if baseurl:
        cmd.append(f"--baseurl={baseurl}")
    if pkglist:
        cmd.append(f"--pkglist={pkglist}")
    if groupfile:
        cmd.append(f"--groupfile={groupfile}")
    if update:
        cmd.append("--update")
        for path in ([update_md_path] if isinstance(update_md_path, str) else (update_md_path or [])):
            cmd.append(f"--update-md-path={path}")
    if skip_stat:
        cmd.append("--skip-stat")
    cmd.append("--database" if database else "--no-database")
    cmd.append(f"--checksum={checksum}")
    cmd.append("--unique-md-filenames" if unique_md_filenames else "--simple-md-filenames")
    if workers:
        cmd.append(f"--workers={workers}")
    if compress_type:
        cmd.append(f"--general-compress-type={compress_type}")
    cmd.extend(extra_args)
    return cmd


def remove_stale_workdir(outputdir, log_path=None):
    """Remove the ``.repodata/`` a killed createrepo_c left in ``outputdir``: createrepo_c
    refuses to start while it exists ("Another createrepo process is running?"), and a compose
    resumed after a kill runs the tree's createrepo again (one unit per tree, so no other run
    can be using it)."""
    stale = os.path.join(outputdir, ".repodata")
    if os.path.isdir(stale):
        shutil.rmtree(stale)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(f"removed {stale}, left by an interrupted createrepo_c\n")


def createrepo(repo_dir, outputdir=None, pkglist=None, groupfile=None, checksum="sha256",
               database=False, workers=3, update=True, update_md_path=None, skip_stat=False,
               compress_type="gz", baseurl=None, unique_md_filenames=True, extra_args=(),
               log_path=None, mark_dumper=False):
    """Run createrepo_c on ``repo_dir``; the command, its output and duration go to ``log_path``.
    ``mark_dumper``: the repodata is a work repo whose records later repodata may take
    (:func:`pungi_like.rpmtools.repowrite.trust`).

    Returns the directory holding ``repodata/``.
    """
    os.makedirs(outputdir or repo_dir, exist_ok=True)
    remove_stale_workdir(outputdir or repo_dir, log_path)
    cmd = createrepo_cmd(repo_dir, outputdir=outputdir, pkglist=pkglist, groupfile=groupfile,
                         checksum=checksum, database=database, workers=workers, update=update,
                         update_md_path=update_md_path, skip_stat=skip_stat,
                         compress_type=compress_type, baseurl=baseurl,
                         unique_md_filenames=unique_md_filenames, extra_args=extra_args)
    tools.run(cmd, log_path=log_path)
    if mark_dumper and cmd[0] in (library_binary(),
                                  os.path.join(os.path.dirname(sys.executable), CREATEREPO)):
        # the command of the library this process loads dumped every record
        repowrite.trust(outputdir or repo_dir, mark=True)
    return outputdir or repo_dir


def repo_from_records(repo_dir, outputdir, pkglist, sources=(), checksum="sha256", baseurl=None,
                      log_path=None, **options):
    """The repodata :func:`createrepo` writes for the files listed in ``pkglist`` (relative to
    ``repo_dir``; no groupfile, gz, no database), written from the records ``sources`` (repo
    dirs) hold of the very same files (:mod:`pungi_like.rpmtools.repowrite`: the same bytes).
    createrepo_c runs (with ``options``) where the records do not pay; the log says why. For
    work repos (a package set's): later repodata takes its records verbatim, also in another
    process (:data:`pungi_like.rpmtools.repowrite.MARK`)."""
    with open(pkglist, encoding="utf-8") as fh:
        relpaths = [line.strip() for line in fh if line.strip()]
    reason = repowrite.unsupported(database=options.get("database"),
                                   compress_type=options.get("compress_type", "gz"),
                                   extra_args=options.get("extra_args") or ())
    if reason is None:
        max_read = max(50, len(relpaths) // 10)
        remove_stale_workdir(outputdir, log_path)
        if (not sources or len(relpaths) <= repowrite.FEW
                or any(repowrite.is_trusted(src) for src in sources)):
            try:
                result = repowrite.write_repo(repo_dir, outputdir, relpaths, sources=sources,
                                              checksum=checksum, baseurl=baseurl,
                                              max_read=max_read, mark=True)
            except repowrite.RepoWriteError as exc:
                reason = str(exc)
            else:
                repowrite.log_result(log_path, outputdir, result, sources)
                return outputdir
        else:
            # only another createrepo_c's records: parsing and dumping them again takes one core
            # for seconds (4.2-4.4 s CPU for 63,000), createrepo_c's workers read the files on
            # every free core beside this process's header reads (2.4-3.8 s shorter a package
            # set at 60,000 RPMs, load 5-7); its repodata is marked, so what follows takes
            # its records
            reason = (f"the records of {', '.join(sources)} would be parsed again; "
                      "createrepo_c's workers read the files on every core")
    repowrite.log_fallback(log_path, outputdir, reason)
    return createrepo(repo_dir, outputdir=outputdir, pkglist=pkglist, checksum=checksum,
                      baseurl=baseurl, log_path=log_path, mark_dumper=True, **options)


@dataclass
class RepoPackage:
    """One package of a repo as repodata describes it."""
    name: str
    epoch: str
    version: str
    release: str
    arch: str
    location: str           # href relative to the repo (or to base)
    path: str               # absolute file path when the repo is local
    sourcerpm: str = ""
    pkgid: str = ""
    size: int = 0
    requires: list = field(default_factory=list)
    provides: list = field(default_factory=list)

    @property
    def nevra(self):
        return f"{self.name}-{self.epoch or 0}:{self.version}-{self.release}.{self.arch}"

    @property
    def filename(self):
        return os.path.basename(self.location)


def repo_path(url_or_path, base_dir=None):
    """A local directory for a repo given as a path (relative to ``base_dir``) or file:// URL."""
    if url_or_path.startswith("file://"):
        return url_or_path[len("file://"):]
    if "://" in url_or_path:
        raise PungiLikeError(f"{url_or_path}: only local repos (paths or file:// URLs) are supported")
    if base_dir and not os.path.isabs(url_or_path):
        return os.path.normpath(os.path.join(base_dir, url_or_path))
    return url_or_path


def repomd_locations(repo_dir):
    """``{type: absolute path}`` of the metadata files listed in repomd.xml."""
    repomd_file = os.path.join(repo_dir, "repodata", "repomd.xml")
    if not os.path.exists(repomd_file):
        raise PungiLikeError(f"{repo_dir}: not a repository (no repodata/repomd.xml)")
    repomd = cr.Repomd(repomd_file)
    return {rec.type: os.path.join(repo_dir, rec.location_href) for rec in repomd.records}


def load_packages(repo_dir):
    """Every package of a local repo as :class:`RepoPackage` records (from primary.xml)."""
    locations = repomd_locations(repo_dir)
    if "primary" not in locations:
        raise PungiLikeError(f"{repo_dir}: repomd.xml lists no primary metadata")
    packages = []

    def on_package(pkg):
        base = pkg.location_base or ""
        if base.startswith("file://"):
            path = os.path.join(base[len("file://"):], pkg.location_href)
        else:
            path = os.path.join(repo_dir, pkg.location_href)
        packages.append(RepoPackage(
            name=pkg.name, epoch=pkg.epoch or "0", version=pkg.version, release=pkg.release,
            arch=pkg.arch, location=pkg.location_href, path=os.path.normpath(path),
            sourcerpm=pkg.rpm_sourcerpm or "", pkgid=pkg.pkgId, size=pkg.size_package or 0,
            requires=[r[0] for r in pkg.requires], provides=[p[0] for p in pkg.provides]))

    cr.xml_parse_primary(locations["primary"], pkgcb=on_package, do_files=False)
    packages.sort(key=lambda p: (p.name, p.arch, p.location))
    return packages


# createrepo_c --update-md-path parses the whole old metadata (primary, filelists, other) on one
# thread, while reading packages runs on its workers; it pays only when the package files are
# large against that metadata. Measured with createrepo_c 1.2.5 on 2 cores: the 10,000-RPM
# synthetic universe (65 MB of RPMs, 5.6 MB of compressed metadata: 12x) took 4.7-5.2 s with
# reuse against 3.6-3.9 s without; distribution RPMs are hundreds of times larger than their
# metadata records, and there reuse saves reading and checksumming every file.
REUSE_MIN_RATIO = 50


def metadata_bytes(repo_dirs):
    """Compressed size of the primary, filelists and other metadata of ``repo_dirs``."""
    total = 0
    for repo in repo_dirs:
        try:
            locations = repomd_locations(repo)
        except PungiLikeError:
            continue
        for kind in ("primary", "filelists", "other"):
            if kind in locations and os.path.exists(locations[kind]):
                total += os.path.getsize(locations[kind])
    return total


def update_md_sources(repo_dirs, paths):
    """The repos of ``repo_dirs`` createrepo_c ``--update`` should take records from for the
    files ``paths``: none written in the second of a file's mtime or before (it takes a record
    by name, size and whole-second mtime: :func:`repowrite.written_after`), and none at all
    unless the files are large enough for that to pay (:func:`reuse_worthwhile`)."""
    if not repo_dirs:
        return []
    stats = [os.stat(path) for path in paths]
    newest = max((st.st_mtime_ns for st in stats), default=0)
    found = [src for src in repo_dirs if repowrite.written_after(src, newest)]
    return found if reuse_worthwhile(found, sum(st.st_size for st in stats)) else []


def reuse_worthwhile(repo_dirs, package_bytes):
    """Whether createrepo_c should take records from ``repo_dirs`` (see REUSE_MIN_RATIO) for
    packages of ``package_bytes`` in all."""
    md = metadata_bytes(repo_dirs)
    return bool(md) and package_bytes >= REUSE_MIN_RATIO * md
