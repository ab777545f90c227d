"""The host API (``host.*``): what builder daemons call, as kojid calls Koji's.

A host logs in with its SSL certificate (CN = host name; the user is of type HOST). Every call
here acts on the calling host only, and on tasks only while the host holds them OPEN (see
hostcheck.py for the confinement model). State changes of tasks are conditional UPDATEs whose row
count says whether they happened, so two builders racing for one task can never both open it
(on SQLite the hub's write lock serializes them; on PostgreSQL the row lock does).
"""

from __future__ import annotations

import json
import time

import koji
from sqlalchemy import and_, or_, select, update

from ..db import schema as s
from . import scheduler
from .common import as_int, insert_versioned, one, revoke
from .context import context
from .hostcheck import assert_task_held, host_row_changed, verify_host
from .assignment import assigned_tasks, host_data, record_refusal
from .tasks import (FINAL, STATES, _decode_result, _task_row, free_task, make_task,
                    task_info)


def current_host():
    """The host row (+ config) of the session user; AuthError when the caller is no host."""
    return verify_host()


def _host_id():
    return current_host()["id"]


def host_channel_ids(host_id):
    hc = s.host_channels
    q = (select(hc.c.channel_id).select_from(hc.join(s.channels, s.channels.c.id == hc.c.channel_id))
         .where(hc.c.host_id == host_id, hc.c.active.is_(True), s.channels.c.enabled.is_(True)))
    return sorted(r[0] for r in context.conn.execute(q))


def _open_task_row(task_id, host_id=None):
    """The task row if the calling host holds it OPEN (ActionNotAllowed otherwise)."""
    return assert_task_held(task_id)


# --- identity and load --------------------------------------------------------------------

def _getID():
    return _host_id()


def _getHost():
    host = current_host()
    host["channels"] = host_channel_ids(host["id"])
    return host


def _updateHost(task_load, ready, data=None):
    """Check in: load, readiness and scheduler data (methods, maxjobs, reported arches/capacity)."""
    host = current_host()
    values = {"task_load": float(task_load), "ready": bool(ready), "update_ts": time.time()}
    if data is not None:
        if not isinstance(data, dict):
            raise koji.ParameterError("Invalid type for data: %s" % type(data))
        values["data"] = json.dumps(_keep_scheduler_keys(host["id"], data), sort_keys=True)
        new = {}
        if data.get("arches"):
            arches = data["arches"]
            arches = " ".join(arches) if isinstance(arches, list) else str(arches)
            if arches != host["arches"]:
                new["arches"] = arches
        if data.get("capacity") and float(data["capacity"]) != host["capacity"]:
            new["capacity"] = float(data["capacity"])
        if new:
            # a builder's own report of what it has updates the host's config (versioned)
            cfg = {k: host[k] for k in ("arches", "capacity", "description", "comment",
                                        "enabled")}
            cfg.update(new)
            revoke(s.host_config, s.host_config.c.host_id == host["id"])
            insert_versioned(s.host_config, host_id=host["id"], **cfg)
            host_row_changed(**new)
    context.conn.execute(update(s.host).where(s.host.c.id == host["id"]).values(**values))
    host_row_changed(**{k: v for k, v in values.items() if k != "data"})
    if context.request_memo is not None:
        # a host.getTasks later in this multicall need not set update_ts again (the memo is
        # cleared when an entry fails, its savepoint rolled back: then it does)
        context.request_memo["checked_in"] = values["update_ts"]


def _keep_scheduler_keys(host_id, data):
    """``data`` plus the scheduler's own keys of the stored data (a host's check-in replaces
    what it reports, not the refusals the hub remembers about it)."""
    old = host_data(context.conn.execute(select(s.host.c.data).where(
        s.host.c.id == host_id)).scalar())
    data = {k: v for k, v in data.items() if k != "refusals"}
    if "refusals" in old:
        data["refusals"] = old["refusals"]
    return data


def _setHostData(hostdata):
    host = current_host()
    if not isinstance(hostdata, dict):
        raise koji.ParameterError("Invalid type for hostdata: %s" % type(hostdata).__name__)
    now = time.time()
    context.conn.execute(update(s.host).where(s.host.c.id == host["id"]).values(
        data=json.dumps(_keep_scheduler_keys(host["id"], hostdata), sort_keys=True),
        update_ts=now))
    host_row_changed(update_ts=now)


_TASK_KEYS = ("id", "state", "channel_id", "host_id", "arch", "method", "priority", "create_ts",
              "weight", "parent")


def _getTasks():
    """The tasks ASSIGNED to this host (Koji 1.34+: a host opens only what the hub assigned it).

    Each call first runs the scheduler's assignment (assignment.py) and, rate-limited, the
    queue's housekeeping."""
    host = current_host()
    memo = context.request_memo
    if memo is None or memo.get("checked_in") is None:
        # (kojid's cycle sends host.updateHost first, in the same multicall from our daemon:
        # that set update_ts in this transaction already)
        now = time.time()
        context.conn.execute(update(s.host).where(s.host.c.id == host["id"]).values(
            update_ts=now))
        host_row_changed(update_ts=now)
    rang_before, context.ring_builders = context.ring_builders, False
    # what rang before this call: only for FREE tasks made earlier in this request (a task
    # process's subtasks, asked for with getTasks in the same multicall), or more
    new_before = set(context.rang_for_new) if not context.ring_other else None
    scheduler.maybe_maintain()
    assigned = scheduler.assign()
    if rang_before and new_before and new_before <= {t for t, _h in assigned}:
        # this run assigned every task the request made: the caller gets its own in this
        # answer (our builder's task process hands them to its daemon, builder/taskctx.py)
        # and the other hosts' bells ring below; the bell of every builder would only send
        # them round a cycle that finds nothing
        rang_before = False
    if context.ring_builders and all(h == host["id"] for _t, h in assigned):
        # the housekeeping made tasks (the automatic repo check's newRepo) and this same run
        # assigned them to the caller, who gets them in this answer: when no task is left
        # FREE no other builder has anything to look at (the bell would only send the caller
        # round its cycle once more)
        from .assignment import count_free

        if not count_free():
            context.ring_builders = False
    context.ring_builders = context.ring_builders or rang_before
    others = {h for _t, h in assigned if h != host["id"]}
    if others and not context.ring_builders:
        # tasks this run assigned to other hosts: their builders learn of them at their own
        # next getTasks, so only their bells ring (work_bell.ring_hosts), once this commits
        from .work_bell import want_ring_hosts

        want_ring_hosts(others)
    return assigned_tasks(host["id"], _TASK_KEYS)


def _getLoadData():
    """Koji's legacy ``[[hosts with channels], tasks]`` (ready enabled hosts; FREE+ASSIGNED)."""
    from .hosts import _hosts

    current_host()
    hosts = [h for h in _hosts() if h["ready"] and h["enabled"]]
    for h in hosts:
        h["channels"] = host_channel_ids(h["id"])
    t = s.task
    tasks = [dict(r._mapping) for r in context.conn.execute(
        select(*[t.c[k] for k in _TASK_KEYS]).where(
            t.c.state.in_([STATES["FREE"], STATES["ASSIGNED"]]))
        .order_by(t.c.priority, t.c.create_ts))]
    return [hosts, tasks]


def _getHostTasks():
    """This host's OPEN tasks; ``alert`` marks waiting ones with finished awaited children."""
    hid = _host_id()
    t = s.task
    rows = [dict(r._mapping) for r in context.conn.execute(
        select(t.c.id, t.c.waiting, t.c.weight).where(
            t.c.host_id == hid, t.c.state == STATES["OPEN"]).order_by(t.c.id))]
    for r in rows:
        r["waiting"] = bool(r["waiting"])
        if r["waiting"]:
            done = context.conn.execute(select(t.c.id).where(
                t.c.parent == r["id"], t.c.awaited.is_(True), t.c.state.in_(FINAL))
                .limit(1)).first()
            if done:
                r["alert"] = True
    return rows


# --- taking and finishing tasks -----------------------------------------------------------

def _openTask(task_id):
    """FREE (or ASSIGNED to this host) -> OPEN; the task dict with the raw request, or None."""
    hid = _host_id()
    tid = as_int(task_id, "task_id")
    t = s.task
    # the row as updated comes back with the update (no second read)
    row = one(context.conn.execute(
        update(t).where(t.c.id == tid, or_(t.c.state == STATES["FREE"],
                                           and_(t.c.state == STATES["ASSIGNED"],
                                                t.c.host_id == hid)))
        .values(state=STATES["OPEN"], host_id=hid, start_ts=time.time())
        .returning(*t.c)).first())
    if row is None:
        return None
    info = task_info(row)
    info["request"] = row["request"]
    return info


def _finish(task_id, state, response):
    hid = _host_id()
    tid = as_int(task_id, "task_id")
    if not isinstance(response, str):
        raise koji.ParameterError("Invalid type for response: %s" % type(response))
    row = assert_task_held(tid)
    if row.get("parent") is not None and context.conn.execute(
            select(s.task.c.host_id).where(s.task.c.id == row["parent"])).scalar() != hid:
        # the parent's host learns from getHostTasks that an awaited child ended: woken now.
        # Not when the parent runs on this same host: our builder's task process wakes its
        # parent's process itself as it ends (builder/daemon.wake_parent_task), and kojid
        # does not wait in host.waitWork
        from .work_bell import want_ring

        want_ring()
    t = s.task
    res = context.conn.execute(
        update(t).where(t.c.id == tid, t.c.state == STATES["OPEN"], t.c.host_id == hid)
        .values(state=state, result=response, completion_ts=time.time(), waiting=None))
    if res.rowcount != 1:
        row = _task_row(tid)
        raise koji.ActionNotAllowed("task %i is not open on this host (state %s)"
                                    % (tid, koji.TASK_STATES[row["state"]]))


def _closeTask(task_id, response):
    _finish(task_id, STATES["CLOSED"], response)


def _failTask(task_id, response):
    _finish(task_id, STATES["FAILED"], response)


def _freeTasks(tasks):
    """Put this host's OPEN/ASSIGNED tasks back in the queue."""
    hid = _host_id()
    if tasks is not None and not isinstance(tasks, (list, tuple)):
        raise koji.ParameterError("Invalid type for tasks: %s" % type(tasks).__name__)
    for tid in tasks or []:
        free_task(as_int(tid, "task_id"), host_id=hid)


def _refuseTask(task_id, soft=True, msg=""):
    """Give back a task ASSIGNED to (or OPEN on) this host; the scheduler remembers the
    refusal so the task goes elsewhere (for SoftRefusalTimeout if ``soft``, else for good)."""
    hid = _host_id()
    tid = as_int(task_id, "task_id")
    t = s.task
    res = context.conn.execute(update(t).where(
        t.c.id == tid, t.c.state.in_([STATES["ASSIGNED"], STATES["OPEN"]]),
        t.c.host_id == hid).values(state=STATES["FREE"], host_id=None, start_ts=None))
    if res.rowcount == 1:
        from . import sched_log
        from .work_bell import want_ring

        want_ring()   # free again: another host may take it
        record_refusal(hid, tid, soft=bool(soft))
        sched_log.log_message("refused%s: %s" % ("" if soft else " (hard)", msg or "no reason"),
                              task_id=tid, host_id=hid)
        sched_log.end_run(tid, hid, time.time())


def _setTaskWeight(task_id, weight):
    row = _open_task_row(task_id)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < 1e6:
        raise koji.ParameterError("Invalid task weight: %r" % (weight,))
    context.conn.execute(update(s.task).where(s.task.c.id == row["id"])
                         .values(weight=float(weight)))


# --- subtasks and waiting -----------------------------------------------------------------

def _subtask(method, arglist, parent, opts):
    prow = _open_task_row(parent)
    label = opts.get("label")
    if label is not None:
        existing = context.conn.execute(select(s.task.c.id).where(
            s.task.c.parent == prow["id"], s.task.c.label == label)).first()
        if existing:
            return existing[0]
    # None: the channel policy decides (Koji's default: the parent's channel)
    channel = opts.get("channel") or None
    prio = opts.get("priority")
    if prio is None:
        prio = prow["priority"] - 1
    assign = opts.get("assign")
    target = None
    if assign is not None:
        from .hosts import get_host

        # Koji: an assigned subtask goes to that host, whatever its channels (restartHosts)
        target = get_host(assign, strict=True)
    tid = make_task(method, list(arglist), channel=channel, arch=opts.get("arch") or prow["arch"],
                    priority=prio, parent=prow["id"], label=label, owner=prow["owner"])
    if target is not None:
        # a pinned assignment never times out back to FREE
        context.conn.execute(update(s.task).where(s.task.c.id == tid).values(
            state=STATES["ASSIGNED"], host_id=target["id"], start_ts=None))
        from . import sched_log

        sched_log.start_run(tid, target["id"], pinned=True)
    return tid


def _subtask_v1(method, arglist, parent, **opts):
    return _subtask(method, arglist, as_int(parent, "parent"), opts)


def _subtask2(__parent, __taskopts, __method, *args, **opts):
    arglist = list(args)
    if opts:
        arglist.append(dict(opts, __starstar=True))
    return _subtask(__method, arglist, as_int(__parent, "parent"), dict(__taskopts or {}))


def _taskSetWait(parent, tasks):
    prow = _open_task_row(parent)
    if tasks is not None and not isinstance(tasks, (list, tuple)):
        raise koji.ParameterError("Invalid type for tasks: %s" % type(tasks).__name__)
    t = s.task
    context.conn.execute(update(t).where(t.c.id == prow["id"]).values(waiting=True))
    if tasks is None:
        context.conn.execute(update(t).where(t.c.parent == prow["id"]).values(awaited=True))
    elif tasks:
        ids = [as_int(x, "task") for x in tasks]
        context.conn.execute(update(t).where(t.c.parent == prow["id"], t.c.id.in_(ids))
                             .values(awaited=True))
        context.conn.execute(update(t).where(t.c.parent == prow["id"], t.c.id.not_in(ids),
                                             t.c.awaited.is_(True)).values(awaited=False))


def _taskWait(parent):
    """``[finished, unfinished]`` awaited children; finished ones stop being awaited."""
    pid = _open_task_row(parent)["id"]
    t = s.task
    rows = context.conn.execute(select(t.c.id, t.c.state).where(
        t.c.parent == pid, t.c.awaited.is_(True)).order_by(t.c.id)).all()
    finished = [r.id for r in rows if r.state in FINAL]
    unfinished = [r.id for r in rows if r.state not in FINAL]
    if finished:
        context.conn.execute(update(t).where(t.c.id.in_(finished)).values(awaited=False))
    return [finished, unfinished]


def _taskUnwait(parent):
    t = s.task
    pid = _open_task_row(parent)["id"]
    context.conn.execute(update(t).where(t.c.id == pid).values(waiting=False))
    context.conn.execute(update(t).where(t.c.parent == pid).values(awaited=False))


def _taskWaitResults(parent, tasks, canfail=None):
    if canfail is not None and not isinstance(canfail, (list, tuple)):
        raise koji.ParameterError("Invalid type for canfail: %s" % type(canfail).__name__)
    canfail = [as_int(x, "task") for x in (canfail or [])]
    pid = _open_task_row(parent)["id"]
    t = s.task
    if tasks is None:
        tasks = [r[0] for r in context.conn.execute(select(t.c.id).where(
            t.c.parent == pid, t.c.state.in_(FINAL)).order_by(t.c.id))]
    if not isinstance(tasks, (list, tuple)):
        raise koji.ParameterError("Invalid type for tasks: %s" % type(tasks).__name__)
    results = []
    for tid in tasks:
        row = _task_row(tid)
        if row["parent"] != pid:
            raise koji.ActionNotAllowed("task %d is not a subtask of task %d" % (row["id"], pid))
        raise_fault = row["id"] not in canfail
        try:
            results.append([row["id"], _decode_result(row, raise_fault=raise_fault)])
        except koji.GenericError as exc:
            if not raise_fault and row["state"] == STATES["CANCELED"]:
                results.append([row["id"], {"faultCode": exc.faultCode,
                                            "faultString": str(exc)}])
                continue
            raise
    # getting the results ends the wait (Koji unwaits first): after the reads, so a child not
    # finished yet (a builder's look at its children asks for their results in the same
    # multicall) fails the call before it wrote anything, which on PostgreSQL leaves nothing
    # to roll back (hub/dispatch.py)
    _taskUnwait(pid)
    return results


# --- notifications ------------------------------------------------------------------------

def _tagNotification(is_successful, tag_id, from_id, build_id, user_id, ignore_success=False,
                     failure_msg=""):
    """What kojid's tagBuild handler calls after tagging (or failing to). Koji turns it into
    e-mail notification tasks; this hub sends no mail, so it checks the arguments name a real
    build, tags and user, and records nothing."""
    from .builds import get_build_row
    from .common import get_tag_row, get_user_row

    _host_id()
    if tag_id is not None:
        get_tag_row(as_int(tag_id, "tag_id"), strict=True)
    if from_id is not None:
        get_tag_row(as_int(from_id, "from_id"), strict=True)
    get_build_row(as_int(build_id, "build_id"), strict=True)
    if get_user_row(as_int(user_id, "user_id")) is None:
        raise koji.GenericError("No such user: %r" % (user_id,))
    if not isinstance(failure_msg, str):
        raise koji.ParameterError("Invalid type for failure_msg: %s"
                                  % type(failure_msg).__name__)
    return None


# --- registration under Koji's names ------------------------------------------------------

_HOST_METHODS = {
    "getID": (_getID, False), "getHost": (_getHost, False), "updateHost": (_updateHost, True),
    "setHostData": (_setHostData, True), "getTasks": (_getTasks, True),
    "getLoadData": (_getLoadData, False), "getHostTasks": (_getHostTasks, False),
    "openTask": (_openTask, True), "closeTask": (_closeTask, True),
    "failTask": (_failTask, True), "freeTasks": (_freeTasks, True),
    "refuseTask": (_refuseTask, True), "setTaskWeight": (_setTaskWeight, True),
    "subtask": (_subtask_v1, True), "subtask2": (_subtask2, True),
    "taskSetWait": (_taskSetWait, True), "taskWait": (_taskWait, True),
    "taskUnwait": (_taskUnwait, True), "taskWaitResults": (_taskWaitResults, True),
    "tagNotification": (_tagNotification, False),
}


def _register():
    from .registry import METHODS, Method

    for name, (func, write) in _HOST_METHODS.items():
        METHODS["host." + name] = Method("host." + name, func, write)


_register()
