"""Koji's ``scheduler.*`` read calls (``koji scheduler-info``, ``koji scheduler-logs``).

Koji keeps its scheduler's task runs and log messages in tables of their own. This hub's
assignment (assignment.py) records only a task's current host, so a task run is derived from
the task row (one run per task that has been given to a host: id and task_id are the task's,
``active`` while the task is ASSIGNED or OPEN) and there are no stored log messages (the
assignment logs go to the hub's log file). Clauses and fields are checked as Koji's QueryView
checks them, so bad input gives the same kind of fault.
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
    """Task runs (one per task given to a host; see the module docstring)."""
    t, h = s.task, s.host
    q = (select(t.c.id, t.c.method, t.c.state, t.c.owner, t.c.arch, t.c.channel_id, t.c.host_id,
                t.c.create_ts, t.c.start_ts, t.c.completion_ts, h.c.name.label("host_name"),
                h.c.ready.label("host_ready"))
         .select_from(t.join(h, h.c.id == t.c.host_id)).order_by(t.c.id))
    active = (koji.TASK_STATES["ASSIGNED"], koji.TASK_STATES["OPEN"])
    rows = []
    for r in context.conn.execute(q):
        d = dict(r._mapping)
        d["task_id"] = d["id"]
        d["active"] = d["state"] in active
        d["create_ts"] = d["start_ts"] or d["create_ts"]
        rows.append(d)
    return _apply(rows, clauses, fields, opts, _RUN_FIELDS, _RUN_DEFAULT)


@export(name="scheduler.getLogMessages", write=False)
def getLogMessages(clauses=None, fields=None, opts=None):
    """Scheduler log messages: none are stored by this hub (see the module docstring)."""
    return _apply([], clauses, fields, opts, _LOG_FIELDS, _LOG_DEFAULT)


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
