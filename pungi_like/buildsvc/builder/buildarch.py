"""The work of a ``buildArch`` task: binary RPMs from an SRPM for one arch.

1. The SRPM's BuildRequires (plus the ``build`` group of the repos' comps, when there is one,
   as Koji's build tags define it) are resolved with libsolv against the build tag's repo.  A
   BuildRequires that nothing provides fails at once with ``nothing provides <dep> needed by
   <srpm>``; other conflicts fail with libsolv's problem text.
2. The resolved packages are installed with rpm into ``<workdir>/buildroot`` (``root.log``).
3. The host's ``rpmbuild --rebuild`` runs in a bubblewrap sandbox: the host's ``/`` read-only,
   only the build directory writable, no network, no capabilities, private /tmp, PID/IPC/UTS
   namespaces (``build.log``).  rpmbuild checks the BuildRequires against the *buildroot's* rpm
   database (``--define _dbpath <buildroot>/var/lib/rpm``), so a build only starts when the
   buildroot really holds them.

What the buildroot does *not* do: the compiler, shell and tools that run are the host's, not
the buildroot's (the demo packages carry no compiled code and the buildroot has no rpm-build), so
the buildroot governs dependency checking only; a package whose build needs files from a
BuildRequires would not find them.  A chroot build (mock-style) needs a buildroot with a
toolchain: ``run_in_buildroot=True`` runs rpmbuild inside the buildroot instead, for repos that
provide one.
"""

from __future__ import annotations

import glob
import os
import shutil
import time

import solv

from ... import tools
from ...errors import PhaseError, ToolError
from ...rpmtools.depsolve import Depsolver
from ...rpmtools.rootinstall import install_root
from . import sandbox
from .root import load_repo_comps, repo_dirs

_SENSE = {2: solv.REL_LT, 4: solv.REL_GT, 8: solv.REL_EQ}
BUILD_GROUPS = ("build",)


class BuildError(PhaseError):
    """A package build failed; the message names the cause."""


def srpm_info(srpm_path):
    """name, version, release, epoch, buildrequires [(name, flags, version)], exclusivearch,
    excludearch of an SRPM (read with the host's rpm)."""
    qf = ("%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{SOURCERPM}\\n"
          "[R\\t%{REQUIRENAME}\\t%{REQUIREFLAGS}\\t%{REQUIREVERSION}\\n]"
          "[X\\t%{EXCLUSIVEARCH}\\n][E\\t%{EXCLUDEARCH}\\n]")
    proc = tools.run(["rpm", "-qp", "--nosignature", "--nodigest", "--qf", qf, srpm_path])
    lines = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("warning:")]
    name, version, release, epoch, sourcerpm = lines[0].split("\t")
    if sourcerpm != "(none)":
        raise BuildError(f"{srpm_path} is not a source RPM (it names {sourcerpm} as its source)")
    # no Epoch tag is None (as Koji records it), not 0
    info = {"name": name, "version": version, "release": release,
            "epoch": None if epoch == "(none)" else int(epoch),
            "buildrequires": [], "exclusivearch": [], "excludearch": []}
    for line in lines[1:]:
        kind, *rest = line.split("\t")
        if kind == "R" and not rest[0].startswith("rpmlib("):
            info["buildrequires"].append((rest[0], int(rest[1]), rest[2]))
        elif kind == "X":
            info["exclusivearch"].append(rest[0])
        elif kind == "E":
            info["excludearch"].append(rest[0])
    return info


def _dep(pool, name, flags, version):
    if name.startswith("("):
        return pool.parserpmrichdep(name)
    dep = pool.Dep(name)
    rel = 0
    for bit, solv_rel in _SENSE.items():
        if flags & bit:
            rel |= solv_rel
    if rel and version:
        dep = dep.Rel(rel, pool.Dep(version))
    return dep


def _dep_text(name, flags, version):
    ops = "".join(op for bit, op in ((2, "<"), (4, ">"), (8, "=")) if flags & bit)
    return f"{name} {ops} {version}" if ops and version else name


def resolve_buildroot(srpm, repos, arch):
    """Paths of the packages a buildroot for ``srpm`` needs (sorted), and the group used."""
    info = srpm_info(srpm) if isinstance(srpm, str) else srpm
    repos = repo_dirs(repos)
    solver = Depsolver(repos, arch)
    pool = solver.pool
    label = f"{info['name']}-{info['version']}-{info['release']}.src.rpm"
    jobs, missing = [], []
    for name, flags, version in info["buildrequires"]:
        dep = _dep(pool, name, flags, version)
        if dep is None or not pool.whatprovides(dep):
            missing.append(_dep_text(name, flags, version))
            continue
        jobs.append(pool.Job(solv.Job.SOLVER_INSTALL | solv.Job.SOLVER_SOLVABLE_PROVIDES,
                             dep.id))
    if missing:
        raise BuildError("\n".join(f"nothing provides {m} needed by {label}" for m in missing)
                         + f"\n(BuildRequires not satisfiable from {', '.join(r.path for r in repos)})")
    group_names = []
    comps = load_repo_comps(repos)
    if comps is not None:
        groups = comps.groups()
        for gid in BUILD_GROUPS:
            if gid in groups:
                group_names += [r.name for r in groups[gid].packages
                                if r.type in ("mandatory", "default")]
    for name in group_names:
        sel = pool.select(name, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_PROVIDES)
        if sel.isempty():
            raise BuildError(f"build group package {name} is not in the repos")
        jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
    if not jobs:
        return [], group_names
    s = pool.Solver()
    problems = s.solve(jobs)
    if problems:
        raise BuildError(f"cannot install the buildroot of {label}:\n  "
                         + "\n  ".join(str(p) for p in problems))
    paths = sorted((solver.pkgs[p.id].path for p in s.transaction().newsolvables()),
                   key=os.path.basename)
    return paths, group_names


def build_arch(srpm_path, repos, *, arch, workdir, timeout=3600, run_in_buildroot=False,
               keep_buildroot=False, on_buildroot=None):
    """Rebuild ``srpm_path`` for ``arch``; returns {"rpms", "srpm", "logs", "buildroot"
    (installed NEVRAs), "seconds"}.  Raises BuildError (naming the log) on failure.

    ``on_buildroot(installed)``, if given, is called with the installed NEVRAs once the
    buildroot is made and before rpmbuild runs (the builder records the buildroot's contents
    with the hub then, as kojid does after mock's init)."""
    workdir = os.path.abspath(workdir)
    log_dir = os.path.join(workdir, "logs")
    buildroot = os.path.join(workdir, "buildroot")
    topdir = os.path.join(workdir, "rpmbuild")
    for d in (buildroot, topdir):
        if os.path.exists(d):
            shutil.rmtree(d)
    os.makedirs(log_dir, exist_ok=True)
    os.makedirs(topdir)
    root_log = os.path.join(log_dir, "root.log")
    build_log = os.path.join(log_dir, "build.log")
    info = srpm_info(srpm_path)
    if info["exclusivearch"] and arch not in info["exclusivearch"] and \
            "noarch" not in info["exclusivearch"]:
        raise BuildError(f"{os.path.basename(srpm_path)}: ExclusiveArch "
                         f"{' '.join(info['exclusivearch'])} does not include {arch}")
    if arch in info["excludearch"]:
        raise BuildError(f"{os.path.basename(srpm_path)}: ExcludeArch includes {arch}")
    seconds = {}
    t0 = time.monotonic()
    with open(root_log, "a", encoding="utf-8") as fh:
        fh.write(f"# buildroot for {os.path.basename(srpm_path)} ({arch}); BuildRequires: "
                 f"{', '.join(_dep_text(*br) for br in info['buildrequires']) or '(none)'}\n")
    try:
        paths, group = resolve_buildroot(info, repos, arch)
    except BuildError as exc:
        with open(root_log, "a", encoding="utf-8") as fh:
            fh.write(f"ERROR: {exc}\n")
        raise
    with open(root_log, "a", encoding="utf-8") as fh:
        fh.write(f"# build group: {' '.join(group) or '(none)'}\n"
                 + "".join(f"  {os.path.basename(p)}\n" for p in paths))
    if paths:
        installed = install_root(buildroot, paths, log_path=root_log)
    else:
        os.makedirs(buildroot)
        tools.run(["rpm", "--root", buildroot, "--dbpath", "/var/lib/rpm", "--initdb"],
                  log_path=root_log)
        installed = []
    seconds["buildroot"] = round(time.monotonic() - t0, 2)
    if on_buildroot is not None:
        on_buildroot(installed)
    t0 = time.monotonic()
    srpm_copy = os.path.join(topdir, os.path.basename(srpm_path))
    shutil.copyfile(srpm_path, srpm_copy)
    rpmbuild = ["rpmbuild", "--rebuild", srpm_copy, "--target", arch,
                "--define", f"_topdir {topdir}"]
    try:
        if run_in_buildroot:
            proc = sandbox.run_in_root(buildroot, rpmbuild, binds={topdir: topdir},
                                       log_path=build_log, check=False, timeout=timeout)
        else:
            rpmbuild += ["--define", f"_dbpath {os.path.join(buildroot, 'var/lib/rpm')}"]
            proc = sandbox.run_on_host(rpmbuild, writable=[topdir, os.path.join(
                buildroot, "var/lib/rpm")], log_path=build_log, check=False, timeout=timeout,
                cwd=topdir, env={"HOME": topdir})
    except ToolError as exc:
        raise BuildError(f"rpmbuild could not run: {exc}") from exc
    seconds["rpmbuild"] = round(time.monotonic() - t0, 2)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-10:])
        raise BuildError(f"rpmbuild --rebuild {os.path.basename(srpm_path)} for {arch} exited "
                         f"with {proc.returncode}; see {build_log}\n{tail}")
    rpms = sorted(glob.glob(os.path.join(topdir, "RPMS", "*", "*.rpm")))
    if not rpms:
        raise BuildError(f"rpmbuild produced no binary RPM; see {build_log}")
    if not keep_buildroot:
        shutil.rmtree(buildroot)
    return {"rpms": rpms, "srpm": srpm_path, "logs": [build_log, root_log],
            "buildroot": installed, "name": info["name"], "version": info["version"],
            "release": info["release"], "epoch": info["epoch"], "seconds": seconds}
