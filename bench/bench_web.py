#!/usr/bin/env python3
"""Web UI benchmark: seconds per page on the 20,000-build data of bench_hub.py.

bench_hub's ``populate`` loads a chain of LEVELS tags holding BUILDS builds (two RPMs each,
BUILDS/LEVELS packages) straight into the database; the hub (``pungi-like-hub serve`` in its own
process, plain HTTP) serves the pages, fetched here with ``requests``. For each page the peer,
measured in the same run against the same hub, is the XML-RPC call (koji.ClientSession) that
fetches the page's main data, so the ratio is what the page costs beyond its data (the other
calls it makes, rendering, HTML transfer). The target is under 0.3 s per page. Medians of
several runs; SQLite (the embedded default) or PostgreSQL (127.0.0.1:5432, user postgres).

    .venv/bin/python bench/bench_web.py [--builds 20000] [--levels 5] [--runs 5]
                                        [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_hub import create_pg_database, free_port, populate, stop_hub  # noqa: E402

from pungi_like.buildsvc.instance import init_hub  # noqa: E402

TARGET_SECONDS = 0.3


def pages(top, top_id, build_id, rpm_id, pkg_id, npkgs):
    """(page URL, peer call as (method, args, kwargs)) pairs."""
    latest = {"order": "-build_id", "limit": 51}
    return [
        ("index", ("listBuilds", (), {"queryOpts": {"order": "-build_id", "limit": 10}})),
        ("builds", ("listBuilds", (), {"queryOpts": latest})),
        ("builds?start=19900&order=nvr", ("listBuilds", (), {"queryOpts": {
            "order": "nvr", "offset": 19900, "limit": 51}})),
        ("buildinfo?buildID=%d" % build_id, ("getBuild", (build_id,), {})),
        ("rpminfo?rpmID=%d" % rpm_id, ("getRPM", (rpm_id,), {})),
        ("packages", ("listPackages", (), {"queryOpts": {"order": "package_name",
                                                          "limit": 51}})),
        ("packageinfo?packageID=%d" % pkg_id, ("getPackage", (pkg_id,), {})),
        ("tags", ("listTags", (), {})),
        ("taginfo?tagID=%d" % top_id, ("getLatestBuilds", (top,), {})),
        ("builds?tagID=%d" % top_id, ("listTagged", (top,), {"inherit": True,
                                                             "latest": True})),
        ("packages?tagID=%d" % top_id, ("listPackages", (), {
            "tagID": top_id, "inherited": True, "queryOpts": {"order": "package_name",
                                                              "limit": 51}})),
        ("tasks?state=all", ("listTasks", ({"decode": False, "parent": None},),
                             {"queryOpts": {"order": "-id", "limit": 51}})),
        ("hosts", ("listHosts", (), {})),
        ("users", ("listUsers", (), {})),
        ("search?terms=pkg0001*&type=package&match=glob", ("listPackages", (), {})),
    ]


def median_seconds(fn, runs):
    fn()  # warm caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_backend(backend, args, workdir):
    import koji
    import requests

    pg_name = db_url = None
    if backend == "postgres":
        pg_name, db_url = create_pg_database("pl_web_bench")
    topdir = os.path.join(workdir, backend)
    config = init_hub(topdir, "benchadmin", db_url)
    top, _names = populate(config.db_url, args.builds, args.levels)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pungi_like.cli.hub", "serve", "--topdir",
                             topdir, "--listen", "127.0.0.1:%d" % port],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        base = "http://127.0.0.1:%d" % port
        cs = koji.ClientSession(base + "/kojihub")
        top_id = cs.getTag(top)["id"]
        build = cs.listBuilds(queryOpts={"order": "-build_id", "limit": 1})[0]
        rpm = cs.listRPMs(buildID=build["build_id"])[0]
        http = requests.Session()
        rows = []
        for page, (method, margs, mkw) in pages(top, top_id, build["build_id"], rpm["id"],
                                                build["package_id"], args.builds // args.levels):
            url = "%s/koji/%s" % (base, page)

            def get(url=url):
                r = http.get(url, timeout=120)
                if r.status_code != 200:
                    raise SystemExit("%s answered %d:\n%s" % (url, r.status_code, r.text[:2000]))
                return len(r.content)

            t0 = time.perf_counter()
            size = get()
            first = time.perf_counter() - t0
            ours = median_seconds(get, args.runs)
            peer = median_seconds(lambda: getattr(cs, method)(*margs, **mkw), args.runs)
            rows.append((page, first, ours, peer, size))
        return rows
    finally:
        stop_hub(proc, pg_name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builds", type=int, default=20000)
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    args = ap.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = tempfile.mkdtemp(prefix="bench-web-")
    slow = 0
    try:
        print("%d builds (%d RPMs, %d packages) in a chain of %d tags; medians of %d runs"
              % (args.builds, 2 * args.builds, args.builds // args.levels, args.levels,
                 args.runs))
        print("%-9s %-46s %8s %8s %8s %6s %7s" % ("backend", "page", "first s", "page s",
                                                  "peer s", "ratio", "bytes"))
        for backend in backends:
            for page, first, ours, peer, size in bench_backend(backend, args, workdir):
                flag = "" if max(first, ours) < TARGET_SECONDS else \
                    "  SLOW" if ours >= TARGET_SECONDS else "  SLOW (first)"
                slow += bool(flag)
                print("%-9s %-46s %8.3f %8.3f %8.3f %6.1f %7d%s" % (
                    backend, page, first, ours, peer, ours / peer, size, flag))
        print("first: the page's first request (whole-tag lists not yet cached); page: median "
              "after it; peer: the XML-RPC call (koji.ClientSession, same hub) that fetches "
              "the page's main data; target: every page under %.1f s, its first request too"
              % TARGET_SECONDS)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
