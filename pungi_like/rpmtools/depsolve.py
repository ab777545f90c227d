"""The libsolv pool a gather works on, and what a gather returns.

:class:`Depsolver` loads repos (package set and lookaside repos) for one tree arch into a libsolv
pool (file provides from filelists included) and indexes the newest version of each name.arch;
:class:`GatherResult` holds what a gather decided. The gather rules themselves (Pungi 4.3.2's deps
and nodeps methods) are in :mod:`pungi_like.rpmtools.gathering`.
"""

import fnmatch
import json
import logging
import os
import re
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, field

import solv

from ..errors import PhaseError, PungiLikeError
from . import arches as archmod
from .headers import is_debug_name
from .repodata import repomd_locations

log = logging.getLogger("pungi_like.depsolve")

GREEDY_METHODS = ("none", "all", "build")
# an href normpath leaves as it is below a normalised directory: no empty, "." or ".." part
_PLAIN_HREF = re.compile(r"(?:(?!\.\.?/)[^/]+/)*(?!\.\.?$)[^/]+")
GLOB_CHARS = set("*?[")
_UNIQUE_LOCK = threading.Lock()


@dataclass
class Repo:
    """A repo to gather from (``lookaside`` repos satisfy deps but never enter the tree)."""
    name: str
    path: str
    lookaside: bool = False


@dataclass
class GatheredPackage:
    name: str
    epoch: int
    version: str
    release: str
    arch: str
    path: str
    sourcerpm: str
    repo: str
    flags: set = field(default_factory=set)

    @property
    def nevra(self):
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"

    @property
    def filename(self):
        return os.path.basename(self.path)

    def as_dict(self):
        return {"nevra": self.nevra, "path": self.path, "sourcerpm": self.sourcerpm,
                "repo": self.repo, "flags": sorted(self.flags)}


@dataclass
class GatherResult:
    """What one gather decided. Keys of the dicts are NEVRAs (with epoch)."""
    binary: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    debug: dict = field(default_factory=dict)
    lookaside: dict = field(default_factory=dict)   # packages taken from lookaside repos
    missing: list = field(default_factory=list)      # inputs that matched nothing
    filtered: list = field(default_factory=list)     # inputs that matched only filtered packages
    broken_deps: list = field(default_factory=list)  # [(dependency, requirer NEVRA)]
    missing_sources: list = field(default_factory=list)

    def srpm_nevra(self, pkg):
        """NEVRA of the source package of ``pkg`` (guessed from its file name if absent)."""
        for src in self.source.values():
            if src.filename == pkg.sourcerpm:
                return src.nevra
        return nevra_from_filename(pkg.sourcerpm, pkg.epoch)

    def broken_deps_messages(self):
        return [f"Unresolvable dependency {dep} in {who}" for dep, who in self.broken_deps]

    def check(self):
        """Raise PhaseError listing every broken dependency, if any."""
        if self.broken_deps:
            raise PhaseError("\n".join(self.broken_deps_messages() + ["Unresolved dependencies detected"]))

    def names(self, category="binary"):
        return sorted({p.name for p in getattr(self, category).values()})

    def filenames(self, category="binary"):
        return sorted(p.filename for p in getattr(self, category).values())

    def __reduce__(self):
        """Pickled as rows of plain values (a gather worker hands its result over): the
        unit's thread rebuilds 50,000 packages in 0.1 s instead of unpickling 0.3 s of
        objects one attribute dict at a time."""
        def pack(d):
            return [(k, p.name, p.epoch, p.version, p.release, p.arch, p.path, p.sourcerpm,
                     p.repo, tuple(p.flags)) for k, p in d.items()]
        return (_unpack_result, (pack(self.binary), pack(self.source), pack(self.debug),
                                 pack(self.lookaside), self.missing, self.filtered,
                                 self.broken_deps, self.missing_sources))

    def as_json(self):
        """``json.dumps(self.as_dict(), indent=4, sort_keys=True, separators=(",", ": "))``,
        the same text, written without the standard library's pure-Python indenting encoder
        (the record of a 50,000-package tree took it 0.4 s)."""
        dumps = json.dumps
        data = self.as_dict_shallow()
        out = []
        sep = "{\n    "
        for key in sorted(data):
            out.append(sep + dumps(key) + ": ")
            sep = ",\n    "
            items = data[key]
            if not items:
                out.append("[]")
                continue
            parts = []
            for item in items:
                if isinstance(item, GatheredPackage):
                    flags = ("[]" if not item.flags else "[\n                "
                             + ",\n                ".join(dumps(f) for f in sorted(item.flags))
                             + "\n            ]")
                    parts.append("{\n            \"flags\": " + flags
                                 + ",\n            \"nevra\": " + dumps(item.nevra)
                                 + ",\n            \"path\": " + dumps(item.path)
                                 + ",\n            \"repo\": " + dumps(item.repo)
                                 + ",\n            \"sourcerpm\": " + dumps(item.sourcerpm)
                                 + "\n        }")
                else:
                    parts.append(dumps(item, indent=4, sort_keys=True, separators=(",", ": "))
                                 .replace("\n", "\n        "))
            out.append("[\n        " + ",\n        ".join(parts) + "\n    ]")
        out.append("\n}" if out else "{}")
        return "".join(out)

    def as_dict_shallow(self):
        """:meth:`as_dict` with the packages left as :class:`GatheredPackage` objects."""
        def dump(d):
            return [d[k] for k in sorted(d)]
        return {"rpm": dump(self.binary), "srpm": dump(self.source), "debuginfo": dump(self.debug),
                "lookaside": dump(self.lookaside), "missing": sorted(self.missing),
                "filtered": sorted(self.filtered),
                "broken_deps": [list(x) for x in sorted(self.broken_deps)],
                "missing_sources": sorted(self.missing_sources)}

    def as_dict(self):
        def dump(d):
            return [d[k].as_dict() for k in sorted(d)]
        return {"rpm": dump(self.binary), "srpm": dump(self.source), "debuginfo": dump(self.debug),
                "lookaside": dump(self.lookaside), "missing": sorted(self.missing),
                "filtered": sorted(self.filtered),
                "broken_deps": [list(x) for x in sorted(self.broken_deps)],
                "missing_sources": sorted(self.missing_sources)}


def _unpack_result(binary, source, debug, lookaside, missing, filtered, broken_deps,
                   missing_sources):
    def unpack(rows):
        return {k: GatheredPackage(n, e, v, r, a, path, srpm, repo, set(flags))
                for k, n, e, v, r, a, path, srpm, repo, flags in rows}
    return GatherResult(unpack(binary), unpack(source), unpack(debug), unpack(lookaside),
                        missing, filtered, broken_deps, missing_sources)


def nevra_from_filename(filename, epoch=0):
    base = filename[:-4] if filename.endswith(".rpm") else filename
    nvr, _, arch = base.rpartition(".")
    nv, _, release = nvr.rpartition("-")
    name, _, version = nv.rpartition("-")
    return f"{name}-{epoch or 0}:{version}-{release}.{arch}"


def _split_evr(evr):
    epoch = 0
    if ":" in evr:
        e, evr = evr.split(":", 1)
        epoch = int(e or 0)
    version, _, release = evr.rpartition("-")
    return epoch, version, release


def _open_metadata(path, tmpfiles):
    """A solv file handle for a (possibly zstd-compressed) metadata file."""
    if path.endswith(".zst"):
        import zstandard
        fd, tmp = tempfile.mkstemp(suffix=".xml")
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
        tmpfiles.append(tmp)
        path = tmp
    handle = solv.xfopen(path)
    if handle is None:
        raise PungiLikeError(f"{path}: libsolv cannot open this metadata file")
    return handle


class _Pkg:
    """What we keep about one solvable."""
    __slots__ = ("sid", "name", "arch", "epoch", "version", "release", "path", "sourcerpm",
                 "repo", "lookaside", "debug", "solvable")

    def __init__(self, s, repo, path):
        self.sid = s.id
        self.solvable = s
        self.name = s.name
        self.arch = s.arch
        self.epoch, self.version, self.release = _split_evr(s.evr)
        self.path = path
        self.sourcerpm = s.lookup_sourcepkg() or ""
        self.repo = repo
        self.lookaside = repo.lookaside
        self.debug = is_debug_name(self.name)

    @property
    def nevra(self):
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"

    @property
    def is_source(self):
        return self.arch in archmod.SOURCE_ARCHES

    def moved(self, repo, path):
        """The same solvable as a package of ``repo`` at ``path``."""
        pkg = _Pkg.__new__(_Pkg)
        pkg.sid, pkg.solvable, pkg.name, pkg.arch = self.sid, self.solvable, self.name, self.arch
        pkg.epoch, pkg.version, pkg.release = self.epoch, self.version, self.release
        pkg.sourcerpm, pkg.debug = self.sourcerpm, self.debug
        pkg.repo, pkg.lookaside, pkg.path = repo, repo.lookaside, path
        return pkg

    def gathered(self, flags):
        return GatheredPackage(self.name, self.epoch, self.version, self.release, self.arch,
                               self.path, self.sourcerpm, self.repo.name, set(flags))


class Depsolver:
    """libsolv pool of the package set (+ lookaside repos) for one tree arch."""

    def __init__(self, repos, arch, index=True):
        """Load ``repos`` for tree ``arch``; with ``index`` False only the pool is made (no
        per-package records: what a closure check needs)."""
        self.arch = arch
        self.index = index
        self.srepos = {}
        self.repos = list(repos)
        self.pool = solv.Pool()
        self.pool.setdisttype(solv.Pool.DISTTYPE_RPM)
        self.pool.setarch(arch)
        self.pkgs = {}
        tmpfiles = []
        try:
            for repo in self.repos:
                self._load(repo, tmpfiles)
        finally:
            for tmp in tmpfiles:
                os.unlink(tmp)
        self.pool.addfileprovides()
        self.pool.createwhatprovides()
        if index:
            self._index()

    @classmethod
    def view(cls, solver, repo, packages):
        """A solver for ``repo`` (one repo, not a lookaside) made of packages ``solver`` has
        loaded already instead of loading ``repo``'s metadata: ``packages`` is ``[(package of
        solver, path in repo)]`` in the order ``repo`` lists them, and the repo's metadata
        must describe each as ``solver``'s did (the same records: a package set repo written
        from the records of the repos the closure's solver loaded). The pool is ``solver``'s
        (its other packages are in no index; the gathers take providers from the indexes only),
        so the view's package ids differ from a load of ``repo``; a gather compares them
        only among source packages or among the others, so each of the two kinds must be in
        the repo's order in the pool too. None when they are not (a load of ``repo`` then)."""
        if repo.lookaside or not solver.index:
            return None
        for kind in (True, False):
            sids = [pkg.sid for pkg, _path in packages if pkg.is_source is kind]
            if any(a >= b for a, b in zip(sids, sids[1:])):
                return None
        view = cls.__new__(cls)
        view.arch, view.index, view.repos, view.srepos = solver.arch, True, [repo], {}
        view.pool = solver.pool
        view.pkgs = {}
        for pkg, path in packages:
            view.pkgs[pkg.sid] = pkg.moved(repo, path)
        view._index()
        return view

    def _load(self, repo, tmpfiles):
        locations = repomd_locations(repo.path)
        srepo = self.pool.add_repo(repo.name)
        handle = _open_metadata(locations["primary"], tmpfiles)
        srepo.add_rpmmd(handle, None, 0)
        handle.close()
        if "filelists" in locations:
            handle = _open_metadata(locations["filelists"], tmpfiles)
            srepo.add_rpmmd(handle, None, solv.Repo.REPO_EXTEND_SOLVABLES)
            handle.close()
        srepo.internalize()
        self.srepos[repo.name] = srepo
        if not self.index:
            return
        prefixes = {}   # base (file:// URL or None) -> (directory, normalised directory + "/")
        for s in srepo.solvables:
            href = s.lookup_location()[0]
            base = s.lookup_str(solv.SOLVABLE_MEDIABASE)
            known = prefixes.get(base)
            if known is None:
                folder = base[len("file://"):] if base and base.startswith("file://") else repo.path
                known = prefixes[base] = (folder, os.path.join(os.path.normpath(folder), ""))
            folder, prefix = known
            if _PLAIN_HREF.fullmatch(href) and prefix.startswith("/"):
                # a plain relative href under an absolute directory: what normpath would give
                path = prefix + href
            else:
                path = os.path.normpath(os.path.join(folder, href))
            self.pkgs[s.id] = _Pkg(s, repo, path)

    def _index(self):
        """Keep the newest version of each (name, arch) over all repos (every copy of it:
        a lookaside repo and the package set may both hold the same build)."""
        best = {}
        for pkg in self.pkgs.values():
            key = (pkg.name, pkg.arch)
            others = best.get(key)
            if not others:
                best[key] = [pkg]
                continue
            cmp = pkg.solvable.evrcmp(others[0].solvable)
            if cmp > 0:
                best[key] = [pkg]
            elif cmp == 0:
                others.append(pkg)
        self.latest = {p.sid: p for copies in best.values() for p in copies}
        self.by_name = defaultdict(list)
        self.sources = {}                      # (lookaside, file name) -> _Pkg
        self.by_sourcerpm = defaultdict(list)  # file name -> binaries (set repos only)
        for pkg in sorted(self.latest.values(), key=lambda p: p.sid):
            if pkg.is_source:
                self.sources.setdefault((pkg.lookaside, os.path.basename(pkg.path)), pkg)
            else:
                self.by_name[pkg.name].append(pkg)
                if not pkg.lookaside:
                    self.by_sourcerpm[pkg.sourcerpm].append(pkg)

    # ---- helpers ----------------------------------------------------------------------------
    def unique_latest(self):
        """The newest packages in id order, one copy of a build per kind of repo (the first
        repo holding it wins); made once per solver (a solver host makes it before forking
        its workers); two gathers starting side by side over one solver made it twice."""
        every = getattr(self, "_unique_latest", None)
        if every is not None:
            return every
        with _UNIQUE_LOCK:
            every = getattr(self, "_unique_latest", None)
            if every is None:
                every, seen = [], set()
                for p in sorted(self.latest.values(), key=lambda x: x.sid):
                    key = (p.lookaside, p.name, p.epoch, p.version, p.release, p.arch)
                    if key not in seen:
                        seen.add(key)
                        every.append(p)
                self._unique_latest = every
        return every

    def package(self, path):
        """The package loaded from ``path``, or None."""
        by_path = getattr(self, "_by_path", None)
        if by_path is None:
            by_path = self._by_path = {p.path: p for p in self.pkgs.values()}
        # the paths are normalised: one asked for as a package gave it needs no normpath
        pkg = by_path.get(path)
        return pkg if pkg is not None else by_path.get(os.path.normpath(path))

    def buildtime(self, path):
        """The build time (repodata's ``time/@build``) of the package loaded from ``path``."""
        pkg = self.package(path)
        return pkg.solvable.lookup_num(solv.SOLVABLE_BUILDTIME) if pkg is not None else 0

    def providers(self, dep_str):
        dep = self.pool.Dep(dep_str)
        return [self.latest[s.id] for s in self.pool.whatprovides(dep) if s.id in self.latest]

    def match(self, pattern, arches):
        """Packages (latest versions) whose name matches ``pattern`` (a name, glob or
        ``name.arch``) and whose arch is in ``arches`` (an explicit arch is always accepted)."""
        def by_pattern(name_pattern):
            if GLOB_CHARS & set(name_pattern):
                return [p for n in fnmatch.filter(self.by_name, name_pattern) for p in self.by_name[n]]
            return list(self.by_name.get(name_pattern, []))

        found = [p for p in by_pattern(pattern) if p.arch in arches]
        if not found and "." in pattern:
            name_pattern, _, arch = pattern.rpartition(".")
            found = [p for p in by_pattern(name_pattern) if fnmatch.fnmatchcase(p.arch, arch)]
        return found
