#!/usr/bin/env python3
"""Reuse of old composes on the 10,000-RPM universe: cold, no-op re-run and one changed
package, as ratios of cold (issue 12; goals: no-op <= 0.10, one changed <= 0.30).

    .venv/bin/python bench/bench_reuse.py [--rpms 10000] [--runs 3]

Input: bench_compose's universe and base scenario config (2 variants, x86_64, createrepo_c,
createiso, checksums, repoclosure), with ``gather_allow_reuse = True`` (Pungi's default is
False). Each run, in a fresh target directory:
  * cold: the first compose of the release there (nothing to reuse);
  * no-op: the same config again into the same target directory (it finds the cold compose);
  * one changed: one source package of the universe (``--change``, default p0250: 20 binary
    RPMs and its SRPM) rebuilt with a higher release into a hard-linked copy of the repos,
    then the compose again into the same target directory. The config names the repos at one
    path, a symbolic link to the universe, pointed at the changed copy for this run: the same
    config and repos whose content changed, as a nightly's (``--copy-path``: the copy at its
    own path in a config of its own, as before, so that the repo and comps paths in the
    units' inputs change as well).
The pungi_like and phases packages are byte-compiled first (``--no-compile``: not), as
installed. Every compose runs with a fixed SOURCE_DATE_EPOCH: by default the time stamps come from the
newest build in the package set, and a rebuilt package moves them for every tree.
The peer is our own cold compose (the ratio is what reuse saves); ``reused`` counts the units
taken from the old compose (timeline.json). The CPU seconds (user + system of the driver and
the tools it ran) are printed beside the wall: on a shared machine they move less with the
load (the goals are the wall ratios).
"""

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_compose import (GENERATOR, SUBPKGS, byte_compile, critical_path,  # noqa: E402
                           ensure_universe, render_config)

EPOCH = "1700000000"


def compose(config, target):
    """(wall seconds, CPU seconds, compose dir, units reused, units in all); CPU: user +
    system of the driver and every process it waited for."""
    exe = os.path.join(os.path.dirname(sys.executable), "pungi-like-koji")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m",
                                             "pungi_like.cli.compose_driver"]
    before = set(os.listdir(target)) if os.path.isdir(target) else set()
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(cmd + ["--config", config, "--target-dir", target, "--nightly", "--quiet",
                          "--no-latest-link"], check=True, stdout=subprocess.DEVNULL, env=env,
                   cwd=os.path.dirname(config))
    seconds = time.monotonic() - start
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime
    new = sorted(d for d in os.listdir(target) if d not in before and d.startswith("Peer-"))
    topdir = os.path.join(target, new[-1])
    with open(os.path.join(topdir, "logs", "global", "timeline.json")) as fh:
        units = json.load(fh)["units"]
    return seconds, cpu, topdir, sum(1 for u in units if u.get("reused")), len(units)


def ran_units(topdir):
    """The units of a compose that ran rather than took an old compose's results."""
    with open(os.path.join(topdir, "logs", "global", "timeline.json")) as fh:
        return sorted(u["unit"] for u in json.load(fh)["units"] if not u.get("reused"))


def point_at(link, target):
    """Make ``link`` a symbolic link to ``target`` (replaced atomically)."""
    new = link + ".new"
    if os.path.lexists(new):
        os.unlink(new)
    os.symlink(target, new)
    os.replace(new, link)


def changed_universe(data, tmp, name):
    """A copy of the universe (hard links) with source package ``name`` rebuilt one release
    higher: its old RPMs out, the new ones in, repodata made again."""
    copy = os.path.join(tmp, "universe-changed")
    if os.path.isdir(copy):
        return copy
    subprocess.run(["cp", "-al", data, copy], check=True)
    spec = os.path.join(data, "specs", f"{name}.spec")
    with open(spec) as fh:
        text = fh.read()
    release = re.search(r"^Release:\s*(\S+)$", text, re.M).group(1)
    newer = "2." + release
    topdir = os.path.join(tmp, "rpmbuild")
    new_spec = os.path.join(tmp, f"{name}.spec")
    with open(new_spec, "w") as fh:
        fh.write(re.sub(r"^Release:.*$", f"Release:        {newer}", text, flags=re.M))
    subprocess.run(["rpmbuild", "-ba", "--define", f"_topdir {topdir}", new_spec], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trees = {"rpm": os.path.join(copy, "repo", "x86_64", "os"),
             "src": os.path.join(copy, "repo", "source", "tree")}
    for tree in trees.values():
        for base, _dirs, files in os.walk(tree):
            for fname in files:
                if fname.endswith(".rpm") and re.match(rf"{name}(-[a-z0-9]+)*-[^-]+-"
                                                       rf"{re.escape(release)}\.", fname):
                    os.unlink(os.path.join(base, fname))
    for base, _dirs, files in os.walk(os.path.join(topdir, "RPMS")):
        for fname in files:
            shutil.copy2(os.path.join(base, fname), os.path.join(trees["rpm"], "Packages", fname))
    for fname in os.listdir(os.path.join(topdir, "SRPMS")):
        dest = os.path.join(trees["src"], "Packages", fname)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(topdir, "SRPMS", fname), dest)
    for tree in trees.values():
        shutil.rmtree(os.path.join(tree, "repodata"))
        subprocess.run(["createrepo_c", "--quiet", tree], check=True)
    return copy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpms", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--change", default="p0250", help="the source package rebuilt")
    parser.add_argument("--copy-path", action="store_true",
                        help="the changed universe at a path of its own, named by a config of "
                             "its own (before: the repo and comps paths in the units' inputs "
                             "change too, and the init units run again)")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not byte-compile pungi_like first (the figures then include "
                             "compiling its modules in every compose when no __pycache__ "
                             "is there, as with PYTHONDONTWRITEBYTECODE)")
    parser.add_argument("--path", action="store_true",
                        help="also print the critical path of the last no-op and one-changed "
                             "runs (timeline.json), and which units ran rather than reused")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(GENERATOR, "make-repo.sh")):
        sys.exit(f"the oracle corpus's generator is not at {GENERATOR}")
    data = ensure_universe(args.rpms // SUBPKGS)
    if not args.no_compile:
        byte_compile()
    figures = {k: [] for k in ("cold", "noop", "changed")}
    cpus = {k: [] for k in figures}
    reused = {k: [] for k in figures}
    paths = {}
    with tempfile.TemporaryDirectory(prefix="bench-reuse-") as tmp:
        changed = changed_universe(data, tmp, args.change)
        configs, where = {}, {"same": data, "changed": changed}
        link = os.path.join(tmp, "universe")
        if args.copy_path:
            keys = ("same", "changed")
        else:
            # one config, its repos at one path whose content changes, as a nightly's
            point_at(link, data)
            where, keys = {"same": link, "changed": link}, ("same",)
        for key in keys:
            config = render_config(where[key], os.path.join(tmp, f"conf-{key}"))
            with open(config, "a") as fh:
                fh.write("\ngather_allow_reuse = True\n")
            configs[key] = config
        configs.setdefault("changed", configs["same"])
        for run in range(args.runs):
            target = os.path.join(tmp, f"composes{run}")
            for what, config in (("cold", "same"), ("noop", "same"), ("changed", "changed")):
                if not args.copy_path:
                    point_at(link, changed if what == "changed" else data)
                seconds, cpu, topdir, count, total = compose(configs[config], target)
                if args.path and what != "cold":
                    paths[what] = (seconds, critical_path(topdir), ran_units(topdir))
                figures[what].append(seconds)
                cpus[what].append(cpu)
                reused[what].append(f"{count}/{total}")
            shutil.rmtree(target)
    med = {k: statistics.median(v) for k, v in figures.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    print(f"{args.rpms} RPMs, base scenario config, SOURCE_DATE_EPOCH fixed; "
          f"medians of {args.runs} runs")
    print(f"{'what':44} {'seconds':>8} {'/ cold':>7} {'CPU s':>7} {'/ cold':>7}  "
          "units reused (per run)")
    rows = (("cold compose", "cold", None),
            ("no-op re-run (goal <= 0.10)", "noop", 0.10),
            (f"one source package changed, {args.change} (goal <= 0.30)", "changed", 0.30))
    for label, key, _goal in rows:
        print(f"{label:44} {med[key]:8.2f} {med[key] / med['cold']:7.2f} {cpu[key]:7.2f} "
              f"{cpu[key] / cpu['cold']:7.2f}  {', '.join(reused[key])}")
    for what, (seconds, (path, length), ran) in sorted(paths.items()):
        busy = sum(end - start for _, start, end in path)
        print(f"{what}: last run {seconds:.2f} s; critical path {length:.2f} s (units "
              f"{busy:.2f} s, between them {length - busy:.2f} s; the rest is the driver's "
              "start and end):")
        for name, start, end in path:
            print(f"  {start:6.2f} {end:6.2f} {end - start:6.2f}  {name}")
        print(f"  units run, not reused ({len(ran)}): {', '.join(ran)}")


if __name__ == "__main__":
    main()
