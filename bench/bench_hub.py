#!/usr/bin/env python3
"""Hub benchmark: getTag, listTaggedRPMS, getLatestBuilds and listTagged on a big inherited tag.

A tag chain of LEVELS tags (top inherits level 1 inherits ... the root) holds BUILDS builds in
total (a source RPM and RPMS_PER_BUILD - 1 binary RPMs each), spread evenly over the levels: every
package has one build per level, so the top's latest builds shadow the lower ones, and the
package list is on the root tag. Through the real hub over HTTPS (``pungi-like-hub serve`` in its
own process) we measure:

* ``getTag(top)``
* ``listTaggedRPMS(top, inherit=True, latest=True)`` (what Pungi's pkgset phase asks),
  ``getLatestBuilds(top)`` and ``listTagged(top, inherit=True, latest=True)``

each three ways: with the koji client library (what a user gets), as the hub's answer alone
(the same request body posted, the answer read but not parsed) and as the parsing of that answer
alone (the standard library's XML-RPC parser, which the koji client uses: the client's floor).
The peer, in the same run, reads the same data straight from the database with SQLAlchemy (no
XML-RPC, no HTTP, no Koji semantics beyond the joins): the tag row with its config for getTag,
every RPM with its build of the LEVELS tags for listTaggedRPMS, every build of the LEVELS tags
for the two build lists. Both backends: SQLite and PostgreSQL (127.0.0.1:5432, user postgres).
Medians of several runs; the ratios are ours/peer in calls per second. A run of the big reads'
answer figure is the rate over ``--answer-calls`` calls in a row (5; until 2026-12-07 one call,
whose ~0.2 s swung 2x with the machine's load); their client, parse and peer figures are one
call a run.

The 50,000-RPM tag: ``--builds 25000 --rpms-per-build 10`` (5,000 latest builds of 10 RPMs).

Under load (issue 8), on the same hub:

* ``getTag`` and tag+untag (``tagBuildBypass`` then ``untagBuildBypass`` of a build of its own,
  into one shared tag, as the admin) with 1 client and with 8 concurrent clients (processes);
  the ratio is 8 clients / 1 client in operations per second.
* the latency of one call on a fresh connection (``getAPIVersion``: TCP, TLS handshake, call)
  alone and while 50 idle TCP connections (never starting TLS) and 50 idle TLS connections
  (handshake done, no request) are held open; it must stay under 0.1 s.

The hub serves HTTPS with client certificates (made for the run), as a shared hub does.

    .venv/bin/python bench/bench_hub.py [--builds 20000] [--levels 5] [--runs 5]
                                        [--backend sqlite|postgres|both] [--clients 8]
                                        [--idle 50] [--rpms-per-build 2] [--reads-only]
                                        [--no-answer-cache] [--answer-calls 5]

With the hub's answer cache (the default) the repeated reads at an unchanged state are answered
from it; ``--no-answer-cache`` measures the hub reading and encoding every answer.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import multiprocessing
import socket
import ssl
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


def populate(db_url, builds, levels, rpms_per_build=2):
    """Bulk-load the tag chain straight into the database; returns the top tag's name.

    Each build has a source RPM and ``rpms_per_build - 1`` x86_64 RPMs (the first named as the
    package, the others ``<package>-sub<N>``)."""
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
                for k in range(rpms_per_build):
                    name = "pkg%05d" % i if k < 2 else "pkg%05d-sub%d" % (i, k)
                    arch = "src" if k == 1 else "x86_64"
                    rpm_rows.append(dict(build_id=bid, name=name,
                                         version="1.%d" % level, release="1", epoch=None,
                                         arch=arch, draft=False, external_repo_id=0,
                                         payloadhash="%032x" % (bid * rpms_per_build + k),
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

    def tagged_builds():
        with db.engine.connect() as conn:
            tag_ids = select(s.tag.c.id).where(s.tag.c.name.in_(names))
            q = (select(b.c.id, p.c.name, b.c.version, b.c.release, b.c.epoch, b.c.state,
                        b.c.owner, b.c.volume_id, b.c.create_event, b.c.start_ts,
                        b.c.completion_ts, b.c.extra, tl.c.tag_id, tl.c.create_event)
                 .select_from(tl.join(b, b.c.id == tl.c.build_id)
                              .join(p, p.c.id == b.c.pkg_id))
                 .where(tl.c.tag_id.in_(tag_ids), tl.c.active.is_(True), b.c.state == 1))
            return conn.execute(q).all()

    return db, get_tag, tagged_rpms, tagged_builds


def _raw_session(pki):
    """An HTTPS session that posts XML-RPC bodies and reads the answers without parsing them."""
    import requests

    http = requests.Session()
    http.headers["Content-Type"] = "text/xml"
    # (verify per request: a session's verify loses to REQUESTS_CA_BUNDLE in the environment)
    return functools.partial(http.post, verify=os.path.join(pki, "ca.crt"))


def _call_body(method, args, kwargs):
    """The request body koji.ClientSession sends for ``method(*args, **kwargs)``."""
    import koji.xmlrpcplus

    params = tuple(args) + ((dict(kwargs, __starstar=True),) if kwargs else ())
    return koji.xmlrpcplus.dumps(params, method, allow_none=1).encode()


def _parse(answer):
    """What the koji client does with an answer: the standard library's XML-RPC parser."""
    import xmlrpc.client

    return xmlrpc.client.loads(answer)


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


LIMIT_S = 0.1  # the idle-connection latency bound


def _fmt(value):
    return "-" if value is None else "%.2f" % value


def _client(url, pki, user):
    import koji

    cs = koji.ClientSession(url, opts={"serverca": os.path.join(pki, "ca.crt"),
                                       "max_retries": 0})
    if user:
        cs.ssl_login(cert=os.path.join(pki, user + ".pem"), serverca=os.path.join(pki, "ca.crt"))
    return cs


def _load_worker(url, pki, op, top, build, seconds, barrier, results):
    """One client process: log in, wait for the others, run ``op`` for ``seconds``."""
    cs = _client(url, pki, "benchadmin" if op == "tag+untag" else None)
    barrier.wait()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if op == "getTag":
            cs.getTag(top)
        else:
            cs.tagBuildBypass("bench-dest", build)
            cs.untagBuildBypass("bench-dest", build)
        n += 1
    results.put(n / (time.perf_counter() - start))


def load_rate(url, pki, op, top, builds, clients, seconds):
    """Operations per second of ``clients`` processes doing ``op`` at the same time."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(clients), ctx.Queue()
    procs = [ctx.Process(target=_load_worker,
                         args=(url, pki, op, top, builds[i], seconds, barrier, results))
             for i in range(clients)]
    for p in procs:
        p.start()
    rates = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def fresh_call_latency(url, pki, calls=10):
    """Median seconds of one getAPIVersion on a new connection (TCP + TLS + call)."""
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        cs = _client(url, pki, None)
        cs.getAPIVersion()
        times.append(time.perf_counter() - t0)
        if cs.rsession is not None:
            cs.rsession.close()
    return statistics.median(times)


def idle_latency(url, pki, port, idle):
    """(alone, with ``idle`` idle TCP + ``idle`` idle TLS connections held open) latencies."""
    alone = fresh_call_latency(url, pki)
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
    held = []
    try:
        for _ in range(idle):
            held.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                                        server_hostname="127.0.0.1"))
        for _ in range(idle):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        loaded = fresh_call_latency(url, pki)
    finally:
        for sock in held:
            sock.close()
    return alone, loaded


def create_pg_database(prefix):
    """A new uniquely named PostgreSQL database: (name, URL)."""
    import psycopg

    name = "%s_%s" % (prefix, uuid.uuid4().hex[:10])
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    return name, PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def stop_hub(proc, pg_name):
    """Stop a served hub, then drop its PostgreSQL database (if it has one)."""
    proc.terminate()
    proc.wait(timeout=30)
    if pg_name:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


def bench_backend(backend, args, workdir):
    pg_name = db_url = None
    if backend == "postgres":
        pg_name, db_url = create_pg_database("pl_hub_bench")
    topdir = os.path.join(workdir, backend)
    config = init_hub(topdir, "benchadmin", db_url)
    if args.no_answer_cache:
        # the hub's cache of whole answers (hub/answer_cache.py) off: every call is answered
        # from the database (hub.json keys become HubConfig fields)
        import json

        path = os.path.join(topdir, ".hub", "hub.json")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        data["answer_cache_mb"] = 0
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
    t0 = time.perf_counter()
    top, names = populate(config.db_url, args.builds, args.levels, args.rpms_per_build)
    load_s = time.perf_counter() - t0
    from pungi_like.buildsvc import certs

    pki = os.path.join(workdir, "pki")
    if not os.path.exists(os.path.join(pki, "benchadmin.pem")):
        certs.make_ca(pki)
        certs.make_server_cert(pki, ["127.0.0.1", "localhost"])
        certs.make_user_cert(pki, "benchadmin")
    port = free_port()
    url = "https://127.0.0.1:%d/kojihub" % port
    proc = subprocess.Popen([sys.executable, "-m", "pungi_like.cli.hub", "serve", "--topdir",
                             topdir, "--listen", "127.0.0.1:%d" % port,
                             "--tls-cert", os.path.join(pki, "server.crt"),
                             "--tls-key", os.path.join(pki, "server.key"),
                             "--client-ca", os.path.join(pki, "ca.crt")],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        cs = _client(url, pki, None)
        rpms, builds = cs.listTaggedRPMS(top, inherit=True, latest=True)
        assert len(builds) == args.builds // args.levels, len(builds)
        assert len(rpms) == len(builds) * args.rpms_per_build, len(rpms)
        db, peer_tag, peer_rpms, peer_builds = peer_queries(config.db_url, top, names)
        http = _raw_session(pki)
        latest = {"inherit": True, "latest": True}
        results = {"getTag": (median_rate(lambda: cs.getTag(top), args.runs, 50, 1.0),
                              None, None, median_rate(peer_tag, args.runs, 50, 1.0))}
        for call, kwargs, peer in (("listTaggedRPMS", latest, peer_rpms),
                                   ("getLatestBuilds", {}, peer_builds),
                                   ("listTagged", latest, peer_builds)):
            body = _call_body(call, (top,), kwargs)
            answer = http(url, data=body).content
            results[call] = (
                median_rate(lambda: getattr(cs, call)(top, **kwargs), args.runs, 1, 0.0),
                median_rate(lambda: http(url, data=body).content, args.runs,
                            args.answer_calls, 0.0),
                median_rate(lambda: _parse(answer), args.runs, 1, 0.0),
                median_rate(peer, args.runs, 1, 0.0))
        if args.reads_only:
            db.dispose()
            return load_s, len(rpms), results, None, None
        db.dispose()
        admin = _client(url, pki, "benchadmin")
        admin.createTag("bench-dest")
        own_builds = [b["build_id"] for b in builds[:args.clients]]
        load = {}
        for op in ("getTag", "tag+untag"):
            single = statistics.median(load_rate(url, pki, op, top, own_builds, 1, args.seconds)
                                       for _ in range(args.runs))
            many = statistics.median(load_rate(url, pki, op, top, own_builds, args.clients,
                                               args.seconds) for _ in range(args.runs))
            load[op] = (single, many)
        idle = idle_latency(url, pki, port, args.idle)
        return load_s, len(rpms), results, load, idle
    finally:
        stop_hub(proc, pg_name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--builds", type=int, default=20000)
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (processes)")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one load run")
    ap.add_argument("--idle", type=int, default=50, help="idle TCP and idle TLS connections")
    ap.add_argument("--rpms-per-build", type=int, default=2,
                    help="RPMs of each build (a source RPM and the rest x86_64)")
    ap.add_argument("--no-answer-cache", action="store_true",
                    help="serve with the hub's answer cache off (every read from the database)")
    ap.add_argument("--answer-calls", type=int, default=5,
                    help="calls in each run of the answer/s figure of the big reads (its "
                         "rate over them; a single call of ~0.2 s swings with the load)")
    ap.add_argument("--reads-only", action="store_true",
                    help="only the read calls (skip the load and idle-connection parts)")
    args = ap.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = tempfile.mkdtemp(prefix="bench-hub-")
    try:
        print("%d builds (%d RPMs) in a chain of %d tags; medians of %d runs"
              % (args.builds, args.rpms_per_build * args.builds, args.levels, args.runs))
        print("%-9s %-16s %9s %9s %9s %9s %9s %8s %8s" % (
            "backend", "call", "client/s", "client s", "answer/s", "parse/s", "peer/s",
            "cl/peer", "ans/peer"))
        under_load = []
        for backend in backends:
            load_s, nrpms, results, load, idle = bench_backend(backend, args, workdir)
            if load is not None:
                under_load.append((backend, load, idle))
            for call, (ours, answer, parse, peer) in results.items():
                print("%-9s %-16s %9.2f %9.3f %9s %9s %9.2f %8.2f %8s" % (
                    backend, call, ours, 1 / ours, _fmt(answer), _fmt(parse), peer,
                    ours / peer, _fmt(answer and answer / peer)))
            print("%-9s (loaded in %.1f s; listTaggedRPMS latest returns %d RPMs)"
                  % (backend, load_s, nrpms))
        print("client: koji.ClientSession over HTTPS (what a user gets); answer: the same "
              "request posted over HTTPS with the answer read, not parsed (the hub's part; "
              "of the big reads each run is the rate over %d calls in a row); "
              "parse: the standard library's XML-RPC parsing of that answer alone (the "
              "client's floor); peer: the same rows read straight from the database with "
              "SQLAlchemy (no XML-RPC/HTTP, no latest/package-list semantics)"
              % args.answer_calls)
        if not under_load:
            return 0
        print()
        print("%-10s %-16s %12s %12s %8s" % ("backend", "operation", "1 client/s",
                                             "%d clients/s" % args.clients, "ratio"))
        for backend, load, _idle in under_load:
            for op, (single, many) in load.items():
                print("%-10s %-16s %12.1f %12.1f %8.2f" % (backend, op, single, many,
                                                           many / single))
        print()
        print("%-10s %-34s %10s %12s %8s" % ("backend", "one call on a new connection",
                                             "alone ms", "with idle ms", "ratio"))
        worst = 0.0
        for backend, _load, (alone, loaded) in under_load:
            worst = max(worst, loaded)
            print("%-10s %-34s %10.1f %12.1f %8.2f" % (
                backend, "%d idle TCP + %d idle TLS held" % (args.idle, args.idle),
                alone * 1000, loaded * 1000, loaded / alone))
        print("idle-connection latency %s the %.1f s bound"
              % ("within" if worst < LIMIT_S else "EXCEEDS", LIMIT_S))
        if worst >= LIMIT_S:
            return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
