"""Who may make ``host.*`` calls, and on what: the confinement of builder hosts.

The model (Koji's ``Host.verify`` and ``Task.assertHost``, plus a little more):

* every ``host.*`` method needs a logged-in user of type HOST with a host row; anonymous callers
  and plain users get ``AuthError`` before the method runs (:func:`guard_host_methods` wraps each
  registered ``host.*`` function, so a method added later is confined without remembering to);
* a host session is refused (``AuthLockError``) when another session of the same host holds the
  host's exclusive lock and the caller is neither that session nor one of its subsessions. Builder
  daemons take the lock with ``exclusiveSession(force=True)`` at login, so when a daemon restarts,
  whatever the previous daemon (or an orphaned task process of it) still sends is refused;
* a host acts on a task only while it holds it: the task is OPEN with ``host_id`` = the caller
  (:func:`assert_task_held`), read under a row lock on PostgreSQL so a concurrent free/re-take
  cannot slip between the check and the change;
* a host acts on a buildroot only if it made it (and, given a task, only for that task's
  buildroot), and on a repo only through the task that is creating it.
"""

from __future__ import annotations

import functools
import os
import sys

import koji
from sqlalchemy import bindparam, select

from ..db import schema as s
from .common import as_int, one
from .context import context

STATES = koji.TASK_STATES


def _assert_not_locked_out():
    """AuthLockError when another session of this user holds the exclusive lock."""
    ses = context.session
    q = select(s.sessions.c.id).where(s.sessions.c.user_id == ses["user_id"],
                                      s.sessions.c.exclusive.is_(True),
                                      s.sessions.c.closed.is_(False))
    holders = {r[0] for r in context.conn.execute(q)}
    if holders and ses["id"] not in holders and ses["master"] not in holders:
        raise koji.AuthLockError(_LOCKED_OUT % context.user["name"])


_LOCKED_OUT = ("host %s is locked by another session (a newer builder daemon logged in); this "
               "session may no longer act as the host")


def verify_host():
    """The calling host's row (+ config); AuthError unless the session user is a host.

    Within one ``host.*`` call it is checked once (by :func:`_guarded`, before the method
    runs) and later calls of the same method get a copy of that row: the method's own checks
    asked the database the same two questions again, two or three times per call."""
    checked = getattr(context, "verified_host", None)
    if checked is not None:
        return dict(checked)
    return _verify_host()


def _verify_host():
    memo = context.request_memo
    if memo is not None and memo.get("host") is not None:
        # checked by an earlier entry of this multicall (see entry_done)
        return dict(memo["host"])
    if not context.user or not context.session:
        raise koji.AuthError("Not logged-in: host calls need a host session")
    if context.user.get("usertype") != koji.USERTYPES["HOST"]:
        raise koji.AuthError("User %s is not a host" % context.user["name"])
    loaded, context.session_host = context.session_host, None
    if loaded is not None:
        # read with the session (auth.load_session), for the request's first check: no
        # entry has run that could have changed them (entry_done drops it as the memo)
        host, locked_out = loaded
        found = [host] if host is not None else []
    else:
        from .hosts import _hosts

        found = _hosts(user_id=context.user["id"])
        locked_out = None
    if not found:
        raise koji.AuthError("%s is not a host" % context.user["name"])
    if locked_out is None:
        _assert_not_locked_out()
    elif locked_out:
        raise koji.AuthLockError(_LOCKED_OUT % context.user["name"])
    if memo is not None:
        memo["host"] = found[0]
        return dict(found[0])
    return found[0]


def host_row_changed(**values):
    """The calling host's own row was just written with ``values`` (its check-in): the copy a
    multicall's later entries take (:func:`_verify_host`) is brought up to date."""
    memo = context.request_memo
    if memo is not None and memo.get("host") is not None:
        memo["host"].update(values)


#: writing methods after which a multicall's later entries may keep its host check (the caller
#: is a host, no other session holds its lock): they change neither users nor the sessions
#: the check reads (``logoutChild`` closes subsessions of the caller's, which never hold the
#: lock: exclusiveSession refuses them). Every ``host.*`` method is one too (those that write
#: the host's own row say what they wrote: host_row_changed), and every read-only method.
_KEEP_HOST_CHECK = frozenset({"uploadFile", "subsession", "logoutChild"})
#: writing methods that change no task row: the tasks found held (locked) stay held for the
#: next entries (a multicall of kojid's uploads checks its task once)
_KEEP_HELD = frozenset({"uploadFile"})


def entry_starts(name, write):
    """A multicall entry of method ``name`` starts: it may take the tasks earlier entries found
    held when it writes no task row itself (read-only, or an upload)."""
    context.memo_held_ok = not write or (isinstance(name, str) and name in _KEEP_HELD)


def entry_done(name, write, ok):
    """A multicall entry of method ``name`` ended (``ok``: without a fault). What it may have
    changed is forgotten: after a fault everything (its savepoint was rolled back, with the
    row locks taken in it), after a write the held tasks (unless it is an upload) and, unless
    it keeps the host check, that too."""
    memo = context.request_memo
    context.memo_held_ok = False
    if memo is None:
        return
    if not ok:
        memo.clear()
        context.session_host = None
        return
    if not write:
        return
    if not isinstance(name, str):
        memo.clear()
        context.session_host = None
        return
    if name not in _KEEP_HELD:
        memo.pop("held", None)
    if not name.startswith("host.") and name not in _KEEP_HOST_CHECK:
        memo.pop("host", None)
        context.session_host = None


#: made once, the id a bound parameter (as tasks._TASK_ROW)
_TASK_ROW_LOCKED = select(s.task).where(s.task.c.id == bindparam("v")).with_for_update()


def task_row_locked(task_id):
    """The task row, locked for the rest of the transaction (PostgreSQL); GenericError if none."""
    tid = as_int(task_id, "task_id")
    row = one(context.conn.execute(_TASK_ROW_LOCKED, {"v": tid}).first())
    if row is None:
        raise koji.GenericError("No such task: %s" % tid)
    return row


def assert_task_held(task_id, host=None):
    """The task row if it is OPEN on the calling host; ActionNotAllowed otherwise.

    In a multicall the row found held (and locked until the commit) serves the later entries
    that change no task row (entry_starts): kojid's upload multicalls check one task a file."""
    host = host or verify_host()
    memo = context.request_memo
    key = (as_int(task_id, "task_id"), host["id"])
    if memo is not None and context.memo_held_ok:
        row = memo.get("held", {}).get(key)
        if row is not None:
            return dict(row)
    row = task_row_locked(task_id)
    if row["state"] != STATES["OPEN"] or row["host_id"] != host["id"]:
        raise koji.ActionNotAllowed("host %s does not hold task %d (it is %s%s)" % (
            host["name"], row["id"], koji.TASK_STATES[row["state"]],
            "" if row["host_id"] is None else " on host id %d" % row["host_id"]))
    if memo is not None:
        memo.setdefault("held", {})[key] = dict(row)
    return row


def assert_task_or_subtask(task, task_id):
    """``task_id`` as an int if it is ``task`` (a row the host holds) or a subtask of it; a host
    takes files only from the output of its own task tree, never from another task's."""
    tid = as_int(task_id, "task_id")
    if tid == task["id"]:
        return tid
    parent = context.conn.execute(select(s.task.c.parent).where(s.task.c.id == tid)).first()
    if parent is None or parent[0] != task["id"]:
        raise koji.ActionNotAllowed("task %d is not task %d or one of its subtasks"
                                    % (tid, task["id"]))
    return tid


def assert_build_of_task(build, task):
    """Fault unless ``build`` (a build dict) was reserved for ``task`` (a row the host holds): a
    host completes, fails or imports into only the builds of the task it runs."""
    if build.get("task_id") != task["id"]:
        raise koji.ActionNotAllowed("build %s does not belong to task %d"
                                    % (build["nvr"], task["id"]))
    return build


def task_tree_path(task, relpath):
    """``relpath`` (below ``work/``) if it lies in the output of ``task`` or one of its
    subtasks (``tasks/<id % 10000>/<id>/...``); a host imports only its own task tree's files,
    never another task's output or a user's upload."""
    norm = os.path.normpath(relpath) if isinstance(relpath, str) else None
    parts = norm.split("/") if norm else []
    if len(parts) < 4 or parts[0] != "tasks" or not parts[2].isdigit() or \
            parts[1] != str(int(parts[2]) % 10000):
        raise koji.ActionNotAllowed("%r is not in the output of task %d or its subtasks"
                                    % (relpath, task["id"]))
    assert_task_or_subtask(task, int(parts[2]))
    return norm


def assert_buildroot_held(brootid, task_id=None, host=None):
    """The buildroot row if the calling host made it (and, given ``task_id``, for that task,
    which the host must hold)."""
    host = host or verify_host()
    if task_id is not None:
        assert_task_held(task_id, host)
    row = one(context.conn.execute(select(s.buildroot).where(
        s.buildroot.c.id == as_int(brootid, "brootid")).with_for_update()).first())
    if row is None:
        raise koji.GenericError("No such buildroot: %s" % brootid)
    if row["host_id"] != host["id"]:
        raise koji.ActionNotAllowed("host %s is not the owner of buildroot %d"
                                    % (host["name"], row["id"]))
    if task_id is not None and row["task_id"] != as_int(task_id, "task_id"):
        raise koji.ActionNotAllowed("task %s does not have the lock on buildroot %d"
                                    % (task_id, row["id"]))
    return row


def guard_host_methods(methods):
    """Wrap every ``host.*`` entry of ``methods`` so it first runs :func:`verify_host`."""
    for name, method in methods.items():
        if name.startswith("host.") and not getattr(method.func, "_host_guarded", False):
            method.func = _guarded(method.func)
    return methods


def _guarded(func):
    @functools.wraps(func)
    def guarded(*args, **kwargs):
        outer = getattr(context, "verified_host", None)
        context.verified_host = _verify_host() if outer is None else outer
        try:
            return func(*args, **kwargs)
        except TypeError as exc:
            # raised by the call itself (wrong arguments), as the dispatcher reports it
            if sys.exc_info()[2].tb_next is None:
                raise koji.ParameterError(str(exc)) from None
            raise
        finally:
            context.verified_host = outer

    guarded._host_guarded = True
    return guarded
