"""Repo requests (Koji 1.35+): ``repo.request``, ``repo.checkRequest``, ``repo.get``,
``repo.query``, ``repo.queryQueue``, ``repo.checkQueue``, ``repo.autoRequests``.

A request asks for a READY repo of a tag no older than ``min_event`` (or exactly at
``at_event``) with given options. The hub serves the queue itself (kojira's job): an active
request without a running task gets a ``newRepo`` task at once (and again, up to
``repo_retries`` tries, if the task fails); a repo that becomes READY fulfils every matching
request (``repo_id`` set, ``active`` False).
"""

from __future__ import annotations

import json
import time

import koji
from sqlalchemy import insert, select, update

from ..db import schema as s
from .common import as_int, assert_login, get_tag_row, has_perm, one
from .context import context, fmt_time, user_id
from .registry import METHODS, Method
from .repos import STATES, make_newrepo_task, norm_opts, query_repos, repo_info

TASK_STATES = koji.TASK_STATES
REPO_PRIORITY = 20
#: How often a request's newRepo task may fail before the request gives up (Koji: RepoRetries).
MAX_TRIES = 3


def _req_info(row):
    info = dict(row)
    info["opts"] = json.loads(row["opts"]) if row["opts"] else {}
    info["tag_name"] = context.conn.execute(select(s.tag.c.name).where(
        s.tag.c.id == row["tag_id"])).scalar()
    info["create_ts"] = row["create_time"]
    info["create_time"] = fmt_time(row["create_time"])
    info["update_ts"] = row["update_time"]
    info["update_time"] = fmt_time(row["update_time"])
    info["owner_name"] = context.conn.execute(select(s.users.c.name).where(
        s.users.c.id == row["owner"])).scalar()
    info["task_state"] = None
    if row["task_id"]:
        info["task_state"] = context.conn.execute(select(s.task.c.state).where(
            s.task.c.id == row["task_id"])).scalar()
    return info


def _req_row(req_id):
    row = one(context.conn.execute(select(s.repo_queue).where(
        s.repo_queue.c.id == as_int(req_id, "req_id"))).first())
    if row is None:
        raise koji.GenericError("No such repo request: %s" % req_id)
    return row


def _last_change(tag_id):
    from .events import tagLastChangeEvent

    return tagLastChangeEvent(tag_id)


def best_repo(tag_id, min_event=None, at_event=None, opts=None):
    rows = query_repos(tag_id, state=STATES["READY"], dist=False, min_event=min_event,
                       at_event=at_event, opts=opts if opts is not None else {})
    return repo_info(rows[0]) if rows else None


def _resolve_min_event(tag_id, min_event, at_event):
    if at_event is not None and min_event is not None:
        raise koji.ParameterError("Only one of min_event and at_event may be given")
    if at_event is not None:
        return None, as_int(at_event, "at_event")
    if min_event in (None, "last"):
        # Koji's default lags behind recent changes to limit churn; this hub regenerates for
        # every change, so "no older than the last change" is the default.
        return _last_change(tag_id), None
    return as_int(min_event, "min_event"), None


def request(tag, min_event=None, at_event=None, opts=None, priority=None, force=False):
    assert_login()
    tag_row = get_tag_row(tag, strict=True)
    opts = norm_opts(opts) or {}
    min_ev, at_ev = _resolve_min_event(tag_row["id"], min_event, at_event)
    if priority is not None and as_int(priority, "priority") < 0 and not has_perm("admin"):
        raise koji.ActionNotAllowed("only admins may give negative priorities")
    if not force:
        repo = best_repo(tag_row["id"], min_ev, at_ev, opts)
        if repo:
            return {"repo": repo, "request": None, "duplicate": False}
    rq = s.repo_queue
    q = select(rq).where(rq.c.tag_id == tag_row["id"], rq.c.active.is_(True))
    for row in context.conn.execute(q.order_by(rq.c.id)):
        row = dict(row._mapping)
        if (json.loads(row["opts"]) or {}) != opts:
            continue
        if at_ev is not None and row["at_event"] == at_ev or \
                at_ev is None and row["at_event"] is None and min_ev is not None and \
                row["min_event"] is not None and row["min_event"] >= min_ev:
            return {"repo": None, "request": _req_info(row), "duplicate": True}
    now = time.time()
    req_id = context.conn.execute(insert(rq).values(
        create_time=now, update_time=now, owner=user_id(),
        priority=REPO_PRIORITY + (as_int(priority, "priority") if priority else 0),
        tag_id=tag_row["id"], at_event=at_ev, min_event=min_ev,
        opts=json.dumps(opts, sort_keys=True), active=True, tries=0)
        .returning(rq.c.id)).scalar_one()
    start_request_task(_req_row(req_id))
    return {"repo": None, "request": _req_info(_req_row(req_id)), "duplicate": False}


def request_task(row, tag_row=None, channel_row=None):
    """A newRepo task for the request ``row`` (its id not needed: a request about to be
    inserted with the task's id, scheduler.auto_requests); returns the task's id.
    ``tag_row``: the request's tag (``{id, name}``) when the caller has read it now, in this
    transaction; ``channel_row``: the createrepo channel's row, likewise."""
    kwargs = dict(row["opts"] and json.loads(row["opts"]) or {})
    kwargs = {k: v for k, v in kwargs.items() if v}
    if row["at_event"] is not None:
        kwargs["event"] = row["at_event"]
    if tag_row is None or tag_row.get("id") != row["tag_id"] or not tag_row.get("name"):
        tag_row = get_tag_row(row["tag_id"], strict=True)
    return make_newrepo_task(tag_row, kwargs, owner=row["owner"],
                             priority=min(row["priority"], 15), channel_row=channel_row)


def start_request_task(row, tag_row=None):
    """Give an active request a newRepo task (if it has none running). ``tag_row``: the
    request's tag (``{id, name}``) when the caller has read it."""
    task_id = request_task(row, tag_row)
    context.conn.execute(update(s.repo_queue).where(s.repo_queue.c.id == row["id"]).values(
        task_id=task_id, tries=row["tries"] + 1, update_time=time.time()))
    return task_id


def check_queue(max_tries=MAX_TRIES):
    """Start, retry or retire the tasks of active requests; returns how many tasks started."""
    rq = s.repo_queue
    started = 0
    for row in context.conn.execute(select(rq).where(rq.c.active.is_(True))
                                    .order_by(rq.c.priority, rq.c.id)).all():
        row = dict(row._mapping)
        repo = best_repo(row["tag_id"], row["min_event"], row["at_event"],
                         json.loads(row["opts"]) or {})
        if repo:
            _fulfil(row, repo)
            continue
        state = None
        if row["task_id"]:
            state = context.conn.execute(select(s.task.c.state).where(
                s.task.c.id == row["task_id"])).scalar()
        if state in (TASK_STATES["FREE"], TASK_STATES["OPEN"], TASK_STATES["ASSIGNED"]):
            continue
        if row["tries"] >= max_tries:
            context.conn.execute(update(rq).where(rq.c.id == row["id"]).values(
                active=False, update_time=time.time()))
            continue
        start_request_task(row)
        started += 1
    return started


def _fulfil(row, repo):
    context.conn.execute(update(s.repo_queue).where(s.repo_queue.c.id == row["id"]).values(
        repo_id=repo["id"], active=False, update_time=time.time()))


def fulfil_requests(repo):
    """Mark the active requests that ``repo`` (READY) satisfies as done."""
    rq = s.repo_queue
    for row in context.conn.execute(select(rq).where(
            rq.c.active.is_(True), rq.c.tag_id == repo["tag_id"])).all():
        row = dict(row._mapping)
        want = json.loads(row["opts"]) or {}
        have = repo["opts"] or {}
        custom = repo["custom_opts"] or {}
        if any(have.get(k, False) != v for k, v in want.items()) or \
                any(k not in want for k in custom):
            continue
        if row["at_event"] is not None and repo["create_event"] != row["at_event"]:
            continue
        if row["min_event"] is not None and repo["create_event"] < row["min_event"]:
            continue
        _fulfil(row, repo)


def check_request(req_id):
    row = _req_row(req_id)
    out = {"request": _req_info(row), "repo": None}
    if row["repo_id"]:
        out["repo"] = repo_info(one(context.conn.execute(select(s.repo).where(
            s.repo.c.id == row["repo_id"])).first()))
    if row["task_id"]:
        from .tasks import getTaskInfo

        out["task"] = getTaskInfo(row["task_id"])
    return out


def get(tag, min_event=None, at_event=None, opts=None, default_min_event=False):
    tag_row = get_tag_row(tag, strict=True)
    opts = norm_opts(opts) or {}
    min_ev = at_ev = None
    if at_event is not None:
        at_ev = as_int(at_event, "at_event")
    elif min_event == "last" or (min_event is None and default_min_event):
        min_ev = _last_change(tag_row["id"])
    elif min_event is not None:
        min_ev = as_int(min_event, "min_event")
    return best_repo(tag_row["id"], min_ev, at_ev, opts)


def query(clauses=None, fields=None, opts=None):
    """Repos as dicts; ``clauses`` as Koji's [[field, op, value], ...] with =, !=, <, >, IN."""
    rows = [repo_info(r) for r in query_repos(dist=None, order_desc=False)]
    return _filter(rows, clauses, fields, opts)


def query_queue(clauses=None, fields=None, opts=None):
    rows = [_req_info(dict(r._mapping)) for r in context.conn.execute(
        select(s.repo_queue).order_by(s.repo_queue.c.id))]
    return _filter(rows, clauses, fields, opts)


def _filter(rows, clauses, fields, opts):
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
           ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
           "IN": lambda a, b: a in b, "NOT IN": lambda a, b: a not in b,
           "IS": lambda a, b: a is b, "IS NOT": lambda a, b: a is not b}
    if not isinstance(clauses or [], (list, tuple)):
        raise koji.ParameterError("Invalid clauses: a list of [field, op, value] expected")
    for clause in clauses or []:
        if not isinstance(clause, (list, tuple)) or len(clause) != 3:
            raise koji.ParameterError("Invalid clause %r: [field, op, value] expected"
                                      % (clause,))
        field, op, value = clause
        f = ops.get(str(op).upper())
        if f is None:
            raise koji.ParameterError("Invalid operator: %s" % op)
        rows = [r for r in rows if r.get(field) is not None and f(r.get(field), value)
                or (op.upper() in ("IS", "=") and value is None and r.get(field) is None)]
    if fields:
        rows = [{k: r.get(k) for k in fields} for r in rows]
    from .packages import apply_query_opts

    return apply_query_opts(rows, opts)


def _check_queue_api():
    from .common import assert_perm

    assert_perm("repo")
    return check_queue()


def _auto_requests_api():
    from .common import assert_perm
    from .scheduler import auto_requests

    assert_perm("repo")
    return auto_requests()


def _register():
    for name, func, write in (("request", request, True), ("checkRequest", check_request, False),
                              ("get", get, False), ("query", query, False),
                              ("queryQueue", query_queue, False),
                              ("checkQueue", _check_queue_api, True),
                              ("autoRequests", _auto_requests_api, True)):
        METHODS["repo." + name] = Method("repo." + name, func, write)


_register()
