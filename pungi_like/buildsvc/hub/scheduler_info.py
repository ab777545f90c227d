"""Koji's ``scheduler.*`` read calls (``koji scheduler-info``, ``koji scheduler-logs``).

As in Koji, the scheduler's task runs and log messages are tables of their own
(``scheduler_task_runs``, ``scheduler_log_messages``; written by sched_log.py when
assignment.py assigns, times out or sees a refusal). A run is reported ``active`` while it is
stored active and its task is still ASSIGNED or OPEN on that host. Clauses and fields are
checked as Koji's QueryView checks them, so bad input gives the same kind of fault.
"""

from __future__ import annotations

import json

import koji
from sqlalchemy import select

from ..db import schema as s
from .common import as_int, check_type
from .context import context
from .packages import apply_query_opts
from .registry import export

_RUN_FIELDS = ("id", "task_id", "method", "state", "owner", "arch", "channel_id", "host_name",
               "host_ready", "host_id", "active", "create_ts", "start_ts", "completion_ts")
_RUN_DEFAULT = ("id", "task_id", "host_id", "active", "create_ts")
_LOG_FIELDS = ("id", "task_id", "host_id", "msg_ts", "msg", "method", "state", "owner", "arch",
               "channel_id", "host_name", "host_ready")
_LOG_DEFAULT = ("id", "task_id", "host_id", "msg", "msg_ts")

_OPS = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a is not None and a < b, ">": lambda a, b: a is not None and a > b,
    "<=": lambda a, b: a is not None and a <= b, ">=": lambda a, b: a is not None and a >= b,
    "IN": lambda a, b: a in b, "NOT IN": lambda a, b: a not in b,
    "IS": lambda a, b: a is b, "IS NOT": lambda a, b: a is not b,
}


def _check_fields(fields, known, default):
    if fields is None:
        return list(default)
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, (list, tuple)):
        raise koji.ParameterError("Invalid type for fields: %s" % type(fields))
    for f in fields:
        if f not in known:
            raise koji.ParameterError("Invalid field: %r" % (f,))
    return list(fields)


def _filters(clauses, known):
    """[(field, test, value)] from Koji's ``[field, value]`` / ``[field, op, value]`` clauses."""
    if clauses is None:
        return []
    if not isinstance(clauses, (list, tuple)):
        raise koji.ParameterError("Invalid type for clauses: %s" % type(clauses))
    out = []
    for clause in clauses:
        if not isinstance(clause, (list, tuple)) or len(clause) not in (2, 3):
            raise koji.ParameterError("Invalid clause: %r" % (clause,))
        field, op, value = (clause[0], "=", clause[1]) if len(clause) == 2 else clause
        if field not in known:
            raise koji.ParameterError("Invalid field: %r" % (field,))
        op = op.upper() if isinstance(op, str) else op
        if op not in _OPS:
            raise koji.ParameterError("Invalid operator: %r" % (op,))
        if op in ("IN", "NOT IN") and not isinstance(value, (list, tuple)):
            raise koji.ParameterError("Invalid value for %s: %r" % (op, value))
        out.append((field, _OPS[op], value))
    return out


def _apply(rows, clauses, fields, opts, known, default):
    fields = _check_fields(fields, known, default)
    filters = _filters(clauses, known)
    if opts is not None:
        check_type(opts, dict, "opts")
    picked = []
    for row in rows:
        try:
            if all(test(row[f], v) for f, test, v in filters):
                picked.append({f: row[f] for f in fields})
        except TypeError:
            raise koji.ParameterError("Invalid value in clauses: %r" % (clauses,)) from None
    return apply_query_opts(picked, opts or {"order": "id"})


@export(name="scheduler.getTaskRuns", write=False)
def getTaskRuns(clauses=None, fields=None, opts=None):
    """Task runs: each assignment of a task to a host (see the module docstring)."""
    t, h, r = s.task, s.host, s.scheduler_task_runs
    q = (select(r.c.id, r.c.task_id, r.c.host_id, r.c.active, r.c.create_ts, t.c.method,
                t.c.state, t.c.owner, t.c.arch, t.c.channel_id, t.c.start_ts, t.c.completion_ts,
                t.c.host_id.label("task_host_id"), h.c.name.label("host_name"),
                h.c.ready.label("host_ready"))
         .select_from(r.join(t, t.c.id == r.c.task_id).join(h, h.c.id == r.c.host_id))
         .order_by(r.c.id))
    live = (koji.TASK_STATES["ASSIGNED"], koji.TASK_STATES["OPEN"])
    rows = []
    for row in context.conn.execute(q):
        d = dict(row._mapping)
        d["active"] = bool(d["active"]) and d["state"] in live and \
            d.pop("task_host_id") == d["host_id"]
        rows.append(d)
    return _apply(rows, clauses, fields, opts, _RUN_FIELDS, _RUN_DEFAULT)


@export(name="scheduler.getLogMessages", write=False)
def getLogMessages(clauses=None, fields=None, opts=None):
    """Scheduler log messages (assignments, assignment timeouts, refusals)."""
    t, h, m = s.task, s.host, s.scheduler_log_messages
    q = (select(m.c.id, m.c.task_id, m.c.host_id, m.c.msg_ts, m.c.msg, t.c.method, t.c.state,
                t.c.owner, t.c.arch, t.c.channel_id, h.c.name.label("host_name"),
                h.c.ready.label("host_ready"))
         .select_from(m.outerjoin(t, t.c.id == m.c.task_id).outerjoin(h, h.c.id == m.c.host_id))
         .order_by(m.c.id))
    rows = [dict(row._mapping) for row in context.conn.execute(q)]
    return _apply(rows, clauses, fields, opts, _LOG_FIELDS, _LOG_DEFAULT)


@export(name="scheduler.getHostData", write=False)
def getHostData(hostID=None):
    """What each builder last reported to the scheduler: ``[{host_id, data}]``."""
    q = select(s.host.c.id, s.host.c.data).where(s.host.c.data.is_not(None)).order_by(s.host.c.id)
    if hostID is not None:
        q = q.where(s.host.c.id == as_int(hostID, "hostID"))
    out = []
    for host_id, data in context.conn.execute(q):
        try:
            out.append({"host_id": host_id, "data": json.loads(data)})
        except ValueError:
            out.append({"host_id": host_id, "data": None})
    return out
