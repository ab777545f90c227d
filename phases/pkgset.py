"""pkgset: the packages a compose may use, per arch, with a repo for each.

``pkgset_source = "repos"``: every package of the ``pkgset_repos`` repos is linked into
``work/global/download/`` (hardlink, copy across filesystems). Unlike Pungi, which first runs a
depsolve to shrink the set, the whole repos are taken: gather computes the closure anyway, and
the package set stays easy to reason about (what is in the repos is what gather can use).
Per arch, the set holds the arch's native packages, its multilib arches when some variant of the
arch enables multilib, noarch (minus those whose source package's ExcludeArch/ExclusiveArch rule
the arch out) and the source packages of what was kept.

Units: ``pkgset.global`` (read, link, global repo), ``pkgset.<arch>`` (arch subset and repo);
each arch unit puts a :class:`PackageSet` into ``compose.results`` under ``("pkgset", arch)``.
"""

import os
import threading
from dataclasses import dataclass, field

from phases.base import PhaseBase
from pungi_like.config.options import Option, arch_mapping, str_or_list
from pungi_like.errors import PhaseError
from pungi_like.fileutil import link_file
from pungi_like.rpmtools import arches as archmod
from pungi_like.rpmtools import repodata
from pungi_like.rpmtools.headers import read_header

PKGSET_NAME = "repos"

OPTIONS = [
    Option("pkgset_source", {"enum": ["koji", "repos"]}, required=True,
           help="Where packages come from: a build service tag (koji) or plain repos (repos)."),
    Option("pkgset_repos", arch_mapping(str_or_list()),
           help="repos source: `{arch or '*': [repo, ...]}`; paths relative to the config file "
                "or file:// URLs."),
    Option("pkgset_koji_tag", str_or_list(), help="Tag(s) the package set is read from."),
    Option("pkgset_koji_inherit", {"type": "boolean"}, default=True,
           help="Follow tag inheritance when reading pkgset_koji_tag."),
    Option("pkgset_koji_builds", str_or_list(),
           help="Extra builds (NVRs) added to the package set, replacing other builds of the "
                "same package."),
    Option("sigkeys", {"type": "array", "items": {"type": ["string", "null"]}}, default=[None],
           help="Signing key IDs in order of preference; null (or '') allows unsigned packages."),
    Option("pkgset_exclusive_arch_considers_noarch", {"type": "boolean"}, default=True,
           help="`noarch` in a package's ExclusiveArch counts as every arch."),
    Option("pkgset_allow_reuse", {"type": "boolean"}, default=True,
           help="Reuse the package set repos of an old compose when nothing changed."),
]

_excl_lock = threading.Lock()


@dataclass
class PackageSet:
    """One arch's package set as gather sees it."""
    arch: str
    repo_path: str                                  # directory holding repodata/
    prefix: str                                     # where the package files are
    packages: dict = field(default_factory=dict)    # file name -> RpmHeader

    def by_path(self):
        return {h.path: h for h in self.packages.values()}

    def header(self, filename):
        return self.packages.get(filename)


def noarch_excluded(src_header, arch, considers_noarch=True):
    """Why a noarch package built from ``src_header`` must not enter an ``arch`` tree, or None."""
    if src_header is None:
        return None
    if arch in src_header.excludearch:
        return f"ExcludeArch: {' '.join(src_header.excludearch)}"
    exclusive = src_header.exclusivearch
    if exclusive:
        if considers_noarch and "noarch" in exclusive:
            return None
        if arch not in exclusive:
            return f"ExclusiveArch: {' '.join(exclusive)}"
    return None


class PkgsetPhase(PhaseBase):
    name = "pkgset"

    def validate(self):
        errors = []
        if self.conf.pkgset_source == "koji":
            errors.append("pkgset_source = 'koji' is not implemented yet (it comes with the build "
                          "service); use pkgset_source = 'repos' with pkgset_repos")
        elif self.conf.pkgset_source == "repos" and not self.conf.pkgset_repos:
            errors.append("pkgset_source = 'repos' needs pkgset_repos "
                          "(e.g. pkgset_repos = {'*': ['repo']})")
        return errors

    def units(self):
        units = [self.unit("global", self.run_global,
                           log_path=self.paths.log_file("global", f"arch_repo.{PKGSET_NAME}"))]
        for arch in self.compose.get_arches():
            units.append(self.unit(arch, self.run_arch, arch=arch, needs=["pkgset.global"],
                                   log_path=self.paths.log_file(arch, f"arch_repo.{PKGSET_NAME}")))
        return units

    # ---- global -----------------------------------------------------------------------------
    def repo_dirs(self):
        """``[(arch key, local dir)]`` of the configured repos, in config order."""
        if self.conf.pkgset_source != "repos":
            raise PhaseError("pkgset_source = 'koji' is not implemented yet; use 'repos'")
        base = getattr(self.conf, "config_dir", None)
        result = []
        for key in sorted(self.conf.pkgset_repos or {}):
            value = self.conf.pkgset_repos[key]
            for repo in ([value] if isinstance(value, str) else value):
                path = repodata.repo_path(repo, base)
                if not os.path.isdir(path):
                    raise PhaseError(f"pkgset_repos: repo {repo} ({path}) does not exist")
                result.append((key, path))
        return result

    def run_global(self, unit):
        download = self.paths.pkgset_download_dir(create=True)
        headers = {}
        for key, path in self.repo_dirs():
            for pkg in repodata.load_packages(path):
                if pkg.filename in headers:
                    continue    # first repo wins, as with repos listed by priority
                if not os.path.exists(pkg.path):
                    raise PhaseError(f"{path}: repodata lists {pkg.location}, which is missing")
                dest = os.path.join(download, pkg.filename)
                if not (os.path.exists(dest) and os.path.samefile(dest, pkg.path)):
                    link_file(pkg.path, dest, "hardlink-or-copy")
                headers[pkg.filename] = read_header(dest)
        if not headers:
            raise PhaseError("pkgset_repos hold no packages at all")
        listfile = self.paths.pkgset_package_list(PKGSET_NAME)
        with open(listfile, "w", encoding="utf-8") as fh:
            fh.write("".join(name + "\n" for name in sorted(headers)))
        repodata.createrepo(download, outputdir=self.paths.pkgset_repo(PKGSET_NAME),
                            pkglist=listfile, checksum=self._checksum(), update=True,
                            baseurl=f"file://{download}", log_path=unit.log_path)
        self.compose.results.put(("pkgset", "global"), headers)
        self.log.info("Package set: %d packages from %d repo(s)", len(headers), len(self.repo_dirs()))
        return {"packages": len(headers)}

    def _checksum(self):
        return getattr(self.conf, "createrepo_checksum", None) or "sha256"

    # ---- per arch ---------------------------------------------------------------------------
    def multilib_enabled(self, arch):
        for variant in self.compose.variants_for_arch(arch):
            methods = self.conf.variant_arch_values("multilib", variant.uid, arch)
            flat = [m for item in methods for m in (item if isinstance(item, list) else [item])]
            if [m for m in flat if m != "none"]:
                return True
        return False

    def run_arch(self, unit):
        arch = unit.arch
        headers = self.compose.results.get(("pkgset", "global"))
        if headers is None:
            raise PhaseError("pkgset.global left no package set behind")
        allowed = set(archmod.valid_arches(arch, multilib=self.multilib_enabled(arch)))
        sources = {name: h for name, h in headers.items() if h.is_source}
        considers = self.conf.pkgset_exclusive_arch_considers_noarch
        kept, excluded = {}, []
        for name, h in sorted(headers.items()):
            if h.is_source or h.arch not in allowed:
                continue
            if h.arch == "noarch":
                why = noarch_excluded(sources.get(h.sourcerpm), arch, considers)
                if why:
                    excluded.append(f"Excluding {h.nevra} from {arch}: {why}")
                    continue
            kept[name] = h
        for name in sorted({h.sourcerpm for h in kept.values()}):
            if name in sources:
                kept[name] = sources[name]
        if excluded:
            with _excl_lock, open(self.paths.log_file("global", "excluding-arch"), "a",
                                  encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in excluded))
        listfile = self.paths.pkgset_package_list(PKGSET_NAME, arch=arch)
        with open(listfile, "w", encoding="utf-8") as fh:
            fh.write("".join(name + "\n" for name in sorted(kept)))
        download = self.paths.pkgset_download_dir()
        repo = self.paths.pkgset_repo(PKGSET_NAME, arch=arch)
        repodata.createrepo(download, outputdir=repo, pkglist=listfile, checksum=self._checksum(),
                            update=True, update_md_path=self.paths.pkgset_repo(PKGSET_NAME),
                            skip_stat=True, baseurl=f"file://{download}", log_path=unit.log_path)
        self.compose.results.put(("pkgset", arch), PackageSet(arch=arch, repo_path=repo,
                                                             prefix=download, packages=kept))
        return {"packages": len(kept), "excluded_noarch": len(excluded)}
