"""gather: decide the packages of every variant.arch and put them into the compose tree.

One unit ``gather.<V>.<arch>`` per variant.arch. It needs the arch's package set and comps, and
for addons, optional and layered variants the parent's gather (their packages are dropped from
the child, as in Pungi; optional also drops its parent's addons and layered products), and the
gather of any ``variant_as_lookaside`` variant. Inputs: the variant's comps groups (all groups of
its comps when a top-level variant lists none), ``additional_packages``, the ``json`` source
(``gather_source_mapping``), the ``system-release`` choice and ``gather_prepopulate``; the
depsolving itself is :func:`pungi_like.rpmtools.gathering.gather`.

Outputs: files linked into ``compose/<V>/<arch>/os/Packages`` (debug tree, source tree), rpms.json
entries, ``work/<arch>/package_list/<V>.<arch>.{rpm,srpm,debuginfo}.conf``,
``work/<arch>/gather_result/<V>.<arch>.json`` and ``compose.results[("gather", uid, arch)]``
(a :class:`~pungi_like.rpmtools.depsolve.GatherResult`).
"""

import dataclasses
import functools
import json
import os
import re
import threading

from phases.base import PhaseBase
from pungi_like import reuse_delta, reuse_differs
from pungi_like.config.options import (Option, arch_mapping, scm_dict_schema,
                                       variant_arch_mapping)
from pungi_like.errors import PhaseError
from pungi_like.fileutil import write_atomic
from pungi_like.rpmtools import arches as archmod
from pungi_like.rpmtools import repodata
from pungi_like.reuse_capture import ThreadPool as ThreadPoolExecutor
from pungi_like.reuse_capture import current as current_capture
from pungi_like.rpmtools.multilib import METHODS as MULTILIB_METHODS
from pungi_like.lazyimport import lazy_module

# the solver's and comps' modules (libsolv, minidom with them) imported when a unit that
# uses them runs: a re-run that takes every unit (a no-op) never imports them
comps_mod = lazy_module("pungi_like.rpmtools.comps", globals(), "comps_mod")
depsolve = lazy_module("pungi_like.rpmtools.depsolve", globals(), "depsolve")
gather_worker = lazy_module("pungi_like.rpmtools.gather_worker", globals(), "gather_worker")
gather_proof = lazy_module("pungi_like.rpmtools.gather_proof", globals(), "gather_proof")
gathering = lazy_module("pungi_like.rpmtools.gathering", globals(), "gathering")

_METHOD = {"enum": ["deps", "nodeps", "hybrid"]}
_move_lock = threading.Lock()
_solvers_lock = threading.Lock()
_STRINGS = {"type": "array", "items": {"type": "string"}}

OPTIONS = [
    Option("gather_method",
           {"anyOf": [_METHOD, {"type": "object", "additionalProperties": {"anyOf": [
               _METHOD, {"type": "object", "additionalProperties": _METHOD}]}}]},
           required=True,
           help="How inputs become package lists: deps (closure), nodeps, or a "
                "`{variant_regex: method or {source: method}}` dict (last match wins)."),
    Option("gather_backend", {"enum": ["dnf", "yum"]}, default="dnf",
           help="Accepted for compatibility; pungi_like always depsolves with libsolv."),
    Option("gather_fulltree", {"type": "boolean"}, default=False,
           help="Gather every binary package built from the source of a gathered package."),
    Option("gather_selfhosting", {"type": "boolean"}, default=False,
           help="Also gather the BuildRequires closure of gathered source packages."),
    Option("greedy_method", {"enum": ["none", "all", "build"]}, default="none",
           help="How many providers answer one Requires: the best one, all, or the best one "
                "and the others built from its source."),
    Option("multilib", variant_arch_mapping({"type": "array", "items": {"enum": list(MULTILIB_METHODS)}}),
           default=[], mapping="variant_arch",
           help="Multilib methods per variant/arch: none, all, runtime (libraries and plugins), "
                "devel (runtime + -devel/-static), kernel, yaboot."),
    Option("multilib_whitelist", arch_mapping(_STRINGS), default={},
           help="`{arch: [names/globs]}` always multilib, even in variants without methods."),
    Option("multilib_blacklist", arch_mapping(_STRINGS), default={},
           help="`{arch: [names/globs]}` never multilib."),
    Option("additional_packages", variant_arch_mapping(_STRINGS), default=[], mapping="variant_arch",
           help="Package name globs added to a variant.arch (`name.+`: the multilib build). As "
                "in Pungi, the deps method reads any other `name.arch` as a name that matches "
                "nothing; nodeps understands it; an arch the tree cannot hold is an error."),
    Option("filter_packages", variant_arch_mapping(_STRINGS), default=[], mapping="variant_arch",
           help="Package name globs never gathered into a variant.arch (`name.+`: multilib "
                "builds, `name.src`: source packages). As in Pungi, another `name.arch` filters "
                "nothing, and the nodeps method ignores filters."),
    Option("filter_system_release_packages", {"type": "boolean"}, default=True,
           help="With several system-release providers, a variant keeps the one named "
                "`*release-<variant>` or `<variant>-release*` (else the first) and filters the "
                "others."),
    Option("gather_prepopulate", scm_dict_schema(),
           help="JSON `{variant: {arch: {build: [name.arch]}}}` of packages added by exact "
                "name and arch."),
    Option("gather_source_mapping", {"type": "string"},
           help="JSON `{variant: {arch: {name: [arch or null]}}}`: the json source of inputs."),
    Option("gather_lookaside_repos", variant_arch_mapping(_STRINGS), default=[],
           mapping="variant_arch",
           help="Repos whose packages satisfy dependencies but are never gathered."),
    Option("variant_as_lookaside",
           {"type": "array", "items": {"type": "array", "items": {"type": "string"},
                                       "minItems": 2, "maxItems": 2}},
           help="`[(variant, lookaside_variant)]`: the second variant's packages serve as a "
                "lookaside for the first."),
    Option("hashed_directories", {"type": "boolean"}, default=False,
           help="Put packages in `Packages/<first letter>/`."),
    Option("link_type", {"enum": ["hardlink-or-copy", "hardlink", "copy", "symlink",
                                  "abspath-symlink"]}, default="hardlink-or-copy",
           help="How package files enter the compose tree."),
    Option("check_deps", {"type": "boolean"}, default=True,
           help="Unresolvable dependencies fail the gather of the variant.arch."),
    Option("require_all_comps_packages", {"type": "boolean"}, default=False,
           help="A comps package missing from the package set fails the gather."),
    Option("gather_allow_reuse", {"type": "boolean"}, default=False,
           help="Reuse the gather result of an old compose when nothing changed."),
    Option("gather_profiler", {"type": "boolean"}, default=False,
           help="Accepted for compatibility; has no effect."),
]


def _name(item):
    return getattr(item, "name", item)


def _flatten(values):
    out = []
    for v in values:
        out.extend(v if isinstance(v, (list, tuple)) else [v])
    return out


class GatherPhase(PhaseBase):
    name = "gather"
    #: solve and link in a worker process per unit, forked from one process per arch holding
    #: the loaded package set (:mod:`pungi_like.rpmtools.gather_worker`), instead of the
    #: unit's thread: True, False, or None for package sets of at least
    #: ``WORKER_MIN_PACKAGES`` packages (the worker's start and hand-overs cost more than
    #: they save on small sets); ``PUNGI_LIKE_GATHER_WORKER=1`` / ``0`` sets True / False
    use_worker = {"0": False, "1": True}.get(os.environ.get("PUNGI_LIKE_GATHER_WORKER", ""))
    WORKER_MIN_PACKAGES = 25000

    def worker_wanted(self, pkgset):
        if self.use_worker is not None:
            return self.use_worker
        return len(pkgset.packages) >= self.WORKER_MIN_PACKAGES

    def validate(self):
        errors = []
        method = self.conf.gather_method
        values = [method] if isinstance(method, str) else _flatten(
            [v if isinstance(v, str) else list((v or {}).values()) for v in (method or {}).values()])
        if "hybrid" in values:
            errors.append("gather_method 'hybrid' (modules via fus) is not implemented; use deps "
                          "or nodeps")
        return errors

    # ---- units ------------------------------------------------------------------------------
    def units(self):
        units = []
        for variant in self.compose.all_variants:
            if getattr(variant, "is_empty", False):
                continue
            for arch in variant.arches:
                needs = [f"pkgset.{arch}", f"init.{arch}"]
                for other in self.drop_variants(variant):
                    if arch in other.arches:
                        needs.append(f"gather.{other.uid}.{arch}")
                for other in self.lookaside_variants(variant) + self.remove_variants(variant):
                    if arch in other.arches and not getattr(other, "is_empty", False):
                        needs.append(f"gather.{other.uid}.{arch}")
                units.append(self.unit(f"{variant.uid}.{arch}", self.run_unit, variant=variant,
                                       arch=arch, needs=sorted(set(needs))))
        # gather units still to run per arch: the last one drops the arch's shared solvers
        self._solvers, self._left = {}, {}
        for unit in units:
            self._left[unit.arch] = self._left.get(unit.arch, 0) + 1
        return units

    def shared_solver(self, repos, arch):
        """One :class:`Depsolver` per arch and set of repos for every gather unit asking for it:
        the variants of an arch load the same package set, and the gathering only reads the
        solver (libsolv's bindings hold the GIL in every call), so the second unit waits for
        the first one's load instead of parsing the same repodata again. The package set
        alone is taken from the closure that made it, when pkgset offered it
        (:func:`offer_solver`), instead of being loaded again."""
        key = (arch, tuple((r.name, r.path, r.lookaside) for r in repos))
        with _solvers_lock:
            solvers = self.__dict__.setdefault("_solvers", {})
            entry = solvers.setdefault(key, [threading.Lock(), None])
        with entry[0]:
            if entry[1] is None:
                entry[1] = self.offered_solver(repos, arch) or depsolve.Depsolver(repos, arch)
            return entry[1]

    def offered_solver(self, repos, arch):
        """A view (:meth:`Depsolver.view`) of the package set of ``arch`` over the pool of the
        closure that made it, when pkgset offered one for the repo ``repos`` holds alone; None
        with multilib methods other than ``all`` (runtime and devel read packages' files and
        provides, and the closure's pool may list file provides its other packages needed)."""
        offered = getattr(self.compose, "offered_solvers", {}).get(arch)
        if offered is None or len(repos) != 1 or repos[0].lookaside \
                or os.path.normpath(repos[0].path) != os.path.normpath(offered[0]):
            return None
        for variant in self.compose.variants_for_arch(arch):
            methods = _flatten(self.conf.variant_arch_values("multilib", variant.uid, arch))
            if set(methods) - {"none", "all"}:
                return None
        view = depsolve.Depsolver.view(offered[1], repos[0], offered[2])
        if view is not None:
            self.log.debug("gather %s: the package set from the pool of its closure", arch)
        return view

    def solver_host(self, repos, arch):
        """The :class:`SolverHost` of an arch and set of repos, started by the first gather
        unit asking for it (it loads the package set while that unit works out its inputs)."""
        key = (arch, tuple((r.name, r.path, r.lookaside) for r in repos))
        with _solvers_lock:
            hosts = self.__dict__.setdefault("_hosts", {})
            if key not in hosts:
                hosts[key] = self.offered_host(repos, arch) or gather_worker.SolverHost(repos, arch)
            return hosts[key]

    def offered_host(self, repos, arch):
        """The SolverHost pkgset started on the package set repo of ``arch`` (:func:`offer_host`)
        when ``repos`` is that repo alone; None otherwise (the host, if any, stays offered)."""
        offered = getattr(self.compose, "offered_hosts", {}).get(arch)
        if offered is None or len(repos) != 1 or repos[0].lookaside or repos[0].name != "pkgset" \
                or os.path.normpath(repos[0].path) != os.path.normpath(offered[0]):
            return None
        self.compose.offered_hosts.pop(arch, None)
        self.log.debug("gather %s: the solver host pkgset started", arch)
        return offered[1]

    def _unit_done(self, arch):
        with _solvers_lock:
            left = self.__dict__.setdefault("_left", {})
            left[arch] = left.get(arch, 1) - 1
            if left[arch] <= 0:
                solvers = self.__dict__.get("_solvers", {})
                for key in [k for k in solvers if k[0] == arch]:
                    del solvers[key]
                getattr(self.compose, "offered_solvers", {}).pop(arch, None)
                hosts = self.__dict__.get("_hosts", {})
                done = [hosts.pop(key) for key in [k for k in hosts if k[0] == arch]]
                offered = getattr(self.compose, "offered_hosts", {}).pop(arch, None)
                if offered is not None:
                    done.append(offered[1])     # no gather of the arch took it
            else:
                done = []
        for host in done:
            host.close()

    def drop_variants(self, variant):
        """Variants whose packages this one must not repeat (Pungi's post-processing)."""
        parent = variant.parent
        if parent is None:
            return []
        if variant.type == "optional":
            return [parent] + [c for c in parent.children if c.type in ("addon", "layered-product")]
        return [parent]

    def remove_variants(self, variant):
        """Variants whose package *names* this one drops (Pungi's trim): every addon of the
        compose for a layered product (which keeps their sources and debug packages); every
        addon and layered product for an optional variant."""
        types = {"layered-product": ("addon",),
                 "optional": ("addon", "layered-product")}.get(variant.type, ())
        return [v for v in self.compose.all_variants if v.type in types and v is not variant]

    def remove_packages(self, result, variant, arch, note):
        """Drop from ``result`` the packages named like those of :meth:`remove_variants`."""
        others = [self.compose.results.get(("gather", v.uid, arch))
                  for v in self.remove_variants(variant) if arch in v.arches]
        for category in ("binary", "debug", "source"):
            if variant.type == "layered-product" and category != "binary":
                continue    # users may not have the addons: their sources and debug stay
            names = {p.name for other in others if other is not None
                     for p in getattr(other, category).values()}
            data = getattr(result, category)
            for nevra in sorted(n for n, p in data.items() if p.name in names):
                note("Removed addon package (arch: %s, variant: %s): %s", arch, variant.uid,
                     nevra, level="warning")
                del data[nevra]

    def lookaside_variants(self, variant):
        result = []
        for uid, lookaside_uid in (self.conf.variant_as_lookaside or []):
            if uid == variant.uid:
                result.append(self.compose.get_variant(lookaside_uid))
        return result

    def method_for(self, variant, source="comps"):
        method = self.conf.gather_method
        if isinstance(method, str):
            return method
        chosen = "deps"
        for regex, value in (method or {}).items():
            if re.match(regex, variant.uid):
                chosen = value if isinstance(value, str) else value.get(source, chosen)
        return chosen

    # ---- inputs -----------------------------------------------------------------------------
    def comps_for(self, variant, arch):
        path = self.paths.comps(arch, variant, create=False)
        if not self.conf.comps_file or not os.path.exists(path):
            return None
        return comps_mod.Comps.from_file(path)

    def group_inputs(self, variant, comps):
        if comps is None:
            return []
        if variant.groups or variant.type != "variant":
            return [_name(g) for g in variant.groups]
        return comps.group_ids()

    def json_inputs(self, variant, arch):
        return json_inputs(self.conf, variant, arch)

    def prepopulate_inputs(self, variant, arch):
        return prepopulate_inputs(self.conf, variant, arch)

    def system_release(self, providers, variant):
        """(packages to add, packages to filter) for ``filter_system_release_packages``.

        As Pungi documents it: with one provider of ``system-release`` in the package set, it
        is added; with several, a top-level variant takes the one named ``*release-<uid>`` or
        ``<uid>-release*`` (lower-case uid), else the first by name, and the others are
        filtered; addons and other child variants follow their parent's choice. (Pungi 4.3.2
        in the corpus's environment never sees a provider: see doc/pungi-differences.md.)
        ``providers``: the sorted names of the package set's providers
        (:func:`~pungi_like.rpmtools.gather_worker.release_providers`)."""
        if not self.conf.filter_system_release_packages:
            return [], []
        if not providers:
            return [], []
        if len(providers) == 1:
            return [providers[0]], []
        while variant.type != "variant" and variant.parent is not None:
            variant = variant.parent
        uid = variant.uid.lower()
        best = [n for n in providers if n.endswith(f"release-{uid}") or n.startswith(f"{uid}-release")]
        best = best[0] if best else providers[0]
        return [best], [n for n in providers if n != best]

    def check_package_arches(self, items, arch, option):
        """Pungi refuses ``name.arch`` items whose arch a tree of ``arch`` cannot hold."""
        compatible = set(archmod.valid_arches(arch, multilib=True))
        every_arch = {a for table in (archmod.NATIVE, archmod.MULTILIB) for arches in table.values()
                      for a in arches} | {"noarch", "src", "nosrc"}
        for item in items:
            name, dot, pkg_arch = item.rpartition(".")
            if dot and pkg_arch in every_arch and pkg_arch not in compatible:
                raise PhaseError(f"Incompatible package arch '{pkg_arch}' for tree arch '{arch}' "
                                 f"in {option} '{name}'")

    # ---- run --------------------------------------------------------------------------------
    def run_unit(self, unit):
        workers = []
        try:
            return self._run_unit(unit, workers)
        finally:
            for worker in workers:
                worker.close()
            self._unit_done(unit.arch)

    def _run_unit(self, unit, workers=None):
        variant, arch = unit.variant, unit.arch
        conf = self.conf
        pkgset = self.compose.results.get(("pkgset", arch))
        if pkgset is None:
            raise PhaseError(f"gather {variant.uid}.{arch}: no package set for {arch}")
        lines = []

        def note(msg, *args, level="info"):
            text = msg % args if args else msg
            lines.append(f"[{level.upper()}] {text}")
            getattr(self.log, level)("[gather %s.%s] %s", variant.uid, arch, text)

        repos = [depsolve.Repo("pkgset", pkgset.repo_path)]
        for i, url in enumerate(_flatten(conf.variant_arch_values("gather_lookaside_repos", variant.uid, arch))):
            repos.append(depsolve.Repo(f"lookaside-{i}", repodata.repo_path(url, getattr(conf, "config_dir", None)),
                              lookaside=True))
        for other in self.lookaside_variants(variant):
            if arch in other.arches:
                repos.append(depsolve.Repo(f"variant-{other.uid}", self.variant_repo(variant, other, arch),
                                  lookaside=True))
        if workers is not None and self.worker_wanted(pkgset):
            worker = self.solver_host(repos, arch).worker()
            unit.in_child = True    # solved outside this process's interpreter lock
            workers.append(worker)
            worker.send("load", repos, arch)    # answered once the host has loaded them
            solver = None
        else:
            worker, solver = None, self.shared_solver(repos, arch)

        comps = self.comps_for(variant, arch)
        groups = self.group_inputs(variant, comps)
        packages = list(_flatten(conf.variant_arch_values("additional_packages", variant.uid, arch)))
        self.check_package_arches(packages, arch, "additional package")
        packages += self.json_inputs(variant, arch)
        filters = list(_flatten(conf.variant_arch_values("filter_packages", variant.uid, arch)))
        if self.method_for(variant) == "deps":
            for option, items in (("additional_packages", packages), ("filter_packages", filters)):
                for item in _name_arch_items(items):
                    note("%s item %r is read as a package name, as Pungi does, and matches "
                         "nothing: use %r (or %r for the multilib builds)", option, item,
                         item.rpartition(".")[0], item.rpartition(".")[0] + ".+",
                         level="warning")
        providers = worker.receive() if worker is not None else \
            gather_worker.release_providers(solver)
        release_add, release_filter = self.system_release(providers, variant)
        packages += release_add
        filters += release_filter
        prepopulate = self.prepopulate_inputs(variant, arch)
        drop = [self.compose.results.get(("gather", v.uid, arch)) for v in self.drop_variants(variant)
                if arch in v.arches]
        drop = [d for d in drop if d is not None]
        if not (groups or packages or prepopulate):
            raise PhaseError(f"No packages included in {variant.uid}.{arch} (no comps groups, "
                             "no input packages, no prepopulate)")

        # Like Pungi, a child variant is solved together with what its parent (and, for
        # optional, the parent's addons) carries, so the parent's packages answer the child's
        # dependencies first; they are dropped again after the solve.
        # (deps: a name for native and noarch builds, ``name.+`` for multilib ones, the only
        # arch suffix the deps method understands; nodeps: ``name.arch``)
        method = self.method_for(variant)
        multi = set(archmod.multilib_arches(arch))
        packages += sorted({f"{p.name}.{p.arch}" if method == "nodeps"
                            else (f"{p.name}.+" if p.arch in multi else p.name)
                            for d in drop for p in d.binary.values()})
        fulltree = conf.gather_fulltree
        selfhosting = conf.gather_selfhosting
        fulltree_excludes = []
        if variant.type == "optional":
            fulltree = selfhosting = True
        elif variant.type in ("addon", "layered-product"):
            fulltree, selfhosting = True, False
            fulltree_excludes = sorted({_srpm_name(p.filename) for d in drop for p in d.source.values()})
        methods = _flatten(conf.variant_arch_values("multilib", variant.uid, arch))
        # the parent's groups are part of a child's inputs in Pungi: their conditional
        # packages apply to what the child brings in too
        conditional = []
        for other in self.drop_variants(variant):
            other_comps = self.comps_for(other, arch) if arch in other.arches else None
            if other_comps is not None:
                conditional += other_comps.conditional_packages(self.group_inputs(other, other_comps))
        note("method %s, %d group(s), %d package input(s), multilib %s", method, len(groups),
             len(packages), ",".join(methods) or "none")
        options = dict(packages=packages, groups=groups, method=method,
                       greedy=conf.greedy_method, fulltree=fulltree, selfhosting=selfhosting,
                       multilib_methods=methods,
                       multilib_whitelist=(conf.multilib_whitelist or {}).get(arch, []) +
                       (conf.multilib_whitelist or {}).get("*", []),
                       multilib_blacklist=(conf.multilib_blacklist or {}).get(arch, []) +
                       (conf.multilib_blacklist or {}).get("*", []),
                       filter_packages=filters, fulltree_excludes=fulltree_excludes,
                       prepopulate=prepopulate, conditional=conditional,
                       langpacks=comps.langpacks() if comps is not None else ())
        facts = {"release": providers}
        proven = self.old_result_if_unchanged(unit, variant, pkgset, solver, options, comps,
                                              groups, providers)
        if proven is not None:
            # the package set changed in no package the solve would look at: the old unit's
            # outputs, when its files are the very ones (else the solve, as below)
            result, inputs, source = proven
            try:
                self.take_old(unit, result, facts, inputs)
            except reuse_delta.TakeOld:
                self.log.info("[gather %s.%s] the package set changed in none of the packages "
                              "its solve looks at since %s: not solved", variant.uid, arch,
                              source)
                self.report(unit, variant, arch, result, comps, groups, note, lines)
                raise
        if worker is not None:
            result = worker.call("gather", dict(
                options, comps_path=self.paths.comps(arch, variant, create=False)
                if comps is not None else None))
        else:
            result = gathering.gather(None, arch, comps=comps, solver=solver, **options)
        self.remove_packages(result, variant, arch, note)
        self.drop_parent_packages(result, drop)
        if variant.type in ("addon", "layered-product"):
            self.move_to_parent(result, variant, arch, pkgset, note)
        self.report(unit, variant, arch, result, comps, groups, note, lines)

        linked = [p.path for data in (result.binary, result.debug, result.source)
                  for p in data.values()]
        if variant.type not in ("addon", "layered-product"):   # those change their parent's
            # the old unit's outputs when the solve gave its result from the same files
            self.take_old(unit, result, facts)
        self.link_and_record(result, variant, arch, pkgset, worker=worker)
        note = functools.partial(reuse_delta.note_result, self.compose, unit,
                                 self.paths.gather_result(arch, variant), linked)
        if any(c.type in ("addon", "layered-product") for c in variant.children):
            note()      # an addon's gather may rewrite this result (move_to_parent) later
        else:
            # the result hash of its record's delta (a read of the result back, a stat of each
            # package: 0.05 s of CPU at 10,000 RPMs, under the lock the other gathers wait
            # for) made by the record thread, before it builds the unit's record
            unit.before_record = note
        self.compose.results.put(("gather", variant.uid, arch), result)
        return {"rpm": len(result.binary), "srpm": len(result.source), "debuginfo": len(result.debug),
                "missing": sorted(result.missing), "digest": result_digest(result)}

    def report(self, unit, variant, arch, result, comps, groups, note, lines):
        """The notes on a result and the unit's log; Pungi's failures for missing comps
        packages (``require_all_comps_packages``) and broken dependencies (``check_deps``)."""
        conf = self.conf
        comps_names = set(comps.group_packages(groups)) if comps is not None else set()
        for pattern in result.missing:
            level = "error" if pattern in comps_names and conf.require_all_comps_packages else "warning"
            note("Could not find a match for %s in any configured repo", pattern, level=level)
        for pattern in result.filtered:
            note("No package matches pattern %s: every match is filtered out", pattern)
        for msg in result.broken_deps_messages():
            note(msg)
        for srpm in result.missing_sources:
            note("Source package %s not found; its NEVRA is guessed", srpm, level="warning")
        self.write_log(unit, lines, result)
        if conf.require_all_comps_packages and comps_names & set(result.missing):
            raise PhaseError(f"Packages mentioned in comps do not exist for {variant.uid}.{arch}: "
                             f"{', '.join(sorted(comps_names & set(result.missing)))}")
        if conf.check_deps and result.broken_deps:
            # Pungi's check_deps: one error per package, then the failure
            by_package = {}
            for dep, nevra in result.broken_deps:
                name_arch = f"{nevra.rsplit('-', 2)[0]}.{nevra.rpartition('.')[2]}"
                by_package.setdefault(name_arch, set()).add(dep)
            for name_arch in sorted(by_package):
                self.log.error("Unresolved dependencies for %s.%s in package %s: %s", variant.uid,
                               arch, name_arch, sorted(by_package[name_arch]))
            raise PhaseError("Unresolved dependencies detected")

    def take_old(self, unit, result, facts, inputs=None):
        """:func:`reuse_delta.take_old_if_same` for ``result`` (raises TakeOld when taken)."""
        linked = [p.path for data in (result.binary, result.debug, result.source)
                  for p in data.values()]
        reuse_delta.take_old_if_same(
            self.compose, unit, lambda: reuse_delta.json_text(result.as_dict()), linked,
            names=[f"{c[0]}:{n}" for c in ("binary", "debug", "source", "lookaside")
                   for n in getattr(result, c)], facts=facts, inputs=inputs)

    def old_result_if_unchanged(self, unit, variant, pkgset, solver, options, comps, groups,
                                providers):
        """``(the newest old compose's result of this unit as a solve over ``solver`` would
        give it, the unit's inputs hash, that compose's id)`` when
        :func:`~pungi_like.rpmtools.gather_proof.prove` finds that none of the packages that
        changed since (pkgset's ``pkgset_changes``) can change what the solve finds: a
        top-level variant without children over the package set alone, the same inputs and
        ``system-release`` providers as that unit's; else None (the unit solves)."""
        changes = getattr(self.compose, "pkgset_changes", None)
        if changes is None or solver is None or variant.type != "variant" \
                or variant.parent is not None or variant.children or len(solver.repos) != 1 \
                or gather_proof.why_not(options, solver):
            return None
        inputs = reuse_delta.inputs_digest(self.compose, unit, ("pkgset.",))
        old = reuse_delta.newest_old(self.compose, unit, inputs)
        if old is None or old.compose_id != changes[0] \
                or old.record["delta"].get("release") != providers:
            return None
        changed = self.changed_packages(unit.arch, pkgset, changes)
        if changed is None:
            return None
        rel = os.path.relpath(self.paths.gather_result(unit.arch, variant), self.compose.topdir)
        try:
            with open(os.path.join(old.files_top, old.files_names.expand(rel)),
                      encoding="utf-8") as fh:
                rebuilt = gather_proof.rebuild(solver, json.load(fh), pkgset.prefix)
        except (OSError, ValueError, TypeError, AttributeError):
            return None
        if rebuilt is None:
            return None
        why = gather_proof.prove(solver, rebuilt[0], rebuilt[1], changed, options, comps,
                                 groups)
        if why:
            self.log.debug("[gather %s.%s] solved: %s", variant.uid, unit.arch, why)
            return None
        return rebuilt[0], inputs, old.compose_id

    def changed_packages(self, arch, pkgset, changes):
        """The packages (:class:`~pungi_like.rpmtools.gather_proof.Changed`) of the package set
        of ``arch`` that differ from the one of the compose ``changes`` names (``(its id, the
        file names not linked unchanged from it, its headers)``): files added, removed, or
        not the same file; the old set read from that compose's list of it. None when that
        is not known."""
        pool = getattr(self.compose, "reuse_pool", None)
        old = next(iter(pool._units(f"pkgset.{arch}")), None) if pool is not None else None
        if old is None or old.compose_id != changes[0]:
            return None
        prefix = f"work/{arch}/package_list/"
        try:
            lists = [(rel, entry) for rel, entry in old.data["files"].items()
                     if rel.startswith(prefix) and rel.endswith(".conf")]
            if len(lists) != 1:
                return None
            path = os.path.join(old.files_top, old.files_names.expand(lists[0][0]))
            st = os.stat(path)
            if [st.st_ino, st.st_size, st.st_mtime_ns] != lists[0][1].get("stat"):
                return None
            with open(path, encoding="utf-8") as fh:
                old_kept = set(fh.read().split())
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            return None
        _cid, fresh, known = changes
        new_kept = pkgset.packages
        names = (old_kept ^ new_kept.keys()) | (fresh & new_kept.keys())
        if len(names) > gather_proof.MAX_CHANGED:
            return None
        changed = []
        for name in sorted(names):
            header = new_kept.get(name)
            if header is not None:
                changed.append(gather_proof.Changed(
                    header.name, header.arch, "" if header.is_source else header.sourcerpm or ""))
            if name in old_kept:
                fields = (known.get(name) or (None, None))[1]
                if not isinstance(fields, dict) or not all(
                        isinstance(fields.get(k), str) for k in ("name", "arch")):
                    return None
                changed.append(gather_proof.Changed(
                    fields["name"], fields["arch"],
                    "" if fields["arch"] in ("src", "nosrc") else fields.get("sourcerpm") or ""))
        return changed

    def drop_parent_packages(self, result, drop):
        """Remove what a parent (and, for optional, its addons) already carries, binary, debug
        and source packages each by name and arch, as Pungi's trim does."""
        if not drop:
            return
        for category in ("binary", "debug", "source"):
            present = {(p.name, p.arch) for d in drop for p in getattr(d, category).values()}
            data = getattr(result, category)
            for nevra in [n for n, p in data.items() if (p.name, p.arch) in present]:
                del data[nevra]

    def move_to_parent(self, result, variant, arch, pkgset, note):
        """Pungi's addon rule: a binary that came into an addon only through the fulltree of a
        source the parent carries (flag ``fulltree-exclude``, not an input) belongs to the
        parent. It leaves the addon and joins the parent's tree, records and package lists
        (the parent's createrepo waits for its addons' gathers, so it sees them)."""
        moving = {n: p for n, p in result.binary.items()
                  if "fulltree-exclude" in p.flags and "input" not in p.flags}
        if not moving:
            return
        parent = variant.parent
        for nevra in moving:
            del result.binary[nevra]
            note("Moved to parent %s: %s", parent.uid, nevra, level="warning")
        with _move_lock:    # two addons of one parent may move packages at the same time
            old = self.compose.results.get(("gather", parent.uid, arch))
            merged = dataclasses.replace(old, binary={**old.binary, **moving})
            self.link_and_record(merged, parent, arch, pkgset, only=set(moving))
            self.compose.results.put(("gather", parent.uid, arch), merged)

    def variant_repo(self, variant, other, arch):
        """A repo of ``other``'s gathered binaries for ``variant`` to use as lookaside."""
        other_result = self.compose.results.get(("gather", other.uid, arch))
        if other_result is None:
            raise PhaseError(f"variant_as_lookaside: {other.uid}.{arch} has no gather result")
        pkgset = self.compose.results.get(("pkgset", arch))
        repo_dir = os.path.join(self.paths.work_dir(arch), variant.uid, "lookaside_repo")
        os.makedirs(repo_dir, exist_ok=True)
        listfile = os.path.join(repo_dir, "pkglist")
        with open(listfile, "w", encoding="utf-8") as fh:
            fh.write("".join(os.path.relpath(p.path, pkgset.prefix) + "\n"
                             for _, p in sorted(other_result.binary.items())))
        repodata.createrepo(pkgset.prefix, outputdir=repo_dir, pkglist=listfile, update=False,
                            baseurl=f"file://{pkgset.prefix}",
                            log_path=self.paths.log_file(arch, f"lookaside_repo_{variant.uid}"))
        return repo_dir

    def write_log(self, unit, lines, result):
        with open(unit.log_path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
            for label, data in (("RPM", result.binary), ("SRPM", result.source),
                                ("DEBUGINFO", result.debug), ("LOOKASIDE", result.lookaside)):
                for nevra in sorted(data):
                    p = data[nevra]
                    fh.write(f"{label}({','.join(sorted(p.flags))}): {p.path}\n")

    # ---- linking and recording --------------------------------------------------------------
    def target_dir(self, category, arch, variant):
        if category == "source":
            base = self.paths.source_packages_dir(variant, create=True)
        elif category == "debug":
            base = self.paths.debug_packages_dir(arch, variant, create=True)
        else:
            base = self.paths.packages_dir(arch, variant, create=True)
        return base

    def link_and_record(self, result, variant, arch, pkgset, only=None, worker=None):
        """Link the packages of ``result`` into ``variant``'s trees and record them (just the
        NEVRAs in ``only`` when given: the rest is there already); write its package lists.
        With a ``worker`` (:class:`~pungi_like.rpmtools.gather_worker.GatherWorker`) the
        links are made in its process while this thread records the packages; the files are
        noted for the unit's record here. Otherwise a thread of the unit makes them (``ln`` runs: their wait holds no
        interpreter lock) while this one records the packages, writes the lists and the
        result: the ``ln`` runs' 0.2 s at 10,000 RPMs were a wait of the unit's with nothing
        else to do."""
        conf = self.conf
        lists = {"rpm": [], "srpm": [], "debuginfo": []}
        pairs, chosen = [], []
        hashed = conf.hashed_directories
        for category, data, listname in (("binary", result.binary, "rpm"),
                                         ("debug", result.debug, "debuginfo"),
                                         ("source", result.source, "srpm")):
            target = None   # made once per category, only when something is linked there
            listed = lists[listname]
            for nevra in sorted(data):
                pkg = data[nevra]
                path = pkg.path
                listed.append(path)
                if only is not None and nevra not in only:
                    continue
                if target is None:
                    target = os.path.join(self.target_dir(category, arch, variant), "")
                filename = os.path.basename(path)
                if hashed:
                    dest = os.path.join(target, filename[0].lower(), filename)
                else:
                    dest = target + filename
                pairs.append((path, dest))
                chosen.append((category, nevra, pkg, dest))
        linking = None
        if worker is not None:
            # answered once the links are made: the rows, lists and result are made meanwhile
            # (at 60,000 RPMs the worker's links were 1-2 s of the unit's wall, its rows as
            # much again after them)
            worker.send("link", pairs, conf.link_type)
        else:
            # by ln runs: no audit event either (the links are noted below)
            linking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="link")
            links = linking.submit(gather_worker.link_packages, pairs, conf.link_type)
            linking.shutdown(wait=False)
        try:
            headers = pkgset.by_path()
            srpm_of = {p.filename: p.nevra for p in result.source.values()}
            relative = _relative_to(self.paths.compose_dir())
            rows = []
            for category, nevra, pkg, dest in chosen:
                header = headers.get(pkg.path)
                sigkey = header.sigkey if header is not None else None
                if category == "source":
                    srpm_nevra = nevra
                else:
                    srpm_nevra = srpm_of.get(pkg.sourcerpm) or result.srpm_nevra(pkg)
                rows.append((srpm_nevra, nevra, relative(dest), sigkey, category))
            capture = current_capture()    # what the audit hook notes for links made here
            if capture is not None:
                for _src, dest in pairs:
                    capture.note(dest)
            self.compose.rpms.add_many(variant.uid, arch, rows)
            for kind, items in lists.items():
                path = self.paths.gather_package_list(arch, variant, kind)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write("".join(p + "\n" for p in sorted(items)))
            text = result.as_json() + "\n"
        finally:
            # the links' error first: the unit fails without its result
            if linking is not None:
                links.result()
            elif worker is not None:
                worker.receive()
        # durable once the compose's STATUS leaves STARTED (Compose.syncer); a crash before
        # runs the unit again (its record, written later, is not synced either)
        write_atomic(self.paths.gather_result(arch, variant), text,
                     fsync=getattr(self.compose, "syncer", None) or True)


def offer_solver(compose, arch, repo_path, solver, packages):
    """Offer the gathers of ``arch`` a solver that loaded the package set of ``arch`` (the
    repo ``repo_path``) already: ``packages`` as :meth:`Depsolver.view` takes them. Kept on
    the compose until the arch's last gather ends (GatherPhase.offered_solver); not offered
    when the gathers solve in worker processes (GatherPhase.worker_wanted), which load the
    package set themselves (the solver would only hold memory meanwhile)."""
    if workers_wanted(len(packages)):
        return
    compose.__dict__.setdefault("offered_solvers", {})[arch] = (repo_path, solver, packages)


def workers_wanted(count):
    """Whether the gathers of a package set of ``count`` packages solve in worker processes
    (:meth:`GatherPhase.worker_wanted`)."""
    use_worker = GatherPhase.use_worker
    return use_worker if use_worker is not None else count >= GatherPhase.WORKER_MIN_PACKAGES


def start_host(repo_path, arch):
    """A :class:`~pungi_like.rpmtools.gather_worker.SolverHost` loading the package set repo
    at ``repo_path`` for the gathers of ``arch``, started before they are: pkgset starts it
    once the package set repo is written (:func:`offer_host` hands it over). At 60,000 RPMs
    the host's load took 2.5-4 s at the gathers' start, where pkgset.global still waits for
    the signing keys' pass meanwhile."""
    return gather_worker.SolverHost([depsolve.Repo("pkgset", repo_path)], arch)


def offer_host(compose, arch, repo_path, host):
    """Offer the gathers of ``arch`` a :func:`start_host` host whose repo has the same
    repodata as the arch's package set repo ``repo_path``: the first gather over that repo
    alone takes it (GatherPhase.offered_host); the arch's last gather closes it if none did,
    and :func:`close_offered_hosts` when no gather ran."""
    with _solvers_lock:
        old = compose.__dict__.setdefault("offered_hosts", {}).pop(arch, None)
        compose.offered_hosts[arch] = (repo_path, host)
    if old is not None:
        old[1].close()


def close_offered_hosts(compose):
    """Close the hosts :func:`offer_host` offered that no gather took."""
    with _solvers_lock:
        hosts = list(getattr(compose, "offered_hosts", {}).values())
        getattr(compose, "offered_hosts", {}).clear()
    for _path, host in hosts:
        host.close()


def result_digest(result):
    """A digest of the packages a gather chose (NEVRA and file name per category) in the
    unit's outputs: when it changed, the units after it know at once that no old unit has
    their key (:mod:`pungi_like.reuse_differs`)."""
    return reuse_differs.digest(
        f"{category} {nevra} {os.path.basename(pkg.path)}"
        for category in ("binary", "debug", "source", "lookaside")
        for nevra, pkg in sorted(getattr(result, category).items()))


def _name_arch_items(items):
    """Items written ``name.arch`` with a known arch (which Pungi's deps method reads as names)."""
    known = {a for table in (archmod.NATIVE, archmod.MULTILIB) for arches in table.values()
             for a in arches} | {"noarch"}
    return [i for i in items if "." in i and i.rpartition(".")[2] in known]


def json_inputs(conf, variant, arch):
    """The ``json`` source (``gather_source_mapping``) of one variant.arch: names, or
    ``name.arch`` where the mapping gives arches."""
    path = conf.gather_source_mapping
    if not path:
        return []
    path = os.path.join(getattr(conf, "config_dir", "") or "", path)
    with open(path, encoding="utf-8") as fh:
        mapping = json.load(fh)
    result = []
    for name, arches in sorted(mapping.get(variant.uid, {}).get(arch, {}).items()):
        for a in arches or [None]:
            result.append(f"{name}.{a}" if a else name)
    return result


def prepopulate_inputs(conf, variant, arch):
    """``gather_prepopulate`` items (``name.arch``) of one variant.arch."""
    src = conf.gather_prepopulate
    if not src:
        return []
    path = src.get("file") if isinstance(src, dict) else src
    path = os.path.join(getattr(conf, "config_dir", "") or "", path)
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return sorted(_flatten(data.get(variant.uid, {}).get(arch, {}).values()))


def _relative_to(top):
    """``os.path.relpath(path, top)`` for absolute, normalised paths: a prefix cut when the
    path is under ``top`` (relpath costs 40 us, and gather records every package's path)."""
    prefix = top.rstrip("/") + "/"

    def relative(path):
        if path.startswith(prefix) and "/." not in path and "//" not in path:
            return path[len(prefix):]
        return os.path.relpath(path, top)
    return relative


def _link(*args, **kwargs):
    """``gather_worker.link_package`` (the name this module used before gather_worker had it)."""
    return gather_worker.link_package(*args, **kwargs)


def _srpm_name(filename):
    stem = filename[:-len(".src.rpm")] if filename.endswith(".src.rpm") else filename
    return stem.rsplit("-", 2)[0]
