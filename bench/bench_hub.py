#!/usr/bin/env python3
"""Hub benchmark: getTag and listTaggedRPMS calls per second on a big inherited tag.

A tag chain of LEVELS tags (top inherits level 1 inherits ... the root) holds BUILDS builds in
total (one binary RPM and one SRPM each), spread evenly over the levels, with the package list on
the root tag. We measure, through the real hub over HTTP (``pungi-like-hub serve`` in its own
process, the koji client library in this one):

* ``getTag(top)``
* ``listTaggedRPMS(top, inherit=True, latest=True)`` (what Pungi's pkgset phase asks)

and, as the peer in the same run, the same data read straight from the database with SQLAlchemy
(no XML-RPC, no HTTP, no Koji semantics beyond the joins): the tag row with its config for
getTag, and every RPM with its build of the 5 tags for listTaggedRPMS. Both backends: SQLite and
PostgreSQL (127.0.0.1:5432, user postgres). Medians of several runs; the ratio is ours/peer in
calls per second.

    .venv/bin/python bench/bench_hub.py [--builds 20000] [--levels 5] [--runs 5]
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
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from sqlalchemy import insert, select  # noqa: E402

from pungi_like.buildsvc.db import open_db  # noqa: E402
from pungi_like.buildsvc.db import schema as s  # noqa: E402
from pungi_like.buildsvc.instance import init_hub  # noqa: E402

PG_ADMIN = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def populate(db_url, builds, levels):
    """Bulk-load the tag chain straight into the database; returns the top tag's name."""
    db = open_db(db_url)
    now = time.time()
    per_level = builds // levels
    with db.engine.begin() as conn:
        ev = conn.execute(insert(s.events).values(ts=now).returning(s.events.c.id)).scalar_one()
        admin = conn.execute(select(s.users.c.id)).scalar()
        vol = conn.execute(select(s.volume.c.id)).scalar()
        hist = {"create_event": ev, "creator_id": admin, "active": True}
        names = ["bench-l%d" % i for i in range(levels)]  # l0 is the root
        tag_ids = []
        for n in names:
            tid = conn.execute(insert(s.tag).values(name=n).returning(s.tag.c.id)).scalar_one()
            tag_ids.append(tid)
            conn.execute(insert(s.tag_config).values(tag_id=tid, arches="x86_64", locked=False,
                                                     maven_support=False,
                                                     maven_include_all=False, **hist))
        for child, parent in zip(tag_ids[1:], tag_ids[:-1]):
            conn.execute(insert(s.tag_inheritance).values(
                tag_id=child, parent_id=parent, priority=10, maxdepth=None, intransitive=False,
                noconfig=False, pkg_filter="", **hist))
        # Each package has one build per level: the top levels shadow the lower ones.
        npkgs = per_level
        conn.execute(insert(s.package), [{"id": i + 1, "name": "pkg%05d" % i}
                                         for i in range(npkgs)])
        conn.execute(insert(s.tag_packages), [dict(package_id=i + 1, tag_id=tag_ids[0],
                                                   blocked=False, extra_arches=None, **hist)
                                              for i in range(npkgs)])
        conn.execute(insert(s.tag_package_owners), [dict(package_id=i + 1, tag_id=tag_ids[0],
                                                         owner=admin, **hist)
                                                    for i in range(npkgs)])
        build_rows, rpm_rows, listing = [], [], []
        bid = 0
        for level, tid in enumerate(tag_ids):
            for i in range(npkgs):
                bid += 1
                build_rows.append(dict(id=bid, pkg_id=i + 1, version="1.%d" % level,
                                       release="1", epoch=None, draft=False, state=1,
                                       owner=admin, volume_id=vol, create_event=ev,
                                       start_ts=now, completion_ts=now))
                for arch in ("x86_64", "src"):
                    rpm_rows.append(dict(build_id=bid, name="pkg%05d" % i,
                                         version="1.%d" % level, release="1", epoch=None,
                                         arch=arch, draft=False, external_repo_id=0,
                                         payloadhash="%032x" % (bid * 2 + len(arch)),
                                         size=1000 + i, buildtime=int(now),
                                         metadata_only=False))
                listing.append(dict(build_id=bid, tag_id=tid, **hist))
        conn.execute(insert(s.build), build_rows)
        conn.execute(insert(s.rpminfo), rpm_rows)
        conn.execute(insert(s.tag_listing), listing)
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            for t in ("package", "build", "rpminfo"):
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))"
                    % (t, t))
            conn.exec_driver_sql("ANALYZE")
    db.dispose()
    return names[-1], names


def peer_queries(db_url, top, names):
    """The same data read directly with SQLAlchemy: (getTag peer, listTaggedRPMS peer)."""
    db = open_db(db_url)
    b, r, tl, p = s.build, s.rpminfo, s.tag_listing, s.package

    def get_tag():
        with db.engine.connect() as conn:
            row = conn.execute(select(s.tag.c.id, s.tag.c.name, s.tag_config.c.arches,
                                      s.tag_config.c.perm_id, s.tag_config.c.locked)
                               .select_from(s.tag.join(s.tag_config,
                                                       s.tag_config.c.tag_id == s.tag.c.id))
                               .where(s.tag.c.name == top, s.tag_config.c.active.is_(True))
                               ).first()
            conn.execute(select(s.tag_extra.c.key, s.tag_extra.c.value).where(
                s.tag_extra.c.tag_id == row.id, s.tag_extra.c.active.is_(True))).all()
            return row

    def tagged_rpms():
        with db.engine.connect() as conn:
            tag_ids = select(s.tag.c.id).where(s.tag.c.name.in_(names))
            q = (select(r.c.name, r.c.version, r.c.release, r.c.arch, r.c.id, r.c.epoch,
                        r.c.payloadhash, r.c.size, r.c.buildtime, r.c.build_id, b.c.id,
                        p.c.name, b.c.version, b.c.release, tl.c.tag_id, tl.c.create_event)
                 .select_from(r.join(tl, tl.c.build_id == r.c.build_id)
                              .join(b, b.c.id == r.c.build_id).join(p, p.c.id == b.c.pkg_id))
                 .where(tl.c.tag_id.in_(tag_ids), tl.c.active.is_(True), b.c.state == 1))
            return conn.execute(q).all()

    return db, get_tag, tagged_rpms


def rate(fn, min_calls, min_seconds):
    """Calls per second of ``fn`` over at least ``min_calls`` calls and ``min_seconds``."""
    n = 0
    start = time.perf_counter()
    while n < min_calls or time.perf_counter() - start < min_seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def median_rate(fn, runs, min_calls, min_seconds):
    fn()  # warm caches
    return statistics.median(rate(fn, min_calls, min_seconds) for _ in range(runs))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_backend(backend, args, workdir):
    import koji

    pg_name = None
    if backend == "postgres":
        import psycopg

        pg_name = "pl_hub_bench_%s" % uuid.uuid4().hex[:10]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s" % pg_name)
        db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name
    else:
        db_url = None
    topdir = os.path.join(workdir, backend)
    config = init_hub(topdir, "benchadmin", db_url)
    t0 = time.perf_counter()
    top, names = populate(config.db_url, args.builds, args.levels)
    load_s = time.perf_counter() - t0
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
        cs = koji.ClientSession("http://127.0.0.1:%d/kojihub" % port)
        rpms, builds = cs.listTaggedRPMS(top, inherit=True, latest=True)
        assert len(builds) == args.builds // args.levels, len(builds)
        db, peer_tag, peer_rpms = peer_queries(config.db_url, top, names)
        results = {
            "getTag": (median_rate(lambda: cs.getTag(top), args.runs, 50, 1.0),
                       median_rate(peer_tag, args.runs, 50, 1.0)),
            "listTaggedRPMS": (
                median_rate(lambda: cs.listTaggedRPMS(top, inherit=True, latest=True),
                            args.runs, 1, 0.0),
                median_rate(peer_rpms, args.runs, 1, 0.0)),
        }
        db.dispose()
        return load_s, len(rpms), results
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builds", type=int, default=20000)
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = ap.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = tempfile.mkdtemp(prefix="bench-hub-")
    try:
        print("%d builds (%d RPMs) in a chain of %d tags; medians of %d runs"
              % (args.builds, 2 * args.builds, args.levels, args.runs))
        print("%-10s %-16s %12s %12s %8s" % ("backend", "call", "hub calls/s", "peer calls/s",
                                             "ratio"))
        for backend in backends:
            load_s, nrpms, results = bench_backend(backend, args, workdir)
            for call, (ours, peer) in results.items():
                print("%-10s %-16s %12.1f %12.1f %8.2f" % (backend, call, ours, peer,
                                                           ours / peer))
            print("%-10s (loaded in %.1f s; listTaggedRPMS latest returns %d RPMs)"
                  % (backend, load_s, nrpms))
        print("peer: the same rows read straight from the database with SQLAlchemy "
              "(no XML-RPC/HTTP, no latest/package-list semantics)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
