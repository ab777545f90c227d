"""Installing a set of packages into an empty root: the installer runtime, a live image's root.

:func:`resolve_packages` computes an install transaction with libsolv (a real transaction, not a
compose's gather: conflicts are refused and each Requires gets exactly one provider), loading
the repos through :class:`pungi_like.rpmtools.depsolve.Depsolver`.  :func:`install_root` runs
``rpm --root ROOT --dbpath /var/lib/rpm -i`` with every package in one transaction, so rpm
orders them and checks their dependencies itself (no ``--nodeps``).

Scriptlets run chrooted into the root, which needs root privileges: as root (CI, builders) they
run; otherwise rpm is given ``--noscripts`` and a warning says so, because an unprivileged
rpm cannot chroot at all.
"""

from __future__ import annotations

import logging
import os

import solv

from .. import tools
from ..errors import PhaseError
from .depsolve import Depsolver, Repo

log = logging.getLogger("pungi_like.rootinstall")


def _as_repos(repo_dirs):
    if isinstance(repo_dirs, (str, os.PathLike)):
        repo_dirs = [repo_dirs]
    repos = []
    for i, r in enumerate(repo_dirs):
        repos.append(r if isinstance(r, Repo) else Repo(name=f"repo{i}", path=os.fspath(r)))
    return repos


def resolve_packages(repo_dirs, names, arch="x86_64", exclude=()):
    """Paths of the RPMs an install of ``names`` needs (the names and their dependency closure),
    sorted by file name.

    ``repo_dirs``: one repo directory, or a list (directories or ``depsolve.Repo``).
    ``exclude``: names never installed (as lorax's ``--excludepkgs``).  Unknown names and
    unsatisfiable dependencies raise PhaseError listing every problem libsolv found.
    """
    solver = Depsolver(_as_repos(repo_dirs), arch)
    pool = solver.pool
    jobs, missing = [], []
    for name in names:
        sel = pool.select(name, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_PROVIDES
                          | solv.Selection.SELECTION_DOTARCH)
        if sel.isempty():
            missing.append(name)
            continue
        jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
    for name in exclude:
        # a lock on a package that is not installed keeps it out of the transaction
        sel = pool.select(name, solv.Selection.SELECTION_NAME)
        if not sel.isempty():
            jobs += sel.jobs(solv.Job.SOLVER_LOCK)
    if missing:
        raise PhaseError(f"cannot install into the root: no package provides "
                         f"{', '.join(missing)} in {', '.join(r.path for r in solver.repos)}")
    s = pool.Solver()
    problems = s.solve(jobs)
    if problems:
        lines = [str(p) for p in problems]
        raise PhaseError("cannot install into the root: dependency problems:\n  "
                         + "\n  ".join(lines))
    trans = s.transaction()
    paths = []
    for p in trans.newsolvables():
        pkg = solver.pkgs.get(p.id)
        if pkg is None:
            raise PhaseError(f"{p}: resolved package has no file in the repos")
        paths.append(pkg.path)
    return sorted(paths, key=os.path.basename)


def install_root(root_dir, rpm_paths, log_path=None, excludedocs=False, extra_args=(),
                 source_date_epoch=None):
    """Install ``rpm_paths`` into ``root_dir`` (created if needed) in one rpm transaction.

    With ``source_date_epoch`` rpm records that time as the install time (rpm reads
    ``SOURCE_DATE_EPOCH``), so the database of two installs of the same packages is the same.

    Returns the sorted NEVRAs rpm reports installed (``rpm -qa`` in the root).
    """
    root_dir = os.path.abspath(root_dir)
    os.makedirs(root_dir, exist_ok=True)
    if not rpm_paths:
        raise PhaseError("install_root: no packages to install")
    cmd = ["rpm", "--root", root_dir, "--dbpath", "/var/lib/rpm", "-i",
           "--define", "_pkgverify_level none", "--nosignature"]
    if os.geteuid() != 0:
        log.warning("not running as root: installing into %s with --noscripts (rpm cannot "
                    "chroot to run scriptlets)", root_dir)
        cmd.append("--noscripts")
    if excludedocs:
        cmd.append("--excludedocs")
    cmd += list(extra_args) + sorted(rpm_paths, key=os.path.basename)
    env = dict(os.environ)
    if source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(int(source_date_epoch))
    tools.run(cmd, log_path=log_path, env=env)
    proc = tools.run(["rpm", "--root", root_dir, "--dbpath", "/var/lib/rpm", "-qa",
                      "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n"],
                     log_path=log_path)
    return sorted(line for line in proc.stdout.splitlines() if line and ":" in line)
