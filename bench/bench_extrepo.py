#!/usr/bin/env python3
"""Build tag repo with an http external repo: ``builder.newrepo.generate_repo`` against what
kojid runs (createrepo_c over the tag's packages, then ``mergerepo_c --koji``) on the same input.

    .venv/bin/python bench/bench_extrepo.py [--rpms 10000] [--tag-rpms 200] [--runs 3]

The external repo is the bench universe of ``bench_compose.py`` (``--rpms`` RPMs, built once
into ``.cache/bench-universe/``) served over HTTP on 127.0.0.1; the tag holds the first
``--tag-rpms`` of its RPMs (so the tag wins their SRPM names and the mirror's copies are dropped).
Runs are interleaved (ours, peer, ...), each into a fresh directory; printed: median wall seconds,
CPU seconds (with child processes), the ratio ours/peer, and the package count of both results
(they must be equal).
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_compose import SUBPKGS, ensure_universe  # noqa: E402

from pungi_like.buildsvc.builder.newrepo import generate_repo  # noqa: E402
from pungi_like.rpmtools.repodata import createrepo_binary  # noqa: E402
from tests.httprepo import primary_records, serve_directory  # noqa: E402


def _cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn):
    t0, c0 = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - t0, _cpu() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpms", type=int, default=10000)
    ap.add_argument("--tag-rpms", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    universe = ensure_universe(max(1, args.rpms // SUBPKGS))
    ext = os.path.join(universe, "repo", "x86_64", "os")
    rpms = sorted(os.path.join(dp, f) for dp, _d, fs in os.walk(os.path.join(ext, "Packages"))
                  for f in fs if f.endswith(".rpm"))
    tag = rpms[:args.tag_rpms]
    mergerepo = os.path.join(os.path.dirname(createrepo_binary()), "mergerepo_c")
    if not os.access(mergerepo, os.X_OK):
        mergerepo = shutil.which("mergerepo_c")
    with tempfile.TemporaryDirectory(prefix="bench-extrepo-") as tmp, \
            serve_directory(os.path.dirname(ext)) as srv:
        url = srv.url + "os/"
        top = os.path.join(tmp, "top")
        os.makedirs(top)
        for p in tag:
            shutil.copy(p, top)
        tag_paths = sorted(os.path.join(top, os.path.basename(p)) for p in tag)
        by_arch = {"x86_64": [p for p in tag_paths if not p.endswith(".noarch.rpm")],
                   "noarch": [p for p in tag_paths if p.endswith(".noarch.rpm")]}
        blocklist = os.path.join(tmp, "blocklist")
        open(blocklist, "w").close()
        results = {"ours": [], "peer": []}
        counts = {}
        for run in range(args.runs):
            out = os.path.join(tmp, "ours%d" % run)

            def ours():
                generate_repo(out, by_arch, arches=["x86_64"], topdir=top,
                              external_repos=[(url, 10, "koji")])

            results["ours"].append(_timed(ours))
            counts["ours"] = len(primary_records(os.path.join(out, "x86_64")))
            pre = os.path.join(tmp, "premerge%d" % run)
            merged = os.path.join(tmp, "merged%d" % run)

            def peer():
                os.makedirs(pre)
                with open(os.path.join(pre, "pkglist"), "w") as f:
                    f.write("".join(os.path.relpath(p, pre) + "\n" for p in tag_paths))
                subprocess.run([createrepo_binary(), "--pkglist", os.path.join(pre, "pkglist"),
                                "--general-compress-type=gz", "--workers=3", pre, "-o", pre],
                               check=True, capture_output=True, cwd=pre)
                subprocess.run([mergerepo, "--koji", "-b", blocklist, "-a", "x86_64",
                                "--arch-expand", "-o", merged, "-r", "file://%s/" % pre,
                                "-r", url], check=True, capture_output=True, cwd=tmp)

            results["peer"].append(_timed(peer))
            counts["peer"] = len(primary_records(merged))
            shutil.rmtree(out)
        print(f"external repo: {len(rpms)} RPMs over HTTP; tag: {len(tag)} RPMs; "
              f"runs: {args.runs}")
        print(f"{'':24}{'wall s':>10}{'cpu s':>10}{'packages':>10}")
        med = {}
        for name, label in (("ours", "ours (generate_repo)"),
                            ("peer", "createrepo_c+mergerepo_c")):
            wall = statistics.median(r[0] for r in results[name])
            cpu = statistics.median(r[1] for r in results[name])
            med[name] = wall
            print(f"{label:24}{wall:10.2f}{cpu:10.2f}{counts[name]:10d}")
        print(f"ratio ours/peer (wall): {med['ours'] / med['peer']:.2f}")
        if counts["ours"] != counts["peer"]:
            print("PACKAGE COUNTS DIFFER", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
