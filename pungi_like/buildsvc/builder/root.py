"""An image's root filesystem from a kickstart: %packages resolved with libsolv against the
task's repos (groups from the repos' comps), installed with rpm, %post run; plus the pieces every
image task shares (the installed-RPM list for the archive, checksums of produced files).

%packages semantics (as dnf/anaconda apply them):

* ``@core`` is added unless ``--nocore`` (when the comps has a ``core`` group);
* ``@group`` brings its mandatory and default packages, ``--nodefaults`` only the mandatory ones,
  ``--optional`` the optional ones as well; ``@^env`` brings the environment's groups;
  ``-@group`` drops a group;
* ``-name`` / ``-glob`` keeps matching packages out of the transaction entirely (a libsolv lock:
  nothing may pull them in);
* a package named explicitly that no repo has fails the build (unless ``--ignoremissing``); a
  group member no repo has is skipped and logged, as dnf does.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time

import solv

from ... import tools
from ...errors import PhaseError, ToolError
from ...rpmtools.comps import Comps
from ...rpmtools.depsolve import Depsolver, Repo
from ...rpmtools.repodata import repo_path, repomd_locations
from ...rpmtools.rootinstall import install_root
from . import sandbox

log = logging.getLogger("pungi_like.builder.root")

RPM_QUERY_FORMAT = ("%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{BUILDTIME}"
                    "\\t%{SIZE}\\t%{SIGMD5}\\t%{PAYLOADDIGEST}\\t%{SOURCERPM}\\n")


class ImageBuildError(PhaseError):
    """An image task cannot go on; the message says what and points at the log."""


def repo_dirs(repos):
    """Local directories of ``repos`` (paths, file:// URLs, or (name, url) pairs)."""
    result = []
    for i, r in enumerate(repos, 1):
        name, url = r if isinstance(r, (tuple, list)) else (f"repo-{i}", r)
        result.append(Repo(name=name, path=repo_path(os.fspath(url))))
    return result


def load_repo_comps(repos):
    """Groups from every repo's ``group`` metadata merged into one Comps (the first repo that
    defines a group or an environment wins), or None when no repo has comps."""
    merged = None
    seen = set()
    for repo in repos:
        try:
            locations = repomd_locations(repo.path)
        except Exception as exc:  # not a repo: the depsolver reports it more precisely
            log.debug("%s: %s", repo.path, exc)
            continue
        path = locations.get("group") or locations.get("group_gz")
        if not path:
            continue
        if path.endswith(".gz"):
            import gzip
            with gzip.open(path, "rb") as fh:
                comps = Comps.from_string(fh.read())
        else:
            comps = Comps.from_file(path)
        if merged is None:
            merged = comps.copy()
            seen = {(e.tag, e.findtext("id")) for e in merged.root}
            continue
        for elem in comps.root:
            key = (elem.tag, elem.findtext("id"))
            if key not in seen:
                merged.root.append(elem)
                seen.add(key)
    return merged


def packages_from_kickstart(ks_packages, comps):
    """(explicit names, group-member names, notes) that ``%packages`` asks for."""
    groups = {}
    wanted_groups = []
    if comps is not None:
        groups = comps.groups()
        if not ks_packages.nocore and "core" in groups:
            wanted_groups.append(("core", "default"))
        if ks_packages.environment:
            env_groups = comps.environment_groups(ks_packages.environment)
            if ks_packages.environment not in comps.environment_ids():
                raise ImageBuildError(f"%packages: environment @^{ks_packages.environment} "
                                      f"is not in the repos' comps")
            wanted_groups += [(g, "default") for g in env_groups]
    elif ks_packages.groups or ks_packages.environment:
        raise ImageBuildError("%packages names groups but no repo has comps (group) metadata")
    wanted_groups += [(g.name, g.include) for g in ks_packages.groups]
    notes = []
    members = []
    done = set()
    for gid, include in wanted_groups:
        if gid in ks_packages.excluded_groups or (gid, include) in done:
            continue
        done.add((gid, include))
        if gid not in groups:
            raise ImageBuildError(f"%packages: group @{gid} is not in the repos' comps")
        for req in groups[gid].packages:
            if req.type == "mandatory" or (req.type == "default" and include != "mandatory") \
                    or (req.type == "optional" and include == "all"):
                members.append(req.name)
    return list(ks_packages.packages), members, notes


def _select(pool, pattern):
    flags = (solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_PROVIDES
             | solv.Selection.SELECTION_GLOB | solv.Selection.SELECTION_DOTARCH)
    return pool.select(pattern, flags)


def resolve_kickstart_packages(ks_packages, repos, arch, *, log_path=None):
    """Paths of the RPMs the kickstart's %packages installs, sorted by file name."""
    repos = repo_dirs(repos) if repos and not isinstance(repos[0], Repo) else list(repos)
    solver = Depsolver(repos, arch)
    pool = solver.pool
    comps = load_repo_comps(repos)
    explicit, members, _ = packages_from_kickstart(ks_packages, comps)
    excluded = list(ks_packages.excluded)

    def is_excluded(name):
        return any(fnmatch.fnmatchcase(name, pat) for pat in excluded)

    jobs, missing, skipped = [], [], []
    for name in explicit:
        if is_excluded(name):
            continue
        sel = _select(pool, name)
        if sel.isempty():
            missing.append(name)
        else:
            jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
    for name in sorted(set(members) - set(explicit)):
        if is_excluded(name):
            continue
        sel = _select(pool, name)
        if sel.isempty():
            skipped.append(name)
        else:
            jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
    for pattern in excluded:
        sel = pool.select(pattern, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_GLOB)
        if not sel.isempty():
            jobs += sel.jobs(solv.Job.SOLVER_LOCK)
    lines = [f"explicit: {' '.join(explicit)}", f"from groups: {' '.join(sorted(set(members)))}",
             f"excluded: {' '.join(excluded)}"]
    if skipped:
        lines.append(f"group members no repo has (skipped): {' '.join(skipped)}")
    if missing:
        lines.append(f"missing: {' '.join(missing)}")
    _log(log_path, "\n".join(lines))
    if missing and not ks_packages.ignoremissing:
        raise ImageBuildError(f"%packages: no package in the repos provides "
                              f"{', '.join(missing)} (use %packages --ignoremissing to skip)")
    if not jobs:
        raise ImageBuildError("%packages selects nothing to install")
    s = pool.Solver()
    problems = s.solve(jobs)
    if problems:
        raise ImageBuildError("%packages cannot be installed:\n  "
                              + "\n  ".join(str(p) for p in problems))
    paths = []
    for p in s.transaction().newsolvables():
        pkg = solver.pkgs.get(p.id)
        if pkg is None:
            raise ImageBuildError(f"{p}: resolved package has no file in the repos")
        paths.append(pkg.path)
    paths.sort(key=os.path.basename)
    _log(log_path, "transaction:\n" + "".join(f"  {os.path.basename(p)}\n" for p in paths))
    return paths


def _log(log_path, text):
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(text.rstrip("\n") + "\n")


def run_post_scripts(ks, root_dir, *, log_path, env=None, network=False):
    """Run the kickstart's %post scripts in order.

    In-chroot scripts run with ``root_dir`` as ``/`` in a bubblewrap sandbox (as root, no
    network unless ``network``; fresh /dev and /proc).  ``--nochroot`` scripts run on the builder
    with ``INSTALL_ROOT`` set to the root (as livecd-creator sets it), plus ``env``.  A failing
    script stops the build only with ``--erroronfail``.  Returns [{lineno, in_chroot, exit}].
    """
    results = []
    for i, script in enumerate(ks.post_scripts(), 1):
        origin = ks.script_origin(script)
        _log(log_path, f"# %post {i} ({origin}) "
                       f"{'in the root' if script.in_chroot else '--nochroot'} "
                       f"interpreter {script.interp}")
        if script.in_chroot:
            rel = f"tmp/ks-script-{i}"
            os.makedirs(os.path.join(root_dir, "tmp"), exist_ok=True)
            path = os.path.join(root_dir, rel)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(script.body)
            if not os.path.exists(os.path.join(root_dir, script.interp.lstrip("/"))):
                raise ImageBuildError(f"%post at {origin}: interpreter {script.interp} is not "
                                      f"installed in the image")
            try:
                proc = sandbox.run_in_root(root_dir, [script.interp, "/" + rel],
                                           log_path=log_path, check=False, network=network,
                                           env=env)
            finally:
                os.unlink(path)
        else:
            path = os.path.join(os.path.dirname(os.path.abspath(log_path)),
                                f"ks-script-nochroot-{i}")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(script.body)
            run_env = dict(os.environ, INSTALL_ROOT=os.path.abspath(root_dir), **(env or {}))
            proc = tools.run([script.interp, path], log_path=log_path, check=False, env=run_env,
                             cwd=os.path.dirname(path))
        results.append({"origin": origin, "in_chroot": script.in_chroot,
                        "exit": proc.returncode})
        if proc.returncode != 0 and script.error_on_fail:
            raise ImageBuildError(f"%post at {origin} --erroronfail exited with "
                                  f"{proc.returncode}; see {log_path}")
    return results


def installed_rpms(root_dir):
    """The RPMs installed in ``root_dir`` as Koji's image rpmlist entries (name, version,
    release, epoch, arch, buildtime, size, payloadhash = SIGMD5 hex, sourcerpm), sorted."""
    proc = tools.run(["rpm", "--root", os.path.abspath(root_dir), "--dbpath", "/var/lib/rpm",
                      "-qa", "--qf", RPM_QUERY_FORMAT])
    rpms = []
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 10:
            continue
        name, epoch, version, release, arch, buildtime, size, sigmd5, payload, src = parts
        rpms.append({"name": name, "epoch": int(epoch) if epoch.isdigit() and epoch != "0"
                     else None, "version": version, "release": release, "arch": arch,
                     "buildtime": int(buildtime) if buildtime.isdigit() else 0,
                     "size": int(size) if size.isdigit() else 0,
                     "payloadhash": sigmd5 if sigmd5 != "(none)" else "",
                     "payloaddigest": payload if payload != "(none)" else "",
                     "sourcerpm": src if src != "(none)" else None})
    rpms.sort(key=lambda r: (r["name"], r["arch"], r["version"], r["release"]))
    return rpms


def populate_root(ks, repos, arch, root_dir, *, log_dir, post_env=None):
    """Resolve, install and run %post for ``ks`` into ``root_dir``; returns
    {"rpms": installed_rpms, "post": results, "seconds": {...}}."""
    times = {}
    t0 = time.monotonic()
    root_log = os.path.join(log_dir, "root.log")
    paths = resolve_kickstart_packages(ks.packages, repos, arch, log_path=root_log)
    times["resolve"] = round(time.monotonic() - t0, 2)
    t0 = time.monotonic()
    try:
        install_root(root_dir, paths, log_path=root_log, excludedocs=ks.packages.excludedocs)
    except ToolError as exc:
        raise ImageBuildError(f"installing the image's packages failed: {exc}") from exc
    times["install"] = round(time.monotonic() - t0, 2)
    t0 = time.monotonic()
    post = run_post_scripts(ks, root_dir, log_path=os.path.join(log_dir, "post.log"),
                            env=post_env)
    times["post"] = round(time.monotonic() - t0, 2)
    return {"rpms": installed_rpms(root_dir), "post": post, "seconds": times}


def file_info(path, *, arch, media_type, **extra):
    """imageinfo-like record of one produced file: filename, size, arch, sha256, md5."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            sha256.update(block)
            md5.update(block)
    info = {"filename": os.path.basename(path), "path": os.path.abspath(path),
            "size": os.path.getsize(path), "arch": arch, "type": media_type,
            "checksum": sha256.hexdigest(), "checksum_type": "sha256",
            "checksums": {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}}
    info.update(extra)
    return info
