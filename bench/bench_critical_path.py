#!/usr/bin/env python3
"""The demo compose's critical path against the tool time it contains.

    .venv/bin/python bench/bench_critical_path.py [--runs 3] [--compose DIR] [--config CONF]

Runs the demo compose (or reads an existing compose with ``--compose``) and reports, from
``logs/global/timeline.json``, the per-unit records (``work/global/units/*.json``, whose ``needs``
name the units each one waited for) and the command lines logged with their durations:

- wall: the compose's elapsed time (first unit start to last unit end)
- serial: the sum of every unit's duration (what a phase-serial, one-thread run would take)
- critical path: the longest chain of units through the dependency graph (no schedule on any
  number of threads can be shorter)
- tools: the sum of the durations of every external command (createrepo_c, rpm, mksquashfs,
  implantisomd5, qemu, ...) recorded in the logs - the peer figure: the work the tools do

Ratios: wall / critical path (how close the scheduler gets to the ideal on this machine's cores)
and critical path / tools (the orchestration on the longest chain against the tools' own time).
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL_LINE = re.compile(r"^# exit code -?\d+, ([\d.]+) s\b")


def analyse(topdir):
    timeline = json.load(open(os.path.join(topdir, "logs", "global", "timeline.json")))
    units = {u["unit"]: u for u in timeline["units"]}
    needs = {}
    for path in glob.glob(os.path.join(topdir, "work", "global", "units", "*.json")):
        record = json.load(open(path))
        needs[record["unit"]] = list(record.get("needs") or {})
    finish = {}

    def longest(name):
        # longest chain ending with ``name``: its duration plus the longest of its needs
        if name not in finish:
            own = units[name]["duration"] if name in units else 0.0
            finish[name] = own + max((longest(d) for d in needs.get(name, []) if d in units),
                                     default=0.0)
        return finish[name]

    critical = max(longest(n) for n in units)
    serial = sum(u["duration"] for u in units.values())
    wall = max(u["end"] for u in units.values()) - min(u["start"] for u in units.values())
    tools = 0.0
    count = 0
    for log in glob.glob(os.path.join(topdir, "logs", "**", "*.log"), recursive=True):
        with open(log, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = TOOL_LINE.match(line.strip())
                if m:
                    tools += float(m.group(1))
                    count += 1
    return {"wall": wall, "serial": serial, "critical": critical, "tools": tools,
            "commands": count, "units": len(units)}


def run_compose(config, target):
    start = time.monotonic()
    subprocess.run([sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji"), "--config",
                    config, "--target-dir", target, "--nightly", "--quiet", "--no-latest-link"],
                   check=True, stdout=subprocess.DEVNULL)
    elapsed = time.monotonic() - start
    return [d for d in glob.glob(os.path.join(target, "*")) if os.path.isdir(d)][0], elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compose", help="analyse this compose instead of running one")
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "demo", "demo.conf"))
    args = parser.parse_args()
    results = []
    if args.compose:
        results.append(analyse(args.compose))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                topdir, _ = run_compose(args.config, os.path.join(tmp, str(run)))
                results.append(analyse(topdir))
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"demo compose: {int(med['units'])} units, {int(med['commands'])} tool commands; "
          f"medians of {len(results)} run(s)")
    for key, label in (("wall", "wall time"), ("serial", "sum of unit durations (serial)"),
                       ("critical", "critical path through the unit graph"),
                       ("tools", "sum of tool command times (peer)")):
        print(f"{label:44} {med[key]:8.2f} s")
    print(f"{'wall / critical path':44} {med['wall'] / med['critical']:8.2f}")
    print(f"{'serial / wall (parallel speed-up)':44} {med['serial'] / med['wall']:8.2f}")
    print(f"{'critical path / tools':44} {med['critical'] / med['tools']:8.2f}")


if __name__ == "__main__":
    main()
