"""Gathering the packages of one tree with libsolv.

Inputs are package *names* (globs, optionally ``name.arch``) and comps groups, as in Pungi. Two
methods:

``deps``    the inputs plus the closure of their Requires (and, on request, of the BuildRequires
            of their source packages, of every binary built from the same sources, and of
            multilib builds), then the source and debug packages of everything chosen.
``nodeps``  the inputs only (plus multilib builds the methods ask for), then sources and debug
            packages.

A compose tree is not an install transaction: conflicting packages may both be in it, and a
Requires with several providers is answered by policy (``greedy``), so the closure is computed
here on top of libsolv's provider index (``Pool.whatprovides``, which knows file provides from
filelists once ``addfileprovides`` ran) rather than by one solver job.

Provider policy for ``greedy="none"``: a Requires already satisfied by a chosen (or lookaside)
package adds nothing; otherwise lookaside providers win (they satisfy the dependency without
entering the tree); otherwise one provider is picked: one built from the same source package as
the requirer first, then the best arch for the requirer (native for native packages, the
multilib arch for multilib ones, then noarch), then the shortest name, then the name. Only the
highest version of each name.arch of the package set is ever considered. ``greedy="all"`` takes
every provider; ``greedy="build"`` takes the best one and every other provider built from the
same source package.
"""

import fnmatch
import logging
import os
import tempfile
from collections import defaultdict, deque
from dataclasses import dataclass, field

import solv

from ..errors import PhaseError, PungiLikeError
from . import arches as archmod
from . import multilib as multilibmod
from .headers import is_debug_name
from .repodata import repomd_locations

log = logging.getLogger("pungi_like.depsolve")

GREEDY_METHODS = ("none", "all", "build")
GLOB_CHARS = set("*?[")


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
        return _nevra_from_filename(pkg.sourcerpm, pkg.epoch)

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

    def as_dict(self):
        def dump(d):
            return [d[k].as_dict() for k in sorted(d)]
        return {"rpm": dump(self.binary), "srpm": dump(self.source), "debuginfo": dump(self.debug),
                "lookaside": dump(self.lookaside), "missing": sorted(self.missing),
                "filtered": sorted(self.filtered),
                "broken_deps": [list(x) for x in sorted(self.broken_deps)],
                "missing_sources": sorted(self.missing_sources)}


def _nevra_from_filename(filename, epoch=0):
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

    def gathered(self, flags):
        return GatheredPackage(self.name, self.epoch, self.version, self.release, self.arch,
                               self.path, self.sourcerpm, self.repo.name, set(flags))


class Depsolver:
    """libsolv pool of the package set (+ lookaside repos) for one tree arch."""

    def __init__(self, repos, arch):
        self.arch = arch
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
        self._index()

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
        for s in srepo.solvables:
            href = s.lookup_location()[0]
            base = s.lookup_str(solv.SOLVABLE_MEDIABASE)
            if base and base.startswith("file://"):
                path = os.path.join(base[len("file://"):], href)
            else:
                path = os.path.join(repo.path, href)
            self.pkgs[s.id] = _Pkg(s, repo, os.path.normpath(path))

    def _index(self):
        """Keep the highest version of each (name, arch), per kind of repo (set/lookaside)."""
        best = {}
        for pkg in self.pkgs.values():
            key = (pkg.lookaside, pkg.name, pkg.arch)
            other = best.get(key)
            if other is None or pkg.solvable.evrcmp(other.solvable) > 0:
                best[key] = pkg
        self.latest = {p.sid: p for p in best.values()}
        self.by_name = defaultdict(list)
        self.sources = {}                      # (lookaside, file name) -> _Pkg
        self.by_sourcerpm = defaultdict(list)  # file name -> binaries (set repos only)
        for pkg in self.latest.values():
            if pkg.is_source:
                self.sources[(pkg.lookaside, os.path.basename(pkg.path))] = pkg
            else:
                self.by_name[pkg.name].append(pkg)
                if not pkg.lookaside:
                    self.by_sourcerpm[pkg.sourcerpm].append(pkg)

    # ---- helpers ----------------------------------------------------------------------------
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


def _matches_any(pkg, patterns):
    for pattern in patterns:
        if fnmatch.fnmatchcase(pkg.name, pattern) or fnmatch.fnmatchcase(f"{pkg.name}.{pkg.arch}", pattern):
            return True
    return False


class _Gather:
    """One gather run (state of the closure)."""

    def __init__(self, solver, *, greedy, fulltree, selfhosting, multilib_methods,
                 multilib_whitelist, multilib_blacklist, filter_packages, fulltree_excludes,
                 with_source, with_debug):
        if greedy not in GREEDY_METHODS:
            raise PungiLikeError(f"greedy method {greedy!r} is not one of {', '.join(GREEDY_METHODS)}")
        self.s = solver
        self.tree_arch = solver.arch
        self.native = set(archmod.native_arches(solver.arch)) | {"noarch"}
        self.multi = set(archmod.multilib_arches(solver.arch))
        self.greedy = greedy
        self.fulltree = fulltree
        self.selfhosting = selfhosting
        self.ml_methods = [m for m in (multilib_methods or []) if m != "none"]
        self.ml_whitelist = list(multilib_whitelist or [])
        self.ml_blacklist = list(multilib_blacklist or [])
        self.filters = list(filter_packages or [])
        self.fulltree_excludes = set(fulltree_excludes or [])
        self.with_source = with_source
        self.with_debug = with_debug
        self.chosen = {}      # sid -> flags (binaries entering the tree, debug ones included)
        self.lookaside = {}   # sid -> flags
        self.queue = deque()
        self.result = GatherResult()
        self._broken = set()

    # ---- bookkeeping ----------------------------------------------------------------------
    def allowed(self, pkg, multilib_class=False):
        if pkg.is_source or pkg.debug:
            return False
        arches = (self.multi | {"noarch"}) if multilib_class else self.native
        return pkg.arch in arches and not (not pkg.lookaside and _matches_any(pkg, self.filters))

    def add(self, pkg, flag):
        target = self.lookaside if pkg.lookaside else self.chosen
        if pkg.sid in target:
            target[pkg.sid].add(flag)
            return False
        target[pkg.sid] = {flag} | ({"lookaside"} if pkg.lookaside else set())
        if not pkg.lookaside:
            self.queue.append(pkg)
        return True

    def is_multilib_pkg(self, pkg):
        return pkg.arch in self.multi

    # ---- inputs -----------------------------------------------------------------------------
    def add_inputs(self, patterns, flag="input", prepopulate=False):
        for pattern in patterns:
            pattern = pattern.strip()
            candidates = self.s.match(pattern, self.native)
            if not candidates and self.multi and (self.ml_methods or self.ml_whitelist):
                # a name built only for the multilib arch (a 32-bit compat payload) is taken
                # as it is when the tree has multilib at all
                candidates = self.s.match(pattern, self.multi)
            if not candidates:
                self.result.missing.append(pattern)
                continue
            usable = [p for p in candidates
                      if prepopulate or not (not p.lookaside and _matches_any(p, self.filters))]
            if not usable:
                self.result.filtered.append(pattern)
                continue
            # One package per name: a set package beats a lookaside one, then the best arch
            # (an explicit arch in the pattern was honoured by match()).
            by_name = defaultdict(list)
            for p in usable:
                by_name[p.name].append(p)
            for name in sorted(by_name):
                pkgs = by_name[name]
                lookaside = [p for p in pkgs if p.lookaside]
                if lookaside:
                    pkgs = lookaside
                pkgs.sort(key=lambda p: archmod.arch_rank(p.arch, self.tree_arch))
                if pkgs[0].debug:
                    self.result.debug[pkgs[0].nevra] = pkgs[0].gathered({flag})
                    continue
                self.add(pkgs[0], flag)

    # ---- closure ----------------------------------------------------------------------------
    def best(self, providers, requirer):
        def key(p):
            same_source = 0 if (requirer is not None and p.sourcerpm == requirer.sourcerpm) else 1
            rank = archmod.arch_rank(p.arch, self.tree_arch)
            if requirer is not None and self.is_multilib_pkg(requirer) and p.arch in self.multi:
                rank = -1
            return (same_source, rank, len(p.name), p.name, p.arch)
        return min(providers, key=key)

    def resolve(self, dep, requirer):
        dep_str = str(dep)
        if dep_str.startswith("rpmlib(") or dep_str.startswith("solvable:"):
            return
        multilib_class = requirer is not None and self.is_multilib_pkg(requirer)
        all_providers = [self.s.latest[p.id] for p in self.s.pool.whatprovides(dep) if p.id in self.s.latest]
        cands = [p for p in all_providers if not p.lookaside and self.allowed(p, multilib_class)]
        la = [p for p in all_providers if p.lookaside and self.allowed(p, multilib_class)]
        if multilib_class and not cands and not la:
            cands = [p for p in all_providers if not p.lookaside and self.allowed(p)]
            la = [p for p in all_providers if p.lookaside and self.allowed(p)]
        satisfied = any(p.sid in self.chosen for p in cands) or any(p.sid in self.lookaside for p in la)
        if self.greedy == "all":
            for p in cands:
                self.add(p, "dep")
            if not cands and la and not satisfied:
                self.add(self.best(la, requirer), "dep")
        elif not satisfied:
            if la:
                self.add(self.best(la, requirer), "dep")
            elif cands:
                chosen = self.best(cands, requirer)
                self.add(chosen, "dep")
                if self.greedy == "build":
                    for p in cands:
                        if p.sourcerpm == chosen.sourcerpm:
                            self.add(p, "dep")
        if not cands and not la and not satisfied:
            if dep_str.startswith("("):
                # Rich dependencies with conditions ("(a if b)") may legitimately match nothing.
                log.debug("rich dependency %s of %s has no provider", dep_str, requirer.nevra)
                return
            key = (dep_str, requirer.nevra)
            if key not in self._broken:
                self._broken.add(key)
                self.result.broken_deps.append(key)

    def process_queue(self):
        while self.queue:
            pkg = self.queue.popleft()
            # Requires with a single provider first: a package they bring in may already
            # satisfy a virtual Requires that would otherwise pick another provider.
            deps = pkg.solvable.lookup_deparray(solv.SOLVABLE_REQUIRES)
            deps.sort(key=lambda d: len(self.s.pool.whatprovides(d)) > 1)
            for dep in deps:
                self.resolve(dep, pkg)

    def chosen_pkgs(self):
        return [self.s.pkgs[sid] for sid in sorted(self.chosen)]

    def add_fulltree(self):
        added = False
        sources = {p.sourcerpm for p in self.chosen_pkgs() if p.arch in self.native}
        for srpm in sorted(sources):
            siblings = self.s.by_sourcerpm.get(srpm, [])
            if siblings and siblings[0].sourcerpm and _srpm_name(srpm) in self.fulltree_excludes:
                continue
            for p in siblings:
                if self.allowed(p):
                    added |= self.add(p, "fulltree")
        return added

    def add_selfhosting(self, done):
        for srpm in sorted({p.sourcerpm for p in self.chosen_pkgs()}):
            if srpm in done:
                continue
            done.add(srpm)
            src = self.s.sources.get((False, srpm))
            if src is None:
                continue
            for dep in src.solvable.lookup_deparray(solv.SOLVABLE_REQUIRES):
                self.resolve(dep, src)

    def multilib_candidates(self):
        """Multilib builds of chosen native packages that the methods accept."""
        found = []
        if not self.multi:
            return found
        native_names = {p.name for p in self.chosen_pkgs() if p.arch in self.native and p.arch != "noarch"}
        for name in sorted(native_names):
            for p in self.s.by_name.get(name, []):
                if p.lookaside or p.arch not in self.multi or p.sid in self.chosen:
                    continue
                if _matches_any(p, self.filters):
                    continue
                if self.multilib_ok(p):
                    found.append(p)
        return found

    def multilib_ok(self, p):
        provides = [str(d) for d in p.solvable.lookup_deparray(solv.SOLVABLE_PROVIDES)]
        files = [d.str for d in p.solvable.Dataiterator(solv.SOLVABLE_FILELIST, None,
                                                         solv.Dataiterator.SEARCH_FILES)]
        return multilibmod.is_multilib(p.name, self.ml_methods, provides, files,
                                       self.ml_whitelist, self.ml_blacklist)

    def add_multilib(self):
        added = False
        for p in self.multilib_candidates():
            added |= self.add(p, "multilib")
        return added

    # ---- sources and debug packages ---------------------------------------------------------
    def finish(self):
        res = self.result
        for sid, flags in sorted(self.chosen.items()):
            pkg = self.s.pkgs[sid]
            res.binary[pkg.nevra] = pkg.gathered(flags)
        for sid, flags in sorted(self.lookaside.items()):
            pkg = self.s.pkgs[sid]
            res.lookaside[pkg.nevra] = pkg.gathered(flags)
        arches_by_srpm = defaultdict(set)
        for pkg in self.chosen_pkgs():
            arches_by_srpm[pkg.sourcerpm].add(pkg.arch)
        for srpm in sorted(arches_by_srpm):
            if self.with_source:
                src = self.s.sources.get((False, srpm))
                if src is not None:
                    res.source[src.nevra] = src.gathered({"source"})
                elif (True, srpm) not in self.s.sources and srpm not in res.missing_sources:
                    res.missing_sources.append(srpm)
            if self.with_debug:
                wanted = set(arches_by_srpm[srpm])
                if "noarch" in wanted:
                    wanted |= set(archmod.native_arches(self.tree_arch))
                for p in self.s.by_sourcerpm.get(srpm, []):
                    if p.debug and p.arch in wanted and not _matches_any(p, self.filters):
                        res.debug[p.nevra] = p.gathered({"debug"})
        return res


def _srpm_name(filename):
    return _nevra_from_filename(filename).rsplit("-", 2)[0] if filename else ""


def gather(repos, arch, packages=(), groups=(), comps=None, method="deps", greedy="none",
           fulltree=False, selfhosting=False, multilib_methods=(), multilib_whitelist=(),
           multilib_blacklist=(), filter_packages=(), fulltree_excludes=(), prepopulate=(),
           conditional=(), with_source=True, with_debug=True, solver=None):
    """Decide the packages of one ``arch`` tree; returns a :class:`GatherResult`.

    ``repos``      [Repo] (package set repos and lookaside repos); ignored when ``solver`` (a
                   ready :class:`Depsolver`) is given
    ``packages``   names / globs / ``name.arch`` to include
    ``groups``     comps group ids whose packages (mandatory, default, optional) are inputs;
                   needs ``comps`` (a :class:`~pungi_like.rpmtools.comps.Comps`)
    ``conditional`` [(package, required package)]: added when the required package is in the
                   tree (comps ``type="conditional"``); taken from ``groups`` automatically
    ``method``     ``deps`` or ``nodeps``
    ``filter_packages`` names/globs/``name.arch`` never gathered (``prepopulate`` bypasses it)
    ``fulltree_excludes`` source package names whose siblings fulltree must not add
    """
    if method not in ("deps", "nodeps"):
        raise PungiLikeError(f"gather method {method!r} is not one of deps, nodeps")
    solver = solver or Depsolver(repos, arch)
    g = _Gather(solver, greedy=greedy, fulltree=fulltree, selfhosting=selfhosting,
                multilib_methods=multilib_methods, multilib_whitelist=multilib_whitelist,
                multilib_blacklist=multilib_blacklist, filter_packages=filter_packages,
                fulltree_excludes=fulltree_excludes, with_source=with_source,
                with_debug=with_debug)
    inputs = list(packages)
    conditional = list(conditional)
    if groups:
        if comps is None:
            raise PungiLikeError("gather: groups given without a comps file")
        inputs += comps.group_packages(groups, include_optional=True, include_conditional=False)
        comps_groups = comps.groups()
        for gid in groups:
            for pattern_gid in fnmatch.filter(comps_groups, gid):
                for req in comps_groups[pattern_gid].packages:
                    if req.type == "conditional" and req.requires:
                        conditional.append((req.name.strip(), req.requires))
    g.add_inputs(sorted(set(inputs)))
    g.add_inputs(prepopulate, flag="prepopulate", prepopulate=True)

    def add_conditional():
        names = {g.s.pkgs[sid].name for sid in g.chosen} | {g.s.pkgs[sid].name for sid in g.lookaside}
        before = len(g.chosen) + len(g.lookaside)
        for name, required in conditional:
            if required in names:
                for p in g.s.match(name, g.native):
                    if g.allowed(p):
                        g.add(p, "conditional")
        return len(g.chosen) + len(g.lookaside) > before

    if method == "nodeps":
        g.queue.clear()
        add_conditional()
        g.queue.clear()
        if g.ml_methods or g.ml_whitelist:
            g.add_multilib()
        g.queue.clear()
        return g.finish()

    selfhosted = set()
    while True:
        g.process_queue()
        changed = add_conditional()
        if fulltree:
            changed |= g.add_fulltree()
        if selfhosting:
            g.add_selfhosting(selfhosted)
            changed |= bool(g.queue)
        if g.ml_methods or g.ml_whitelist:
            changed |= g.add_multilib()
        if not changed and not g.queue:
            break
    return g.finish()
