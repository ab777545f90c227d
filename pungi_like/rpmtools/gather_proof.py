"""Whether a gather over a changed package set would give an old gather's result, from the
changed packages alone, so that the solve need not run (``phases.gather``: a variant whose
packages the one-package-changed nightly did not touch).

The deps method (:mod:`pungi_like.rpmtools.gathering`) decides by queries on the package set:
name globs (inputs, comps groups with their optional and conditional packages, conditional
and langpack rules, prepopulate, filters, the multilib lists), the providers of each Requires
of a package it holds, the binaries, debug packages and source packages of a source package
it holds, the multilib builds of a name it holds. When none of the packages that differ
between the old and the new package set (added, removed, rebuilt: ``changed``, each by name,
arch and source package) can be the answer to one of those queries, or change one, each
query answers as it did, so the passes make the same choices in the same order and end with
the old result. :func:`prove` checks, for an old result ``old`` made with the same options
(the caller compares the options and the ``system-release`` providers):

- the kind of gather the argument holds for: deps, ``greedy_method`` none (the one provider
  a Requires takes is the best by name, arch and what was chosen before - never by package
  id: with one repo and no two copies of a build there is no tie, so the order the new pool
  numbers its packages in does not matter), no fulltree, no self-hosting (whose BuildRequires
  :func:`prove` does not look at), no lookaside repo, no fulltree excludes, no copies of one
  build;
- no changed package has the name of a package of ``old`` or its source, or is built from
  (or is) the source package of one (then its binaries, debug packages, multilib builds,
  versions and source are what they were);
- no changed name matches a pattern the gather matches names against;
- no package of the new set with a changed name and arch (a rebuild, an older version a
  removed one hid) provides anything a package of ``old`` requires (libsolv's
  ``whatmatchessolvable``: the providers the solve would see, file requires and rich
  dependencies included), obsoletes or conflicts with one of them (the gather follows
  neither: refused all the same);
- the source package of each binary of ``old`` is found once at most (``pass_sources``
  takes the first of several by package id).

A removed package that was not in ``old`` can only have been a provider that lost (the best
among fewer providers that hold the winner is the winner) or a name no pattern reaches. None
of this reads what a package of ``old`` requires in Python: the check is per changed
package, in libsolv.
"""

import fnmatch
from dataclasses import dataclass

import solv

from .depsolve import GLOB_CHARS, GatheredPackage, GatherResult, nevra_from_filename
from .gathering import _src_nvr

#: more changed packages than this and no proof is tried (a solve is cheaper)
MAX_CHANGED = 64


@dataclass(frozen=True)
class Changed:
    """A package that differs between the old and the new package set of the arch."""
    name: str
    arch: str
    sourcerpm: str      # the file name of its source package ("" for a source package)


def srpm_name(filename):
    """The name of the source package whose file name is ``filename``."""
    return nevra_from_filename(filename).rsplit("-", 2)[0] if filename else ""


def rebuild(solver, old, prefix):
    """The result ``old`` (a gather result as its JSON file holds it) over the packages of
    ``solver`` found at ``prefix/<its file name>`` with the same NEVRA and source package:
    ``(GatherResult, [the solver's packages])``, or None when one is not there or not the
    newest of its name and arch. The paths are the new package set's, as a solve gives them."""
    latest = solver.latest
    package = solver.package
    result = GatherResult()
    pkgs = []
    prefix = prefix.rstrip("/") + "/"
    for key, target in (("rpm", result.binary), ("srpm", result.source),
                        ("debuginfo", result.debug)):
        for item in old.get(key) or ():
            nevra = item["nevra"]
            pkg = package(prefix + item["path"].rpartition("/")[2])
            if pkg is None or pkg.sid not in latest or pkg.sourcerpm != item["sourcerpm"] \
                    or pkg.repo.name != item["repo"] or not nevra.startswith(pkg.name + "-") \
                    or not nevra.endswith("." + pkg.arch) or nevra in target:
                return None
            target[nevra] = GatheredPackage(pkg.name, pkg.epoch, pkg.version, pkg.release,
                                            pkg.arch, pkg.path, pkg.sourcerpm, pkg.repo.name,
                                            set(item["flags"]))
            pkgs.append(pkg)
    if old.get("lookaside"):
        return None
    result.missing = list(old.get("missing") or ())
    result.filtered = list(old.get("filtered") or ())
    result.broken_deps = [tuple(x) for x in old.get("broken_deps") or ()]
    result.missing_sources = list(old.get("missing_sources") or ())
    return result, pkgs


def patterns(options, comps=None, groups=()):
    """Every name pattern a gather with ``options`` (``gathering.gather``'s keyword
    arguments) matches package names against, suffixes ``.+`` and ``.src`` also taken off."""
    found = list(options.get("packages") or ())
    found += [item.rpartition(".")[0] or item for item in options.get("prepopulate") or ()]
    found += options.get("prepopulate") or ()
    for option in ("filter_packages", "multilib_whitelist", "multilib_blacklist"):
        found += options.get(option) or ()
    conditional = list(options.get("conditional") or ())
    if groups and comps is not None:
        found += comps.group_packages(groups, include_optional=True, include_conditional=True)
        conditional += comps.conditional_packages(groups)
    for install, required in conditional:
        found += [install, required]
    for name, install in options.get("langpacks") or ():
        found += [name, install.replace("%s", "*")]
    out = set()
    for pattern in found:
        pattern = pattern.strip()
        out.add(pattern)
        for suffix in (".+", ".src"):
            if pattern.endswith(suffix):
                out.add(pattern[:-len(suffix)])
    return out


def why_not(options, solver):
    """Why :func:`prove`'s argument does not hold for gathers with ``options`` over
    ``solver``, or None."""
    if options.get("method", "deps") != "deps":
        return "not the deps method"
    if options.get("greedy", "none") != "none":
        return "greedy_method is not none"
    if options.get("fulltree") or options.get("selfhosting"):
        return "fulltree or self-hosting"
    if options.get("fulltree_excludes"):
        return "fulltree excludes"
    if any(repo.lookaside for repo in solver.repos):
        return "a lookaside repo"
    if len(solver.latest) != len(solver.unique_latest()):
        return "copies of one build in the package set"
    return None


def prove(solver, result, pkgs, changed, options, comps=None, groups=()):
    """None when a gather with ``options`` (and ``comps``, ``groups``) over ``solver`` gives
    ``result`` (:func:`rebuild`'s, of an old gather with the same options over the package
    set before ``changed``, a list of :class:`Changed`) with its packages ``pkgs``; else why
    not (see the module's docstring)."""
    reason = why_not(options, solver)
    if reason:
        return reason
    if result.lookaside:
        return "the old result has lookaside packages"
    if len(changed) > MAX_CHANGED:
        return f"{len(changed)} packages changed"
    srpms = {p.sourcerpm for p in pkgs if p.sourcerpm and not p.is_source}
    held = {p.name for p in pkgs} | {srpm_name(f) for f in srpms}
    for c in changed:
        if c.name in held or srpm_name(c.sourcerpm) in held:
            return f"{c.name}.{c.arch} changed: it or its source is in the old result"
    names = {c.name for c in changed}
    literal = set()
    for pattern in patterns(options, comps, groups):
        if GLOB_CHARS & set(pattern):
            hit = next((n for n in names if fnmatch.fnmatchcase(n, pattern)), None)
            if hit is not None:
                return f"{hit} changed: it matches {pattern}"
        else:
            literal.add(pattern)
    if names & literal:
        return f"{sorted(names & literal)[0]} changed: an input or rule names it"
    keys = {(c.name, c.arch) for c in changed}
    pool = solver.pool
    ids = set()
    installable = {}    # arch -> whether libsolv's whatmatchessolvable looks at its packages
    for p in pkgs:
        if p.is_source:
            continue
        ok = installable.get(p.arch)
        if ok is None:
            # by arch alone (nothing here gives the pool a "considered" map)
            ok = installable[p.arch] = p.solvable.installable()
        if not ok:
            return f"{p.nevra} is not installable for libsolv"
        ids.add(p.sid)
    counts = {}
    for x in solver.unique_latest():
        if x.is_source:
            key = (x.name, x.version, x.release)
            counts[key] = counts.get(key, 0) + 1
        if (x.name, x.arch) not in keys:
            continue
        if any(s.id in ids for s in pool.whatmatchessolvable(solv.SOLVABLE_REQUIRES, x.solvable, 0)):
            return f"{x.nevra} provides what the old result requires"
        for keyname, what in ((solv.SOLVABLE_OBSOLETES, "obsoletes"),
                              (solv.SOLVABLE_CONFLICTS, "conflicts with")):
            for dep in x.solvable.lookup_deparray(keyname):
                if any(s.id in ids for s in pool.whatprovides(dep)):
                    return f"{x.nevra} {what} a package of the old result"
    for srpm in srpms:
        if counts.get(_src_nvr(srpm), 0) > 1:
            return f"several source packages of {srpm}"
    return None
