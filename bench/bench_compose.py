#!/usr/bin/env python3
"""The demo compose against the tools it drives, run directly on the same package sets.

    .venv/bin/python bench/bench_compose.py [--runs 3]

Ours: the demo compose from plain repos (configs/demo/demo-repos.conf) without its bootable
media and boot tests (``pungi-like-koji --nightly``: init, pkgset, gather, createrepo,
imagechecksum, test), so both sides do the same kind of work.
Peer: what the compose cannot avoid doing, done by hand on the same inputs: one libsolv solve per
variant.arch (its final package names as the job, on the package set repo) plus one
``createrepo_c`` per tree of the finished compose (binary, debug and source, on copies of its
Packages). The ratio says how much the orchestration (config, comps, linking, manifests,
repoclosure, scheduling) costs on top of the tools. Medians of ``--runs`` runs.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import solv  # noqa: E402

from pungi_like.rpmtools.repodata import repomd_locations  # noqa: E402
from pungi_like.universe import ensure_universe  # noqa: E402


def repos_config(tmp, universe):
    """demo-repos.conf with absolute paths and without the bootable media sections."""
    demo = os.path.join(ROOT, "configs", "demo")
    text = open(os.path.join(demo, "demo_base.conf")).read()
    text = text.split("# bootable media")[0]
    text += open(os.path.join(demo, "demo-repos.conf")).read().replace(
        "from demo_base import *", "")
    text = text.replace("../../.cache/universe/repo", universe.repo_dir)
    text = text.replace("../../.cache/universe/comps.xml", universe.comps_path)
    text = text.replace('"variants.xml"', repr(os.path.join(demo, "variants.xml")))
    path = os.path.join(tmp, "bench.conf")
    with open(path, "w") as fh:
        fh.write(text)
    return path


def run_compose(config, target):
    start = time.monotonic()
    subprocess.run([sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji"),
                    "--config", config,
                    "--target-dir", target, "--nightly", "--quiet", "--no-latest-link"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def solve_directly(repo_dir, jobs_by_tree):
    """One libsolv solve per variant.arch on the package set, as testsolv would."""
    start = time.monotonic()
    for names in jobs_by_tree.values():
        pool = solv.Pool()
        pool.setarch("x86_64")
        repo = pool.add_repo("pkgset")
        loc = repomd_locations(repo_dir)
        for kind, flags in (("primary", 0), ("filelists", solv.Repo.REPO_EXTEND_SOLVABLES)):
            fh = solv.xfopen(loc[kind])
            repo.add_rpmmd(fh, None, flags)
            fh.close()
        pool.addfileprovides()
        pool.createwhatprovides()
        jobs = []
        for name in names:
            sel = pool.select(name, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_DOTARCH)
            if not sel.isempty():
                jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
        solver = pool.Solver()
        solver.set_flag(solv.Solver.SOLVER_FLAG_ALLOW_UNINSTALL, 1)
        solver.solve(jobs)
    return time.monotonic() - start


def createrepo_directly(compose_top, scratch):
    """createrepo_c on a copy (hardlinks) of every tree's packages."""
    trees = sorted(os.path.dirname(d) for d in glob.glob(
        os.path.join(compose_top, "**", "Packages"), recursive=True) if os.path.isdir(d))
    copies = []
    for i, tree in enumerate(trees):
        dest = os.path.join(scratch, f"tree{i}")
        shutil.copytree(os.path.join(tree, "Packages"), os.path.join(dest, "Packages"),
                        copy_function=os.link)
        copies.append(dest)
    createrepo = os.path.join(os.path.dirname(sys.executable), "createrepo_c")
    start = time.monotonic()
    for dest in copies:
        subprocess.run([createrepo, dest, "--general-compress-type", "gz", "--no-database",
                        "--workers", "3", "--quiet"], check=True)
    return time.monotonic() - start, len(copies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    universe = ensure_universe(os.path.join(ROOT, ".cache", "universe"), quiet=True)
    ours, solves, repos = [], [], []
    trees = 0
    with tempfile.TemporaryDirectory() as tmp:
        config = repos_config(tmp, universe)
        for run in range(args.runs):
            target = os.path.join(tmp, f"composes{run}")
            ours.append(run_compose(config, target))
            topdir = [d for d in glob.glob(os.path.join(target, "Demo-*"))][0]
            rpms = json.load(open(os.path.join(topdir, "compose/metadata/rpms.json")))
            jobs = {}
            for variant, arches in rpms["payload"]["rpms"].items():
                for arch, srpms in arches.items():
                    jobs[(variant, arch)] = sorted(
                        {n.rsplit("-", 2)[0] + "." + n.rsplit(".", 1)[1]
                         for s in srpms.values() for n, e in s.items()
                         if e["category"] == "binary"})
            solves.append(solve_directly(universe.repo_dir, jobs))
            seconds, trees = createrepo_directly(os.path.join(topdir, "compose"),
                                                 os.path.join(tmp, f"scratch{run}"))
            repos.append(seconds)
    ours_m = statistics.median(ours)
    peer_m = statistics.median(solves) + statistics.median(repos)
    print(f"demo compose: {len(jobs)} variant.arch trees, {trees} repos; medians of {args.runs} runs")
    print(f"{'what':48} {'seconds':>8}")
    print(f"{'pungi-like-koji (whole compose)':48} {ours_m:8.2f}")
    print(f"{'peer: libsolv solves (one per variant.arch)':48} {statistics.median(solves):8.2f}")
    print(f"{'peer: createrepo_c (one per tree)':48} {statistics.median(repos):8.2f}")
    print(f"{'peer total':48} {peer_m:8.2f}")
    print(f"{'ratio ours / peer':48} {ours_m / peer_m:8.2f}")


if __name__ == "__main__":
    main()
