"""Tasks: creation, lookups, results and cancellation.

The table (see db/schema.py) carries everything the task queue needs: state (koji.TASK_STATES),
parent/label, waiting/awaited, owner, channel, arch, host, priority, weight, the request as an
XML-RPC methodCall document and the result as a methodResponse document (a serialized Fault for
failures). Builders take tasks through the host API (hub/host_api.py); the hub runs a few tasks
itself (tagBuild) with :func:`run_in_hub`.
"""

from __future__ import annotations

import time
import xmlrpc.client

import koji
import koji.xmlrpcplus
from sqlalchemy import bindparam, func, insert, or_, select, update

from ..db import schema as s
from .common import as_int, assert_login, lookup, name_map, one
from .context import context, fmt_time, perms
from .registry import export, read_only

STATES = koji.TASK_STATES
FINAL = (STATES["CLOSED"], STATES["CANCELED"], STATES["FAILED"])
PRIO_DEFAULT = 20


def encode_request(method, args, kwargs=None):
    params = list(args)
    if kwargs:
        params.append(dict(kwargs, __starstar=True))
    return koji.xmlrpcplus.dumps(tuple(params), methodname=method, allow_none=1)


def decode_request(xml):
    params, _method = xmlrpc.client.loads(xml)
    return list(params)


def make_task(method, args, kwargs=None, channel=None, arch="noarch", priority=None,
              parent=None, label=None, owner=None, state=STATES["FREE"], weight=1.0,
              channel_row=None, known_tags=None):
    """Insert a task row; returns its id.

    The channel comes from the hub's ``channel`` policy (Koji's default: the requested
    ``channel`` if any, else the parent's for a subtask, else ``default``), and the
    ``priority`` policy may change the priority, as in Koji's make_task.

    ``channel_row``: the requested channel's row (``id``, ``name``, ``enabled``) as the
    caller read it in this transaction (not looked up again); ``known_tags``: ``{tag name or
    id: its name}`` of tags the caller read in this transaction, for the policies' data
    (policy.policy_data_from_task_args)."""
    owner_id = owner if owner is not None else (context.user["id"] if context.user else None)
    if owner_id is None:
        raise koji.ActionNotAllowed("tasks need an owner (log in)")
    prio = PRIO_DEFAULT if priority is None else as_int(priority, "priority")
    data = {"method": method, "arch": arch, "parent": parent, "label": label,
            "owner": owner_id, "user_id": owner_id}
    req = None
    if channel is not None:
        req = channel_row if channel_row is not None and channel_row["name"] == channel \
            else lookup(s.channels, channel, "channel", strict=True)
        if not req["enabled"]:
            raise koji.GenericError("channel %s is disabled" % req["name"])
        data["req_channel"] = req["name"]
    from .policy import policy_data_from_task_args

    data.update(policy_data_from_task_args(method, list(args) + (
        [dict(kwargs, __starstar=True)] if kwargs else []), known_tags=known_tags))
    chan = _channel_from_policy(data, req, parent)
    prio = _priority_from_policy(data, prio)
    task_id = context.conn.execute(insert(s.task).values(
        state=state, create_ts=time.time(), channel_id=chan["id"], parent=parent, label=label,
        owner=owner_id, method=method, request=encode_request(method, args, kwargs),
        arch=arch, priority=prio, weight=weight).returning(s.task.c.id)).scalar_one()
    if state == STATES["FREE"]:
        from .work_bell import want_ring

        # builders waiting in host.waitWork look for it once this commits
        want_ring(new_task=task_id)
    return task_id


def _channel_from_policy(data, req, parent):
    from .policy import apply_policy

    result, rule = apply_policy("channel", data)
    if result is None:
        return lookup(s.channels, "default", "channel", strict=True)
    parts = result.split()
    if parts[0] == "use" and len(parts) > 1:
        chan = lookup(s.channels, parts[1], "channel")
        if chan is None:
            raise koji.GenericError("No such channel: %s (channel policy rule: %s)"
                                    % (parts[1], rule))
        if not chan["enabled"]:
            raise koji.GenericError("channel %s is disabled" % chan["name"])
        return chan
    if parts[0] == "parent" and parent is not None:
        # the parent's channel in one read (a subtask's usual rule: is_child_task :: parent)
        row = context.conn.execute(select(s.channels).join_from(
            s.channels, s.task, s.task.c.channel_id == s.channels.c.id).where(
            s.task.c.id == parent)).first()
        if row is not None:
            return dict(row._mapping)
        cid = context.conn.execute(select(s.task.c.channel_id).where(
            s.task.c.id == parent)).scalar_one()
        return lookup(s.channels, cid, "channel", strict=True)
    if parts[0] == "req" and req is not None:
        return req
    raise koji.GenericError("invalid channel policy (result %r of rule: %s)" % (result, rule))


def _priority_from_policy(data, prio):
    from .policy import apply_policy

    result, rule = apply_policy("priority", data)
    if result is None:
        return prio
    parts = result.split()
    try:
        if parts[0] == "stay":
            return prio
        if parts[0] == "set":
            return int(parts[1])
        if parts[0] == "adjust":
            return prio + int(parts[1])
    except (IndexError, ValueError):
        pass
    raise koji.GenericError("invalid priority policy (result %r of rule: %s)" % (result, rule))


def _finish(task_id, state, result_xml):
    now = time.time()
    context.conn.execute(update(s.task).where(s.task.c.id == task_id).values(
        state=state, result=result_xml, completion_ts=now))


def run_in_hub(task_id, func):
    """Open the task, run ``func()`` in a savepoint, and close or fail the task with its outcome.

    For tasks the hub does itself (tagBuild); a failure is stored as the task's
    Fault (what getTaskResult raises) and does not fail the API call that created the task.
    """
    context.conn.execute(update(s.task).where(s.task.c.id == task_id).values(
        state=STATES["OPEN"], start_ts=time.time()))
    try:
        with context.conn.begin_nested():
            result = func()
    except koji.GenericError as exc:
        fault = xmlrpc.client.Fault(exc.faultCode, str(exc))
        _finish(task_id, STATES["FAILED"],
                koji.xmlrpcplus.dumps(fault, methodresponse=1, allow_none=1))
        return
    _finish(task_id, STATES["CLOSED"],
            koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1))


#: made once, the id a bound parameter (common._by_key: building it and its cache key at each
#: call cost more than running it on SQLite; the path of a tag change reads a task 10 times)
_TASK_ROW = select(s.task).where(s.task.c.id == bindparam("v"))


def _task_row(task_id, strict=True):
    row = one(context.conn.execute(_TASK_ROW, {"v": as_int(task_id, "task_id")}).first())
    if row is None and strict:
        raise koji.GenericError("No such task: %s" % task_id)
    return row


_INFO_KEYS = ("id", "state", "channel_id", "host_id", "parent", "label", "waiting", "awaited",
              "owner", "method", "arch", "priority", "weight")


def task_info(row, request=False):
    info = {k: row[k] for k in _INFO_KEYS}
    for t in ("create", "start", "completion"):
        ts = row[t + "_ts"]
        info[t + "_ts"] = ts
        info[t + "_time"] = fmt_time(ts)
    if request:
        info["request"] = decode_request(row["request"])
    return info


@read_only
def getTaskInfo(task_id, request=False, strict=False):
    if isinstance(task_id, list):
        return [getTaskInfo(t, request, strict) for t in task_id]
    row = _task_row(task_id, strict)
    return task_info(row, request) if row else None


@read_only
def getTaskChildren(task_id, request=False, strict=False):
    if strict:
        _task_row(task_id)
    rows = context.conn.execute(select(s.task).where(s.task.c.parent == as_int(task_id, "task"))
                                .order_by(s.task.c.id))
    return [task_info(dict(r._mapping), request) for r in rows]


@read_only
def getTaskDescendents(task_id, request=False):
    out = {}

    def walk(tid):
        kids = getTaskChildren(tid, request)
        out[str(tid)] = kids
        for k in kids:
            walk(k["id"])

    walk(as_int(task_id, "task_id"))
    return out


@read_only
def getTaskRequest(taskId):
    return decode_request(_task_row(taskId)["request"])


def _decode_result(row, raise_fault=True):
    if row["state"] == STATES["CANCELED"]:
        raise koji.GenericError("Task %i is canceled" % row["id"])
    if row["state"] not in (STATES["CLOSED"], STATES["FAILED"]) or row["result"] is None:
        raise koji.GenericError("Task %i is not finished" % row["id"])
    try:
        params, _ = xmlrpc.client.loads(row["result"])
    except xmlrpc.client.Fault as fault:
        if raise_fault:
            err = koji.convertFault(fault)
            if not isinstance(err, koji.GenericError):
                err = koji.GenericError(fault.faultString)
            raise err
        return {"faultCode": fault.faultCode, "faultString": fault.faultString}
    return params[0]


@read_only
def getTaskResult(taskId, raise_fault=True):
    return _decode_result(_task_row(taskId), raise_fault)


@read_only
def taskFinished(taskId):
    return _task_row(taskId)["state"] in FINAL


@read_only
def listTasks(opts=None, queryOpts=None):
    """Tasks filtered by state, owner, method, arch, parent, host, channel and times."""
    opts = opts or {}
    t = s.task
    q = select(t).order_by(t.c.id)
    filters = {"state": t.c.state, "owner": t.c.owner, "method": t.c.method, "arch": t.c.arch,
               "host_id": t.c.host_id, "channel_id": t.c.channel_id}
    for key, col in filters.items():
        v = opts.get(key)
        if v is not None:
            q = q.where(col.in_(v) if isinstance(v, list) else col == v)
    if "parent" in opts:
        p = opts["parent"]
        q = q.where(t.c.parent.is_(None) if p is None else
                    (t.c.parent.in_(p) if isinstance(p, list) else t.c.parent == p))
    if opts.get("not_state") is not None:
        q = q.where(t.c.state.not_in(opts["not_state"]))
    for key, col, op in (("createdBefore", t.c.create_ts, "lt"),
                         ("createdAfter", t.c.create_ts, "gt"),
                         ("startedBefore", t.c.start_ts, "lt"),
                         ("startedAfter", t.c.start_ts, "gt"),
                         ("completeBefore", t.c.completion_ts, "lt"),
                         ("completeAfter", t.c.completion_ts, "gt")):
        if opts.get(key) is not None:
            q = q.where(col < float(opts[key]) if op == "lt" else col > float(opts[key]))
    if isinstance(queryOpts, dict) and queryOpts.get("countOnly"):
        # the count of the rows the same slice would return, counted by the database: the
        # rows are not read nor their requests and results decoded (a client polling for a
        # count paid that for every task on every poll)
        n = context.conn.execute(select(func.count()).select_from(q.order_by(None)
                                                                  .subquery())).scalar()
        offset = as_int(queryOpts.get("offset") or 0, "offset")
        limit = queryOpts.get("limit")
        limit = None if limit is None else as_int(limit, "limit")
        return len(range(n)[offset:offset + limit if limit is not None else None])
    rows = [dict(r._mapping) for r in context.conn.execute(q)]
    owners = name_map(s.users, [r["owner"] for r in rows])
    usertypes = {r.id: r.usertype for r in context.conn.execute(
        select(s.users.c.id, s.users.c.usertype).where(s.users.c.id.in_(set(owners))))}
    out = []
    for r in rows:
        info = task_info(r, request=bool(opts.get("decode", True)))
        info["owner_name"] = owners.get(r["owner"])
        info["owner_type"] = usertypes.get(r["owner"])
        if r["result"] is not None:
            try:
                info["result"] = [_decode_result(r)]
            except koji.GenericError as exc:
                info["result"] = {"faultCode": exc.faultCode, "faultString": str(exc)}
        else:
            info["result"] = None
        out.append(info)
    from .packages import apply_query_opts

    return apply_query_opts(out, queryOpts)


def cancel_task(task_id, recurse=True):
    """Cancel a task that is not finished (and, with ``recurse``, its descendants)."""
    row = _task_row(task_id)
    if row["state"] in FINAL:
        return False
    now = time.time()
    context.conn.execute(update(s.task).where(s.task.c.id == row["id"],
                                              s.task.c.state.not_in(FINAL)).values(
        state=STATES["CANCELED"], completion_ts=now))
    # as Koji's Task.cancel: the builds this task was making end CANCELED, not FAILED (the
    # builder's later host.failBuild finds them no longer BUILDING)
    building = koji.BUILD_STATES["BUILDING"]
    context.conn.execute(update(s.build).where(s.build.c.task_id == row["id"],
                                               s.build.c.state == building).values(
        state=koji.BUILD_STATES["CANCELED"], completion_ts=now))
    if recurse:
        for kid in context.conn.execute(select(s.task.c.id).where(
                s.task.c.parent == row["id"])).all():
            cancel_task(kid[0], recurse=True)
    return True


def _host_user_ids(*task_ids):
    """User ids of the hosts that have ``task_ids`` (those not None) open or assigned."""
    ids = [t for t in task_ids if t is not None]
    if not ids:
        return set()
    q = (select(s.host.c.user_id).select_from(s.task.join(s.host, s.host.c.id == s.task.c.host_id))
         .where(s.task.c.id.in_(ids)))
    return {r[0] for r in context.conn.execute(q)}


def _assert_can_cancel(row):
    """Owner, admin, or the host running the task (or its parent) may cancel it."""
    assert_login()
    if row["owner"] == context.user["id"] or "admin" in perms():
        return
    if context.user["id"] in _host_user_ids(row["id"], row["parent"]):
        return
    raise koji.ActionNotAllowed("Cannot cancel task, not owner")


@export
def cancelTask(task_id, recurse=True):
    row = _task_row(task_id)
    _assert_can_cancel(row)
    cancel_task(row["id"], recurse)


@export
def cancelTaskFull(task_id, strict=True):
    row = _task_row(task_id)
    _assert_can_cancel(row)
    while row["parent"] is not None:
        if strict:
            raise koji.GenericError("Task %d is not a top-level task" % row["id"])
        row = _task_row(row["parent"])
    cancel_task(row["id"], True)


@export
def cancelTaskChildren(task_id):
    row = _task_row(task_id)
    _assert_can_cancel(row)
    for kid in context.conn.execute(select(s.task.c.id).where(
            s.task.c.parent == row["id"], or_(s.task.c.state.not_in(FINAL)))).all():
        cancel_task(kid[0], True)


@read_only
def listTaskOutput(taskID, stat=False, all_volumes=False, strict=False):
    """Files in the task's output directory (``work/tasks/<id%10000>/<id>/``)."""
    import os

    d = context.hub.pathinfo.task(as_int(taskID, "taskID"))
    files = []
    if os.path.isdir(d):
        for root, _dirs, names in os.walk(d):
            for n in names:
                if not n.startswith("."):
                    files.append(os.path.relpath(os.path.join(root, n), d))
    files.sort()
    if stat:
        out = {}
        for f in files:
            st = os.stat(os.path.join(d, f))
            out[f] = {"st_size": str(st.st_size), "st_atime": st.st_atime,
                      "st_mtime": st.st_mtime, "st_ctime": st.st_ctime}
            if all_volumes:
                out[f] = {"DEFAULT": out[f]}
        return out
    if all_volumes:
        return {f: ["DEFAULT"] for f in files}
    return files


# ---------------------------------------------------------------------------------------------
# queue administration: free, assign, resubmit, makeTask


def free_task(task_id, host_id=None):
    """ASSIGNED/OPEN -> FREE (only if held by ``host_id`` when given); True if it was freed."""
    from .work_bell import want_ring

    want_ring()
    t = s.task
    q = update(t).where(t.c.id == task_id,
                        t.c.state.in_([STATES["OPEN"], STATES["ASSIGNED"]]))
    if host_id is not None:
        q = q.where(t.c.host_id == host_id)
    return context.conn.execute(q.values(state=STATES["FREE"], host_id=None,
                                         start_ts=None)).rowcount == 1


@export
def freeTask(task_id):
    """Put an ASSIGNED or OPEN task back in the queue (admin); freeing a final task raises."""
    from .common import assert_admin

    assert_admin()
    row = _task_row(task_id)
    if row["state"] in FINAL:
        raise koji.GenericError("Cannot free task %i, state is %s"
                                % (row["id"], koji.TASK_STATES[row["state"]]))
    free_task(row["id"])


@export
def assignTask(task_id, host, force=False, override=False):
    """Assign a FREE task to a host (admin). ``force`` also takes it from another host."""
    from .common import assert_admin
    from .hosts import get_host

    assert_admin()
    row = _task_row(task_id)
    hinfo = get_host(host, strict=True)
    if row["state"] in FINAL or row["state"] == STATES["OPEN"] and not force:
        return False
    if row["state"] == STATES["ASSIGNED"] and not (force or override):
        return False
    q = update(s.task).where(s.task.c.id == row["id"], s.task.c.state.not_in(FINAL))
    if not force:
        q = q.where(s.task.c.state.in_([STATES["FREE"], STATES["ASSIGNED"]]))
    done = context.conn.execute(q.values(state=STATES["ASSIGNED"], host_id=hinfo["id"],
                                         start_ts=None)).rowcount == 1
    if done:
        # an admin's assignment is a scheduler run too (pinned: it never times out)
        from .sched_log import start_run

        start_run(row["id"], hinfo["id"], pinned=True)
    return done


@export
def resubmitTask(taskID):
    """Run a FAILED or CANCELED top-level task again as a new task (owner or admin)."""
    row = _task_row(taskID)
    assert_login()
    if row["owner"] != context.user["id"] and "admin" not in perms():
        raise koji.ActionNotAllowed("Cannot resubmit task, not owner")
    if row["parent"] is not None:
        raise koji.GenericError("Task %i is not a top-level task" % row["id"])
    if row["state"] not in (STATES["FAILED"], STATES["CANCELED"]):
        raise koji.GenericError("Task %i is not failed or canceled" % row["id"])
    chan = one(context.conn.execute(select(s.channels).where(
        s.channels.c.id == row["channel_id"])).first())
    args, kwargs = _split_kwargs(decode_request(row["request"]))
    return make_task(row["method"], args, kwargs, channel=chan["name"], arch=row["arch"],
                     priority=row["priority"], owner=row["owner"])


def _split_kwargs(params):
    if params and isinstance(params[-1], dict) and params[-1].get("__starstar"):
        kw = dict(params[-1])
        del kw["__starstar"]
        return params[:-1], kw
    return params, {}


@export
def makeTask(method, arglist, **opts):
    """Queue any task method with ``arglist`` (admin; what ``koji make-task`` calls)."""
    from .common import assert_admin

    assert_admin()
    if not isinstance(arglist, list):
        raise koji.ParameterError("Invalid type for arglist: %s" % type(arglist))
    kw = {k: opts[k] for k in ("channel", "arch", "priority", "label") if opts.get(k)}
    if "priority" in kw:
        kw["priority"] = as_int(kw["priority"], "priority")
    return make_task(method, arglist, **kw)


@read_only
def downloadTaskOutput(taskID, fileName, offset=0, size=-1, volume=None):
    """A chunk of a task output file, base64-encoded (as Koji returns it).

    The task must exist. ``offset`` < 0 counts from the end (as Koji); ``size`` -1 reads to the
    end. One call returns at most ``max_download_chunk`` bytes (limits.py): a request that would
    return more is refused (read big files in chunks), and only the bytes returned are read."""
    import base64
    import errno
    import os

    from .limits import limits

    row = _task_row(taskID)
    if not isinstance(fileName, str) or not fileName or "\0" in fileName:
        raise koji.ParameterError("Invalid file name: %r" % (fileName,))
    offset = as_int(offset, "offset")
    size = as_int(size, "size")
    d = context.hub.pathinfo.task(row["id"])
    path = os.path.normpath(os.path.join(d, fileName))
    if not path.startswith(d + os.sep) or "/." in path[len(d):]:
        raise koji.GenericError("Invalid file name: %s" % fileName)
    # imports leave symlinks to the imported files behind (as Koji); follow them, but only to
    # files under the top directory
    real = os.path.realpath(path)
    top = os.path.realpath(context.hub.pathinfo.topdir)
    try:
        if not real.startswith(top + os.sep):
            raise FileNotFoundError(errno.ENOENT, "outside the top directory")
        fd = os.open(real, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR):
            raise koji.GenericError("no file %s output by task %s" % (fileName, row["id"])) \
                from None
        raise koji.GenericError("cannot read %s of task %s: %s"
                                % (fileName, row["id"], exc.strerror)) from None
    try:
        import stat

        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise koji.GenericError("no file %s output by task %s" % (fileName, row["id"]))
        start = max(0, st.st_size + offset) if offset < 0 else min(offset, st.st_size)
        want = st.st_size - start if size < 0 else min(size, st.st_size - start)
        chunk = limits()["max_download_chunk"]
        if want > chunk:
            raise koji.GenericError(
                "%s of task %s: %d bytes asked for, over the hub's limit of %d bytes per call "
                "(max_download_chunk); read it in chunks with offset and size"
                % (fileName, row["id"], want, chunk))
        data = os.pread(fd, want, start) if want > 0 else b""
    finally:
        os.close(fd)
    return base64.b64encode(data).decode("ascii")
