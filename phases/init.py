"""init: the comps files every later phase reads.

Units: ``init.global`` copies the input comps to ``work/global/comps/comps-global.xml`` (package
names with surrounding whitespace are fatal); ``init.<arch>`` writes the arch comps, one comps
per variant having that arch (groups/environments filtered and cleaned) and a comps-only repo
beside each (``createrepo_c --groupfile``).
"""

import os
import shutil
from pungi_like.reuse_capture import ThreadPool as ThreadPoolExecutor

from phases.base import PhaseBase
from pungi_like.config.options import Option, scm_dict_schema
from pungi_like.errors import PhaseError
from pungi_like.rpmtools import repodata
from pungi_like.lazyimport import lazy_module

# comps' module (minidom with it) imported when a unit that reads comps runs: a re-run that
# takes every unit (a no-op) never imports it
comps_mod = lazy_module("pungi_like.rpmtools.comps", globals(), "comps_mod")

OPTIONS = [
    Option("comps_file", scm_dict_schema(),
           help="Comps file (path relative to the config file, or an SCM dict with scm 'file'). "
                "Package groups of every variant come from it."),
    Option("comps_filter_environments", {"type": "boolean"}, default=True,
           help="Keep in a variant's comps only the environments the variants file lists for it."),
]


def _name(item):
    return getattr(item, "name", item)


class InitPhase(PhaseBase):
    name = "init"
    never_skip = True

    def validate(self):
        src = self.conf.comps_file
        if isinstance(src, dict) and src.get("scm") not in (None, "file"):
            return [f"comps_file: scm {src.get('scm')!r} is not supported yet; use a path or "
                    "an SCM dict with scm 'file'"]
        return []

    def comps_source(self):
        """Local path of the configured comps file, or None when there is none."""
        src = self.conf.comps_file
        if not src:
            return None
        if isinstance(src, dict):
            src = src.get("file")
            if isinstance(src, list):
                src = src[0]
            repo = self.conf.comps_file.get("repo")
            if repo:
                src = os.path.join(repo, src)
        return os.path.join(getattr(self.conf, "config_dir", "") or "", src)

    def units(self):
        units = [self.unit("global", self.run_global, log_path=self.paths.log_file("global", "init"))]
        for arch in self.compose.get_arches():
            units.append(self.unit(arch, self.run_arch, arch=arch, needs=["init.global"],
                                   log_path=self.paths.log_file(arch, "comps_repo")))
        return units

    # ---- global -----------------------------------------------------------------------------
    def run_global(self, unit):
        source = self.comps_source()
        if source is None:
            self.log.info("[SKIP ] no comps_file configured: variants have no comps groups")
            return {"comps": None}
        if not os.path.exists(source):
            raise PhaseError(f"comps_file {source} does not exist")
        comps = comps_mod.Comps.from_file(source)
        errors = comps.whitespace_errors()
        if errors:
            raise PhaseError("Comps file contains errors:\n" + "\n".join(errors))
        dest = self.paths.comps_global()
        shutil.copyfile(source, dest)
        return {"comps": dest}

    # ---- per arch ---------------------------------------------------------------------------
    def run_arch(self, unit):
        arch = unit.arch
        if not self.conf.comps_file:
            return {"comps": None}
        comps = comps_mod.Comps.from_file(self.paths.comps_global(create=False))
        arch_comps = comps.copy()
        arch_comps.filter_arch(arch)
        arch_comps.write(self.paths.comps(arch))
        # the comps repos (one createrepo_c each) are made side by side while the variants'
        # comps files are written
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            repos = [pool.submit(self.comps_repo, self.paths.comps(arch),
                                 self.paths.comps_repo(arch),
                                 self.paths.log_file(arch, "comps_repo"))]
            written = {}
            for variant in self.compose.variants_for_arch(arch):
                written[variant.uid] = self.variant_comps(comps, arch, variant, pool, repos)
            for job in repos:
                job.result()
        return {"variants": sorted(written)}

    def lookaside_groups(self, variant):
        groups = []
        if variant.parent is not None:
            groups += [_name(g) for g in variant.parent.groups]
        for uid, lookaside_uid in (getattr(self.conf, "variant_as_lookaside", None) or []):
            if uid == variant.uid:
                try:
                    groups += [_name(g) for g in self.compose.get_variant(lookaside_uid).groups]
                except PhaseError:
                    pass
        return groups

    def variant_comps(self, comps, arch, variant, pool=None, jobs=None):
        """The variant's comps as Pungi writes it: filtered (variants.xml group attributes and
        environment display_order win) and written in Pungi's canonical form."""
        has_groups = bool(variant.groups)
        keep_filter = has_groups or variant.type != "variant"
        result, missing = comps_mod.filter_for_variant(
            comps, arch, variant.uid, groups=list(variant.groups),
            environments=list(getattr(variant, "environments", None) or []),
            lookaside_groups=self.lookaside_groups(variant),
            filter_environments=self.conf.comps_filter_environments,
            keep_groups_filter=keep_filter)
        for group in missing:
            self.log.warning("Variant %s.%s requires comps group %s which does not match "
                             "anything in input comps file", variant.uid, arch, group)
        path = self.paths.comps(arch, variant)
        result.write(path, pungi_style=True)
        args = (path, self.paths.comps_repo(arch, variant),
                self.paths.log_file(arch, f"comps_repo-{variant.uid}"))
        if pool is None:
            self.comps_repo(*args)
        else:
            jobs.append(pool.submit(self.comps_repo, *args))
        return path

    def comps_repo(self, comps_path, repo_dir, log_path):
        checksum = getattr(self.conf, "createrepo_checksum", None) or "sha256"
        write_comps_repo(comps_path, repo_dir, checksum, log_path)


def write_comps_repo(comps_path, repo_dir, checksum, log_path):
    """The comps-only repo ``repo_dir`` (no packages, the group record ``comps_path``) as
    ``createrepo_c --groupfile`` writes it: by this process's createrepo_c library
    (repowrite.write_repo, the command's bytes) when it writes as the command does, else by
    the command (a process start and 0.025 s of CPU each, three before the package set)."""
    reason = repodata.repowrite.unsupported()
    if reason is None:
        try:
            os.makedirs(repo_dir, exist_ok=True)
            repodata.remove_stale_workdir(repo_dir, log_path)
            result = repodata.repowrite.write_repo(repo_dir, repo_dir, [], checksum=checksum,
                                                   groupfile=comps_path, group_compressed=True)
            repodata.repowrite.log_result(log_path, repo_dir, result, [])
            return
        except repodata.repowrite.RepoWriteError as exc:
            reason = str(exc)
    repodata.repowrite.log_fallback(log_path, repo_dir, reason)
    repodata.createrepo(repo_dir, outputdir=repo_dir, groupfile=comps_path, checksum=checksum,
                        update=True, database=False, workers=1, log_path=log_path)
