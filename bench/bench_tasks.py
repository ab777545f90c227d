#!/usr/bin/env python3
"""Task queue throughput and repo regeneration latency of the embedded build service.

    .venv/bin/python bench/bench_tasks.py [--tasks 200] [--packages 1000] [--runs 3]
                                          [--backend sqlite|postgres|both]
                                          [--throughput-only | --repo-only]
                                          [--poll-interval 1.0] [--task-seconds 0]

1. Throughput: ``--tasks`` cheap tasks (``sleep 0``) submitted in one multicall, picked up by
   the builders (separate processes, one forked child per task), closed; tasks/s from the first
   submit to the last close, with 1 and with 4 builders (runs interleaved). Ratio: 4 builders
   vs 1. The builders are running when the clock starts (each has checked in and waits in
   ``host.waitWork``: a daemon's start, about 0.3 s of CPU, is not task throughput) and poll
   at the builder's default interval (1 s): the hub's work bell wakes them for new tasks and
   for the tasks another builder's poll assigned them. (Before, the clock started with the
   builders' processes and they polled every 50 ms: 20 cycles a second a builder, so 4
   builders paid 4 times the polls of one.) On SQLite (the embedded default) and/or
   PostgreSQL (``--backend``). Also the CPU
   seconds per task of everything involved (this process with the hub, the builders and
   their task processes, PostgreSQL's server processes): a ``sleep 0`` task's only work is
   the service's own, so ``cores / CPU per task`` bounds what any number of builders can
   reach on this machine. The CPU is also given by group: the hub (this process: the hub's
   request threads and this script's polls), the builder daemons themselves, their child
   processes (task processes, spare task processes, the work waiters) and PostgreSQL's server
   processes of the bench database (its shared background processes are not counted).
   ``--task-seconds N`` (N > 0) measures the hub's dispatch instead of the machine's CPU:
   the tasks are ``sleep N`` (Koji's sleep method: wall time, almost no CPU, as a real
   build that waits on its buildroot), and the builders run at their defaults (the embedded
   service's capacity 4.0, the daemon's maxjobs 10; a sleep task weighs 0.25, so each
   builder runs at most 10 at once: 10 / N tasks/s for one builder, 40 / N for four, a
   ratio of at most 4). Reported: tasks/s from the first submit to the last task's
   ``completion_ts`` (the hub's clock is this process's; the bench looks every 0.5 s, so
   its own polls cost the hub little), the ratio, the CPU per task, and for each builder
   when it opened its first task (seconds after the submit) and how many tasks it ran
   (every builder should start within a poll of the submit and run about 1/4 of them).
   Keep 40 / N tasks/s times the CPU per task well under the machine's cores, or the CPU
   bounds it again.
2. Repo regeneration: a build tag (the build tag of a target) holding ``--packages`` real RPMs;
   one more build is tagged and the clock runs until the tag's repo with that change is READY
   (automatic request, newRepo task, createrepo child, repoDone), i.e. until the repo's
   ``state_ts`` (the hub's clock is this process's); each change 1.5 s after the previous
   repo, with the builder idle. One builder, polling every
   ``--poll-interval`` seconds (default 1, the builder's own default; the hub wakes it through
   ``host.waitWork``). Peer: ``createrepo_c`` run directly on the same packages (the goal's
   peer, which also writes sqlite databases, as kojid's ``createrepo_c -d``; and again with
   ``--no-database``, the options of the service's own repodata), one run of each after each
   of our changes, so that both see the same period of the machine. Ratio: ours vs
   createrepo_c. Also the CPU seconds per change of the hub (this process), the builder, its
   task processes with their createrepo_c and (PostgreSQL) the database's server processes,
   from the change until the task processes have been reaped. The hub runs with its default
   housekeeping interval. With ``--backend both`` the repo part runs on each database.
Medians of ``--runs`` runs (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import koji  # noqa: E402

from pungi_like.buildsvc.embedded import EmbeddedService  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_hub import PG_ADMIN, create_pg_database  # noqa: E402


def drop_pg_database(name):
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)

QUEUE = {"run_interval": 0.2, "host_timeout": 30.0, "repo_delete_grace": 5.0}
#: the repo part: the hub's default housekeeping interval (5 s); a tag change is looked at by
#: the next host.getTasks without waiting for it (scheduler.note_change), and at 0.2 s the
#: whole housekeeping ran in most of the builder's polls during a regeneration
REPO_QUEUE = {"host_timeout": 30.0, "repo_delete_grace": 5.0}


def throughput(builders, ntasks, workdir, backend="sqlite", task_seconds=0):
    top = tempfile.mkdtemp(dir=workdir)
    pg_name = db_url = None
    if backend == "postgres":
        pg_name, db_url = create_pg_database("pl_tasks_bench")
    try:
        return _throughput(builders, ntasks, top, db_url, task_seconds)
    finally:
        if pg_name:
            drop_pg_database(pg_name)


def _stat_fields(stat):
    """The fields after the command name of a /proc/PID/stat line (the name, in parentheses,
    may hold spaces and parentheses): index 0 is the state, 11-14 utime stime cutime cstime
    (clock ticks)."""
    return stat[stat.rindex(")") + 2:].split()


def _read_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return _stat_fields(f.read())
    except OSError:
        return None


def _cpu_of(pids):
    """CPU seconds (user + system) of processes ``pids`` and of their reaped children."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = _read_stat(pid)
        if fields:
            total += sum(int(x) for x in fields[11:15]) / tick   # utime stime cutime cstime
    return total


def _backends_of(dbname):
    """Pids of the PostgreSQL server processes serving database ``dbname`` (same machine)."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read().split(b"\0")[0]
            except OSError:
                continue
            if cmd.startswith(b"postgres:") and (b" %s " % dbname.encode()) in cmd:
                pids.append(int(name))
    return pids


def _daemon_cpu(pid):
    """(CPU seconds of builder daemon ``pid`` itself, CPU seconds of its child processes):
    the daemon's utime + stime; its reaped children's (cutime + cstime) plus its live
    children's own and reaped children's (task processes, spares, the work waiter), so that
    a difference of two readings is what the children used in between whether or not they
    were reaped in between."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = _read_stat(pid)
    if not fields:
        return 0.0, 0.0
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    for child in _children(pid):
        cf = _read_stat(child)
        if cf:
            children += sum(int(x) for x in cf[11:15]) / tick
    return own, children


def host_starts(tasks, hosts, start):
    """For each host name of ``hosts`` (id -> name): (seconds from ``start`` to the first
    ``start_ts`` of its tasks, or None, and how many of ``tasks`` it ran), from listTasks
    entries (host_id, start_ts)."""
    out = {name: [None, 0] for name in hosts.values()}
    for t in tasks:
        name = hosts.get(t.get("host_id"))
        if name is None or t.get("start_ts") is None:
            continue
        entry = out[name]
        first = t["start_ts"] - start
        entry[0] = first if entry[0] is None else min(entry[0], first)
        entry[1] += 1
    return {name: tuple(v) for name, v in out.items()}


#: the CPU groups of a throughput run, in the order they are printed
CPU_GROUPS = ("hub", "daemons", "task processes", "PostgreSQL")


def per_task_ms(cpu, ntasks):
    """``cpu`` (group -> CPU seconds of a run) as ms a task, with the total."""
    out = {g: 1000.0 * cpu.get(g, 0.0) / ntasks for g in CPU_GROUPS}
    out["total"] = sum(out.values())
    return out


#: the builders' poll interval in the throughput part: the builder's default
THROUGHPUT_POLL = 1.0
#: the bench's look at the queue while sleep-N tasks run (their end time is the hub's
#: completion_ts, so a coarse look costs the hub little and does not coarsen the time)
WAIT_LOOK = 0.5


def _wait_builders_up(svc, s, timeout=60):
    """Until every builder of ``svc`` has checked in (its host is ready) and its work waiter
    waits in ``host.waitWork`` (the hub is in this process: its bell's count of waiters)."""
    from pungi_like.buildsvc.hub import work_bell

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        hosts = [h for h in s.listHosts() if h["name"] in svc.hosts]
        if len(hosts) == len(svc.hosts) and all(h["ready"] for h in hosts) and \
                work_bell._bell(svc.app)["waiters"] >= len(svc.hosts):
            return
        time.sleep(0.05)
    raise TimeoutError("the builders did not start")


def _throughput(builders, ntasks, top, db_url, task_seconds=0):
    """(tasks/s, CPU seconds per task, CPU seconds by group, per-host first opens): the CPU
    of this process (the hub, and the polls of this script), of the builders and of their
    child processes, and of PostgreSQL's server processes for the bench database. With
    ``task_seconds`` 0 the bench's sleep-0 setting (capacity 8, maxjobs 12, a 50 ms look);
    otherwise ``sleep task_seconds`` tasks with the builders at their defaults."""
    dbname = db_url.rsplit("/", 1)[1] if db_url else None
    if task_seconds:
        limits, look = {}, WAIT_LOOK
    else:
        limits, look = {"capacity": 8.0, "maxjobs": 12}, 0.05
    with EmbeddedService(top, db_url=db_url, builders=builders,
                         poll_interval=THROUGHPUT_POLL, queue_settings=QUEUE,
                         builder_log_level="WARNING", **limits) as svc:
        s = svc.admin_session()
        _wait_builders_up(svc, s)
        daemons = [p.pid for p in svc.builders]
        hub0 = sum(os.times()[:2])
        d0 = [_daemon_cpu(pid) for pid in daemons]
        pg0 = {pid: _cpu_of([pid]) for pid in _backends_of(dbname)} if dbname else {}
        wall0 = time.time()
        start = time.monotonic()
        s.multicall = True
        for _ in range(ntasks):
            s.makeTask("sleep", [task_seconds])
        ids = [r[0] for r in s.multiCall(strict=True)]
        closed = koji.TASK_STATES["CLOSED"]
        pg = dict(pg0)
        polls = 0
        while True:
            done = s.listTasks({"state": [closed], "method": "sleep"}, {"countOnly": True})
            if done >= ntasks:
                break
            polls += 1
            if dbname and (task_seconds or polls % 10 == 0):
                # the hub's pool closes connections beyond its size: their CPU is read while
                # they still exist
                pg.update((pid, _cpu_of([pid])) for pid in _backends_of(dbname))
            time.sleep(look)
        elapsed = time.monotonic() - start
        hub = sum(os.times()[:2]) - hub0
        tasks = s.listTasks({"method": "sleep"})
        if task_seconds:
            elapsed = max(t["completion_ts"] for t in tasks) - wall0
        for pid in daemons:   # the closed tasks' processes reaped: their CPU in the daemon's
            _wait_tasks_reaped(pid)
        d1 = [_daemon_cpu(pid) for pid in daemons]
        cpu = {"hub": hub,
               "daemons": sum(b[0] - a[0] for a, b in zip(d0, d1)),
               "task processes": sum(b[1] - a[1] for a, b in zip(d0, d1))}
        if dbname:
            pg.update((pid, _cpu_of([pid])) for pid in _backends_of(dbname))
            cpu["PostgreSQL"] = sum(c - pg0.get(pid, 0.0) for pid, c in pg.items())
        hosts = {h["id"]: h["name"] for h in s.listHosts() if h["name"] in svc.hosts}
        starts = host_starts(tasks, hosts, wall0)
        assert len(ids) == ntasks
    shutil.rmtree(top, ignore_errors=True)
    return ntasks / elapsed, sum(cpu.values()) / ntasks, cpu, starts


def make_rpms(n, cache):
    """``n`` tiny noarch RPMs from one spec with ``n`` subpackages (cached)."""
    out = os.path.join(cache, "rpms-%d" % n)
    if os.path.isdir(out) and len(os.listdir(out)) == n + 1:
        return out
    shutil.rmtree(out, ignore_errors=True)
    top = tempfile.mkdtemp(dir=cache)
    spec = ["Name: benchpkg", "Version: 1", "Release: 1", "Summary: bench", "License: MIT",
            "BuildArch: noarch", "%description", "bench"]
    for i in range(n):
        spec += ["%%package -n bench%04d" % i, "Summary: bench %d" % i,
                 "%%description -n bench%04d" % i, "bench %d" % i]
    spec += ["%files"]
    for i in range(n):
        spec += ["%%files -n bench%04d" % i]
    with open(os.path.join(top, "bench.spec"), "w") as f:
        f.write("\n".join(spec) + "\n")
    subprocess.run(["rpmbuild", "-bb", "--define", "_topdir %s" % top,
                    os.path.join(top, "bench.spec")], check=True, capture_output=True)
    os.makedirs(out)
    for name in os.listdir(os.path.join(top, "RPMS", "noarch")):
        shutil.move(os.path.join(top, "RPMS", "noarch", name), os.path.join(out, name))
    shutil.rmtree(top)
    return out


def populate(svc, rpm_dir, tag):
    """Put every RPM of ``rpm_dir`` into ``tag`` as its own build (direct DB rows + files)."""
    import rpm
    from sqlalchemy import insert, select

    from pungi_like.buildsvc.db import schema as s

    ts = rpm.TransactionSet()
    ts.setVSFlags(-1)
    eng = svc.app.db.engine
    now = time.time()
    with svc.app.db.write_lock, eng.begin() as conn:
        ev = conn.execute(insert(s.events).values(ts=now).returning(s.events.c.id)).scalar_one()
        admin = conn.execute(select(s.users.c.id).where(s.users.c.name == "kojiadmin")).scalar()
        tag_id = conn.execute(select(s.tag.c.id).where(s.tag.c.name == tag)).scalar()
        volume = conn.execute(select(s.volume.c.id).where(s.volume.c.name == "DEFAULT")).scalar()
        for fn in sorted(os.listdir(rpm_dir)):
            with open(os.path.join(rpm_dir, fn), "rb") as f:
                h = ts.hdrFromFdno(f.fileno())
            name, ver, rel, arch = (h[rpm.RPMTAG_NAME], h[rpm.RPMTAG_VERSION],
                                    h[rpm.RPMTAG_RELEASE], h[rpm.RPMTAG_ARCH])
            if h[rpm.RPMTAG_SOURCEPACKAGE]:
                continue
            pkg = conn.execute(insert(s.package).values(name=name)
                               .returning(s.package.c.id)).scalar_one()
            bid = conn.execute(insert(s.build).values(
                pkg_id=pkg, version=ver, release=rel, state=1, owner=admin, volume_id=volume,
                create_event=ev, completion_ts=now).returning(s.build.c.id)).scalar_one()
            conn.execute(insert(s.rpminfo).values(
                build_id=bid, name=name, version=ver, release=rel, arch=arch,
                payloadhash="0" * 32, size=os.path.getsize(os.path.join(rpm_dir, fn)),
                buildtime=int(now)))
            conn.execute(insert(s.tag_packages).values(
                package_id=pkg, tag_id=tag_id, blocked=False, create_event=ev,
                creator_id=admin, active=True))
            conn.execute(insert(s.tag_package_owners).values(
                package_id=pkg, tag_id=tag_id, owner=admin, create_event=ev,
                creator_id=admin, active=True))
            conn.execute(insert(s.tag_listing).values(
                build_id=bid, tag_id=tag_id, create_event=ev, creator_id=admin, active=True))
            dest = os.path.join(svc.topdir, "packages", name, ver, rel, arch)
            os.makedirs(dest, exist_ok=True)
            os.link(os.path.join(rpm_dir, fn), os.path.join(dest, fn))


def wait_repo(s, tag, min_event, timeout=300, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        repo = s.getRepo(tag)
        if repo and repo["create_event"] >= min_event:
            return repo
        time.sleep(interval)
    raise TimeoutError("no repo of %s at event %s" % (tag, min_event))


def _children(pid):
    """Pids of the child processes of ``pid`` (Linux: /proc/PID/task/PID/children)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def _wait_tasks_reaped(daemon, timeout=30):
    """Until the builder ``daemon`` has no child but its work waiter and its spare task
    process (its task processes have ended and been reaped, so their CPU counts in the
    daemon's; a spare's counts once it has run a task and been reaped)."""
    end = time.monotonic() + timeout
    while len([c for c in _children(daemon) if _comm(c) != "task-spare"]) > 1 and \
            time.monotonic() < end:
        time.sleep(0.02)


def repo_regen(npkgs, runs, workdir, rpm_dir, poll_interval=1.0, backend="sqlite",
               peer=None):
    """(median seconds from a tag change to its READY repo, the repo's package count, median
    CPU seconds per change); ``peer()`` runs after each change's repo (so both see the same
    period of the machine)."""
    pg_name = db_url = None
    if backend == "postgres":
        pg_name, db_url = create_pg_database("pl_repo_bench")
    try:
        return _repo_regen(npkgs, runs, workdir, rpm_dir, poll_interval, db_url, peer)
    finally:
        if pg_name:
            drop_pg_database(pg_name)


#: the calls this script makes during a change (not the service's own)
_BENCH_CALLS = frozenset({"untagBuildBypass", "tagBuildBypass", "tagLastChangeEvent",
                          "getRepo"})


class _RequestCount:
    """Counts the hub's XML-RPC requests (and the calls in them, a multicall's entries each)
    made by the builder and its task processes, i.e. all but this script's own calls: the
    hub is in this process (dispatch.handle_xmlrpc is wrapped while the bench runs)."""

    def __init__(self):
        from pungi_like.buildsvc.hub import dispatch

        self.dispatch, self.real = dispatch, dispatch.handle_xmlrpc
        self.requests = self.calls = 0
        self._lock = threading.Lock()

    def __enter__(self):
        real = self.real

        def counted(hub, environ, body):
            import xmlrpc.client

            try:
                params, name = xmlrpc.client.loads(body)
            except Exception:
                params, name = (), None
            if name not in _BENCH_CALLS:
                calls = len(params[0]) if name in ("multiCall", "system.multicall") and \
                    params and isinstance(params[0], list) else 1
                with self._lock:
                    self.requests += 1
                    self.calls += calls
            return real(hub, environ, body)

        self.dispatch.handle_xmlrpc = counted
        return self

    def __exit__(self, *exc):
        self.dispatch.handle_xmlrpc = self.real
        return False

    def read(self):
        with self._lock:
            return self.requests, self.calls


def _repo_regen(npkgs, runs, workdir, rpm_dir, poll_interval, db_url, peer):
    top = tempfile.mkdtemp(dir=workdir)
    times, cpus, requests, calls = [], [], [], []
    dbname = db_url.rsplit("/", 1)[1] if db_url else None
    with EmbeddedService(top, db_url=db_url, builders=1, capacity=8.0,
                         poll_interval=poll_interval, queue_settings=REPO_QUEUE,
                         builder_log_level="WARNING") as svc:
        s = svc.admin_session()
        s.createTag("bench-build", arches="x86_64")
        s.createTag("bench-dest")
        populate(svc, rpm_dir, "bench-build")
        s.createBuildTarget("bench", "bench-build", "bench-dest")
        first = wait_repo(s, "bench-build", s.tagLastChangeEvent("bench-build"))
        # the changes: untag / re-tag one build; each must show in a new repo
        nvr = s.listTagged("bench-build")[0]["nvr"]
        daemons = [p.pid for p in svc.builders]

        def cpu_now():
            """CPU seconds so far of this process (the hub, and this script's calls and
            polls), the builder with its reaped task processes (and their createrepo_c),
            and PostgreSQL's server processes of the bench database; not the peer's
            createrepo_c runs (children of this process). Read before a change and once its
            task processes have been reaped."""
            cpu = sum(os.times()[:2]) + _cpu_of(daemons)
            if dbname:
                pg.update((pid, _cpu_of([pid])) for pid in _backends_of(dbname))
                cpu += sum(pg.values())
            return cpu

        pg = {}
        counter = _RequestCount().__enter__()
        for i in range(runs):
            # a change comes to an idle service, not just as the previous repo's task
            # process exits (that exit wakes the builder and would hide its poll interval)
            time.sleep(1.5)
            cpu0 = cpu_now()
            req0 = counter.read()
            start = time.time()
            if i % 2 == 0:
                s.untagBuildBypass("bench-build", nvr)
            else:
                s.tagBuildBypass("bench-build", nvr)
            ev = s.tagLastChangeEvent("bench-build")
            # the time is the hub's READY time stamp (state_ts, same clock), not when this
            # loop sees it: it looks every 0.25 s (every 50 ms cost the hub as much CPU as
            # the regeneration's own calls and competed with them for the two cores)
            repo = wait_repo(s, "bench-build", ev, interval=0.25)
            times.append(repo["state_ts"] - start)
            for pid in daemons:
                _wait_tasks_reaped(pid)
            cpus.append(cpu_now() - cpu0)
            # the calls of the reap cycles (the daemon may still be in them): counted up to
            # the next change
            time.sleep(0.3)
            req1 = counter.read()
            requests.append(req1[0] - req0[0])
            calls.append(req1[1] - req0[1])
            if peer:
                peer()
        pkgs = sum(1 for _ in open(os.path.join(top, "repos", "bench-build", str(repo["id"]),
                                                "x86_64", "pkglist")))
        assert first["id"] < repo["id"]
        counter.__exit__(None, None, None)
    shutil.rmtree(top, ignore_errors=True)
    return (statistics.median(times), pkgs, statistics.median(cpus),
            statistics.median(requests), statistics.median(calls))


def createrepo_direct(rpm_dir, runs, workdir, extra=()):
    times = []
    for _ in range(runs):
        d = tempfile.mkdtemp(dir=workdir)
        for fn in os.listdir(rpm_dir):
            if not fn.endswith(".src.rpm"):
                os.link(os.path.join(rpm_dir, fn), os.path.join(d, fn))
        start = time.monotonic()
        subprocess.run(["createrepo_c", "--quiet", "--general-compress-type", "gz", *extra, d],
                       check=True)
        times.append(time.monotonic() - start)
        shutil.rmtree(d)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--packages", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir", default=None)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite",
                   help="the hub's database (PostgreSQL: 127.0.0.1:5432, user postgres)")
    p.add_argument("--throughput-only", action="store_true", help="skip the repo part")
    p.add_argument("--repo-only", action="store_true", help="skip the throughput part")
    p.add_argument("--poll-interval", type=float, default=1.0,
                   help="the builder's poll interval in the repo part (default 1 s, the "
                        "builder's own default: a tag change wakes it through host.waitWork)")
    p.add_argument("--task-seconds", type=float, default=0,
                   help="the throughput part's tasks sleep this long (default 0: sleep-0 "
                        "tasks, capacity 8 and maxjobs 12, which measures the CPU a task "
                        "costs; N > 0: the hub's dispatch to 1 and 4 builders at their "
                        "default capacity and maxjobs, tasks with wall time and almost no "
                        "CPU)")
    args = p.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="bench-tasks-")
    cache = os.path.join(ROOT, ".cache", "bench-tasks")
    os.makedirs(cache, exist_ok=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    secs = args.task_seconds
    what = ("%d sleep-%g tasks (dispatch: wall time, little CPU; builders at their default "
            "capacity and maxjobs)" % (args.tasks, secs)) if secs else \
        "%d sleep-0 tasks (CPU-bound)" % args.tasks
    rates, cpus, groups, loads = {}, {}, {}, []
    for backend in ([] if args.repo_only else backends):
        runs = {1: [], 4: []}
        loads.append(os.getloadavg()[0])
        for _ in range(args.runs):
            for n in (1, 4):   # interleaved, so both see the same period of a shared machine
                r = throughput(n, args.tasks, workdir, backend, secs)
                runs[n].append(r)
                ms = per_task_ms(r[2], args.tasks)
                print("run: %s, %d builder(s): %.2f tasks/s, CPU %.1f ms a task (%s), "
                      "first open s / tasks per host: %s, load %.1f" % (
                          backend, n, r[0], ms["total"],
                          ", ".join("%s %.1f" % (g, ms[g]) for g in CPU_GROUPS),
                          " ".join("%s" % ("%.2f/%d" % v if v[0] is not None else
                                           "never/0") for _, v in sorted(r[3].items())),
                          os.getloadavg()[0]), flush=True)
        loads.append(os.getloadavg()[0])
        for n in (1, 4):
            rates[backend, n] = statistics.median(r[0] for r in runs[n])
            cpus[backend, n] = statistics.median(r[1] for r in runs[n])
            groups[backend, n] = {g: statistics.median(per_task_ms(r[2], args.tasks)[g]
                                                       for r in runs[n]) for g in CPU_GROUPS}
    print("| measure | ours | peer | ratio |")
    print("|---|---|---|---|")
    for backend in ([] if args.repo_only else backends):
        print("| task throughput, %s, %s: 4 builders vs 1 (tasks/s) "
              "| %.1f | %.1f | %.2f |" % (what, backend, rates[backend, 4],
                                          rates[backend, 1],
                                          rates[backend, 4] / rates[backend, 1]))
    for backend in ([] if args.repo_only else backends):
        # every task costs this much CPU (hub, builders, task processes, database): with
        # this machine's cores no number of builders can go faster than cores / CPU per task
        cores = os.cpu_count() or 1
        print("| CPU per task, %s: 4 builders vs 1 (ms; at most %d cores / CPU per task = "
              "%.1f tasks/s with 4) | %.0f | %.0f | %.2f |" % (
                  backend, cores, cores / cpus[backend, 4], 1000 * cpus[backend, 4],
                  1000 * cpus[backend, 1], cpus[backend, 4] / cpus[backend, 1]))
        for g in CPU_GROUPS:
            if g == "PostgreSQL" and backend != "postgres":
                continue
            print("| of which %s (ms a task, medians) | %.1f | %.1f | |"
                  % (g, groups[backend, 4][g], groups[backend, 1][g]))
    if loads:
        print("load average (1 min) at the start and end of the throughput runs: %s"
              % " ".join("%.1f" % x for x in loads))
    if not args.throughput_only:
        rpm_dir = make_rpms(args.packages, cache)
        for backend in backends:
            peers = {"db": [], "nodb": []}

            def peer():
                peers["db"].append(createrepo_direct(rpm_dir, 1, workdir))
                # the repodata the service writes has no sqlite databases (kojid's -d has)
                peers["nodb"].append(createrepo_direct(rpm_dir, 1, workdir,
                                                       ["--no-database"]))

            regen, pkgs, cpu, nreq, ncalls = repo_regen(args.packages, args.runs, workdir,
                                                        rpm_dir, args.poll_interval, backend,
                                                        peer)
            direct = statistics.median(peers["db"])
            nodb = statistics.median(peers["nodb"])
            print("| tag change -> READY repo, %d-package build tag, %s, vs createrepo_c on "
                  "the same packages (s) | %.2f | %.2f | %.2f |"
                  % (pkgs, backend, regen, direct, regen / direct))
            print("| the same vs createrepo_c --no-database (s) | %.2f | %.2f | %.2f |"
                  % (regen, nodb, regen / nodb))
            print("| CPU seconds per change (hub, builder, task processes, createrepo_c%s) "
                  "| %.2f | | |" % (", PostgreSQL" if backend == "postgres" else "", cpu))
            print("| hub requests per change from the builder and its task processes (calls, "
                  "with a multicall's entries) | %d (%d) | | |" % (nreq, ncalls))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
