"""Assignment of FREE tasks to hosts: the hub-side scheduler of Koji 1.34+.

The model. Builders no longer pick tasks; the hub assigns them and a builder opens only what is
ASSIGNED to it (kojid 1.34+ logs "Received task N is not assigned" for anything else).

* **When**: :func:`schedule` runs inside ``host.getTasks`` (every poll of any host), before the
  caller's assigned tasks are read, so a task made FREE is assigned at the next poll of any
  builder. On PostgreSQL a transaction-scoped advisory lock lets one hub thread/process schedule
  at a time (the others skip the run, as Koji's ``db_lock('scheduler', wait=False)``); on SQLite
  the hub's write lock serializes the calls.
* **Which hosts**: enabled, ready, checked in within ``ready_timeout`` seconds (Koji's
  ReadyTimeout). A host's *load* is the weight of its OPEN tasks that are not waiting plus its
  ASSIGNED tasks; its *jobs* are its OPEN and ASSIGNED tasks.
* **Which host for a task** (FREE tasks in order of priority, then age, then id): the task's
  channel is one of the host's channels, its arch is one of the host's arches or noarch, its
  method is one the host reported in ``updateHost(data={'methods': ...})`` (when it reported any),
  the host has not refused it, jobs < min(host's maxjobs, ``max_jobs``) and the weight fits:
  ``load + weight <= capacity + capacity_overcommit``, or the host has no load at all (a task
  heavier than any host still runs somewhere). Among the fitting hosts the least loaded relative
  to its capacity wins, so builders share the work.
* **Fairness**: a host that serves other channels too holds at most half its jobs (at least
  one) in running createrepo-channel tasks (newRepo parents waiting for children not counted),
  and at most ``max_createrepo_per_run`` of those are assigned per run, so a burst of
  newRepo/createrepo tasks (more urgent by priority) leaves room for builds.
* **Timeouts**: an assignment not opened within ``assign_timeout`` seconds goes back to FREE and
  counts as a soft refusal by that host (another host gets it first). The assignment time is the
  ``create_ts`` of the task's active run (as in Koji; an ASSIGNED task has no ``start_ts``, which
  ``openTask`` sets); assignments made by an admin (``assignTask``) or by ``subtask(assign=...)``
  are pinned runs (logged "assigned (pinned)") and do not time out: they go to that host on
  purpose.
* **Refusals** (``host.refuseTask``): kept in the refusing host's ``data`` JSON under
  ``"refusals"`` (``{task id: [time, soft]}``); a soft refusal keeps the task away from that host
  for ``soft_refusal_timeout`` seconds, a hard one until the task ends.
* **Record**: each assignment is a run, and assignments, timeouts and refusals are log messages
  (sched_log.py), read by ``scheduler.getTaskRuns`` and ``scheduler.getLogMessages``.
"""

from __future__ import annotations

import json
import logging
import time

import koji
from sqlalchemy import bindparam, func, select, text, update

from ..db import schema as s
from .context import context

log = logging.getLogger("pungi_like.buildsvc.hub.assignment")

STATES = koji.TASK_STATES
#: an arbitrary constant naming the scheduler's PostgreSQL advisory lock
_PG_LOCK_KEY = 0x706C7363


def _locked():
    """True when this transaction may schedule (PostgreSQL advisory lock, else always)."""
    if context.conn.dialect.name != "postgresql":
        return True
    return bool(context.conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                     {"k": _PG_LOCK_KEY}).scalar())


def host_data(raw):
    """The ``host.data`` JSON as a dict ({} when empty or not an object)."""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


_HOST_KEYS = ("id", "name", "update_ts", "ready", "data", "arches", "capacity", "enabled")


def _hosts_statement():
    h, hcfg = s.host, s.host_config
    return (select(h.c.id, h.c.name, h.c.update_ts, h.c.ready, h.c.data, hcfg.c.arches,
                   hcfg.c.capacity, hcfg.c.enabled)
            .select_from(h.join(hcfg, hcfg.c.host_id == h.c.id))
            .where(hcfg.c.active.is_(True)).order_by(h.c.name))


def _channels_statement(ids=None):
    hc = s.host_channels
    q = (select(hc.c.host_id, hc.c.channel_id, s.channels.c.name)
         .select_from(hc.join(s.channels, s.channels.c.id == hc.c.channel_id))
         .where(hc.c.active.is_(True), s.channels.c.enabled.is_(True)))
    return q if ids is None else q.where(hc.c.host_id.in_(ids))


def _loads_statement(ids=None):
    t = s.task
    q = select(t.c.host_id, t.c.state, t.c.waiting, t.c.weight, t.c.channel_id).where(
        t.c.state.in_([STATES["OPEN"], STATES["ASSIGNED"]]))
    return q.where(t.c.host_id.is_not(None)) if ids is None else q.where(t.c.host_id.in_(ids))


def _expired_statement():
    t, runs = s.task, s.scheduler_task_runs
    return select(t.c.id, t.c.host_id, runs.c.create_ts).join(
        runs, (runs.c.task_id == t.c.id) & (runs.c.host_id == t.c.host_id)
        & runs.c.active.is_(True)).where(
        t.c.state == STATES["ASSIGNED"], runs.c.create_ts < bindparam("cutoff"))


#: the four reads of a run on PostgreSQL, compiled once (_reads_pg)
_READS_PG = []


def _reads_pg(cutoff):
    """The run's reads on PostgreSQL in one round trip (psycopg's pipeline mode; they were
    four): the assignments that timed out (:func:`expire_assignments`), the hosts with their
    config and data, the channels of every host and the OPEN/ASSIGNED tasks of every host.
    The last two are not limited to the hosts that may get tasks now (that needs the first
    read's answer): :func:`_hosts_for_assignment` leaves the others' rows, as the filtered
    reads never gave them. Returns the four lists of row tuples."""
    if not _READS_PG:
        from sqlalchemy.dialects.postgresql import psycopg

        dialect = psycopg.dialect()
        for q in (_expired_statement(), _hosts_statement(), _channels_statement(),
                  _loads_statement()):
            # (the IN lists of constants rendered: the SQL and its parameters fixed)
            c = q.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            _READS_PG.append((c.string, dict(c.params)))
    raw = context.conn.connection.dbapi_connection
    cursors = [raw.cursor() for _ in _READS_PG]
    try:
        with raw.pipeline():
            for n, (cur, (sql, params)) in enumerate(zip(cursors, _READS_PG)):
                cur.execute(sql, dict(params, cutoff=cutoff) if n == 0 else params)
        return [cur.fetchall() for cur in cursors]
    finally:
        for cur in cursors:
            cur.close()


def _hosts_for_assignment(cfg, now, prefetched=None):
    """``({host id: host}, the createrepo channel's id)`` of the hosts that may get tasks now.

    Three queries a run: the hosts with their config and data, their channels (the createrepo
    channel's id comes with them: a task of that channel fits only a host serving it, so when
    no such host is ready its id is not needed), and their OPEN/ASSIGNED tasks.
    ``prefetched``: their rows, read already for every host (:func:`_reads_pg`)."""
    if prefetched is not None:
        host_rows, channel_rows, load_rows = prefetched
        hosts = [dict(zip(_HOST_KEYS, r)) for r in host_rows]
    else:
        hosts = [dict(r._mapping) for r in context.conn.execute(_hosts_statement())]
    hosts = [x for x in hosts if x["enabled"] and x["ready"] and x["update_ts"] is not None
             and now - x["update_ts"] <= float(cfg["ready_timeout"])]
    if not hosts:
        return {}, None
    ids = sorted(x["id"] for x in hosts)
    wanted = set(ids)
    channels = {}
    createrepo = None
    if prefetched is None:
        channel_rows = context.conn.execute(_channels_statement(ids))
    for host_id, channel_id, channel_name in channel_rows:
        if host_id not in wanted:
            continue
        channels.setdefault(host_id, set()).add(channel_id)
        if channel_name == "createrepo":
            createrepo = channel_id
    for h in hosts:
        data = host_data(h.pop("data"))
        methods = data.get("methods")
        h["methods"] = set(methods) if isinstance(methods, list) and methods else None
        maxjobs = int(cfg["max_jobs"])
        if isinstance(data.get("maxjobs"), int) and data["maxjobs"] > 0:
            maxjobs = min(maxjobs, data["maxjobs"])
        h["maxjobs"] = maxjobs
        h["refusals"] = {int(k): v for k, v in (data.get("refusals") or {}).items()}
        h["channels"] = channels.get(h["id"], set())
        h["arch_set"] = set((h["arches"] or "").split()) | {"noarch"}
        h["load"], h["jobs"] = 0.0, 0
    by_id = {h["id"]: h for h in hosts}
    rows = context.conn.execute(_loads_statement(sorted(by_id))) if prefetched is None \
        else load_rows
    for h in hosts:
        h["createrepo_jobs"] = 0
    for host_id, state, waiting, weight, channel_id in rows:
        h = by_id.get(host_id)
        if h is None:
            continue
        h["jobs"] += 1
        if not (state == STATES["OPEN"] and waiting):
            h["load"] += float(weight or 0.0)
            # a newRepo waiting for its createrepo children does not count, or a burst of
            # parents could leave no room for the children they wait for
            if channel_id == createrepo:
                h["createrepo_jobs"] += 1
    return by_id, createrepo


def _refused(host, task_id, cfg, now):
    entry = host["refusals"].get(task_id)
    if not entry:
        return False
    ts, soft = entry
    return not soft or now - ts < float(cfg["soft_refusal_timeout"])


def _fits(host, task, cfg, now, createrepo):
    if task["channel_id"] not in host["channels"] or task["arch"] not in host["arch_set"]:
        return False
    if task["channel_id"] == createrepo and len(host["channels"]) > 1 and \
            host["createrepo_jobs"] >= max(1, host["maxjobs"] // 2):
        # a host that also serves other channels keeps half its jobs for them
        return False
    if host["methods"] is not None and task["method"] not in host["methods"]:
        return False
    if host["jobs"] >= host["maxjobs"] or _refused(host, task["id"], cfg, now):
        return False
    weight = float(task["weight"] or 0.0)
    cap = float(host["capacity"] or 0.0) + float(cfg["capacity_overcommit"])
    return host["load"] == 0.0 or host["load"] + weight <= cap


def expire_assignments(cfg, now, rows=None):
    """ASSIGNED tasks not opened within ``assign_timeout`` go back to FREE; returns them.
    ``rows``: those assignments (task id, host id, run time), read already (_reads_pg)."""
    from . import sched_log

    t = s.task
    if rows is None:
        rows = context.conn.execute(_expired_statement(), {
            "cutoff": now - float(cfg["assign_timeout"])}).all()
    freed = []
    for task_id, host_id, run_ts in rows:
        if sched_log.is_pinned(task_id, host_id, run_ts):
            continue
        res = context.conn.execute(update(t).where(
            t.c.id == task_id, t.c.state == STATES["ASSIGNED"], t.c.host_id == host_id)
            .values(state=STATES["FREE"], host_id=None, start_ts=None))
        if res.rowcount == 1:
            record_refusal(host_id, task_id, soft=True, now=now)
            sched_log.log_message("assignment timed out", task_id=task_id, host_id=host_id,
                                  now=now)
            sched_log.end_run(task_id, host_id, now)
            freed.append(task_id)
    return freed


def record_refusal(host_id, task_id, soft=True, now=None):
    """Remember that ``host_id`` refused ``task_id`` (kept in the host's data JSON)."""
    now = time.time() if now is None else now
    raw = context.conn.execute(select(s.host.c.data).where(s.host.c.id == host_id)).scalar()
    data = host_data(raw)
    refusals = data.get("refusals") or {}
    refusals[str(task_id)] = [now, bool(soft)]
    data["refusals"] = _prune_refusals(refusals)
    context.conn.execute(update(s.host).where(s.host.c.id == host_id).values(
        data=json.dumps(data, sort_keys=True)))


def _prune_refusals(refusals, keep=200):
    """The newest ``keep`` refusals (the data column must stay small)."""
    items = sorted(refusals.items(), key=lambda kv: kv[1][0], reverse=True)[:keep]
    return dict(items)


def schedule(cfg):
    """One scheduler run: expire stale assignments, then assign FREE tasks. Returns the
    ``[(task id, host id)]`` assigned."""
    from . import sched_log

    context.free_left = None
    if not _locked():
        return []
    now = time.time()
    prefetched = None
    if context.conn.dialect.name == "postgresql":
        expired, *prefetched = _reads_pg(now - float(cfg["assign_timeout"]))
        if expire_assignments(cfg, now, rows=expired):
            prefetched = None   # the freed tasks' hosts have less load: read again
    else:
        expire_assignments(cfg, now)
    hosts, createrepo = _hosts_for_assignment(cfg, now, prefetched)
    # a host with all its job slots taken gets nothing this run (_fits): when no host has a
    # free slot the FREE tasks are not even read, and the walk stops once the last slot is
    # filled (each builder poll ran this over every FREE task: 200 queued tasks, 4 full hosts)
    room = {hid: h for hid, h in hosts.items() if h["jobs"] < h["maxjobs"]}
    if not room:
        return []
    t = s.task
    free = context.conn.execute(
        select(t.c.id, t.c.channel_id, t.c.arch, t.c.method, t.c.weight, t.c.priority)
        .where(t.c.state == STATES["FREE"])
        .order_by(t.c.priority, t.c.create_ts, t.c.id).limit(int(cfg["max_tasks_per_run"]))
    ).all()
    assigned, createrepo_done = [], 0
    capped = len(free) >= int(cfg["max_tasks_per_run"])
    for row in free:
        if not room:
            break
        task = row._mapping
        if task["channel_id"] == createrepo and createrepo_done >= int(
                cfg["max_createrepo_per_run"]):
            capped = True
            continue
        fitting = [h for h in room.values() if _fits(h, task, cfg, now, createrepo)]
        if not fitting:
            continue
        host = min(fitting, key=lambda h: (h["load"] / max(float(h["capacity"] or 1.0), 1e-6),
                                           h["jobs"], h["id"]))
        if not _assign(task["id"], host["id"], now):
            continue
        host["load"] += float(task["weight"] or 0.0)
        host["jobs"] += 1
        if host["jobs"] >= host["maxjobs"]:
            del room[host["id"]]
        if task["channel_id"] == createrepo:
            createrepo_done += 1
            host["createrepo_jobs"] += 1
        assigned.append((task["id"], host["id"]))
    if assigned:
        log.info("assigned %s", assigned)
        if capped and room:
            # a per-run limit left tasks a host has room for: the next run assigns them, so
            # builders are woken for it (a builder idles after the tasks it took, not
            # polling again at once as kojid does: builder/daemon.py)
            from .work_bell import want_ring

            want_ring()
    if len(free) < int(cfg["max_tasks_per_run"]):
        # every FREE task was read: those not assigned are left (host.getTasks asks)
        context.free_left = len(free) - len(assigned)
    return assigned


#: an assignment on PostgreSQL in one statement (_assign): the task FREE -> ASSIGNED, and
#: only when that row changed, its active run ended, a new one started and the message logged
_ASSIGN_PG = text(
    "WITH a AS (UPDATE task SET state = :assigned, host_id = :host WHERE id = :task"
    " AND state = :free RETURNING id),"
    " e AS (UPDATE scheduler_task_runs SET active = false"
    " WHERE task_id IN (SELECT id FROM a) AND active IS true),"
    " r AS (INSERT INTO scheduler_task_runs (task_id, host_id, active, create_ts)"
    " SELECT id, :host, true, :now FROM a),"
    " m AS (INSERT INTO scheduler_log_messages (task_id, host_id, msg_ts, msg)"
    " SELECT id, :host, :now, :msg FROM a)"
    " SELECT count(*) FROM a")


def _assign(task_id, host_id, now):
    """FREE task ``task_id`` -> ASSIGNED to ``host_id`` with a new run and its log message
    (sched_log.start_run); False when the task was no longer FREE. On PostgreSQL one
    statement (:data:`_ASSIGN_PG`; the four were a round trip each). Its CTEs see one
    snapshot: the run ended is the task's active one before this statement, never the one it
    inserts."""
    from . import sched_log

    if context.conn.dialect.name == "postgresql":
        done = context.conn.execute(_ASSIGN_PG, {
            "assigned": STATES["ASSIGNED"], "free": STATES["FREE"], "host": host_id,
            "task": task_id, "now": now, "msg": "assigned"}).scalar()
        if done != 1:
            return False
        sched_log.log.info("%s (task %s, host %s)", "assigned", task_id, host_id)
        return True
    t = s.task
    res = context.conn.execute(update(t).where(t.c.id == task_id, t.c.state == STATES["FREE"])
                               .values(state=STATES["ASSIGNED"], host_id=host_id))
    if res.rowcount != 1:
        return False
    sched_log.start_run(task_id, host_id, now)
    return True


def assigned_tasks(host_id, keys):
    """The tasks ASSIGNED to ``host_id``, by priority then age (what ``host.getTasks`` returns)."""
    t = s.task
    return [dict(r._mapping) for r in context.conn.execute(
        select(*[t.c[k] for k in keys]).where(t.c.state == STATES["ASSIGNED"],
                                             t.c.host_id == host_id)
        .order_by(t.c.priority, t.c.create_ts, t.c.id))]


def count_free():
    """How many tasks are FREE; the count the assignment run of this request left when it
    read them all (one statement less in ``host.getTasks``)."""
    if context.free_left is not None:
        return context.free_left
    return context.conn.execute(select(func.count()).select_from(s.task).where(
        s.task.c.state == STATES["FREE"])).scalar()
