"""Per-call state of the hub: the connection, the transaction's event, the logged-in session.

The API functions keep Koji's signatures (``getTag(tagInfo, strict=False, event=None, ...)``), so
what a call needs beyond its arguments lives in a thread-local :data:`context`, set up by the
dispatcher for the duration of one XML-RPC request (or one multicall entry).
"""

from __future__ import annotations

import datetime
import threading
import time

from sqlalchemy import bindparam, insert, select, union_all

from ..db import schema as s


class _Context(threading.local):
    """Thread-local call context; attributes are set by :func:`hub.dispatch.call_context`."""

    hub = None          # the HubApp (config, db, pathinfo)
    conn = None         # SQLAlchemy connection with an open transaction
    session = None      # dict: id, user_id, authtype, ... or None (anonymous)
    user = None         # users row dict of the session user, or None
    environ = None      # WSGI environ of the request
    method = None
    _event_id = None
    _event_ts = None    # the time stamp event_id() gave its event
    _perms = None
    made_event = False  # the call created an event (wrote history): set by event_id()
    ring_builders = False  # wake builders in host.waitWork after commit (work_bell.want_ring)
    ring_hosts = ()     # ids of the hosts whose builders to wake after commit (want_ring_hosts)
    # of ring_builders: the FREE tasks the call made (work_bell.want_ring(new_task=)), and
    # whether anything else wants the ring
    rang_for_new = ()
    ring_other = False
    made_events = ()    # ids of the events the call created (event_id())
    quiet_events = ()   # of those, the ones that give builders no work (quiet_event())
    # a multicall's checks kept for its later entries (hostcheck.py: the host check, the tasks
    # found held); None outside a multicall
    request_memo = None
    memo_held_ok = False  # the current entry may take held tasks from request_memo
    # (the session user's host row or None, whether another session locks it out), read
    # with the session (auth.load_session) for the request's first host check (hostcheck.py)
    session_host = None
    # the request runs again after a failure without a savepoint: every block that may fail
    # alone takes one (db.RerunWithSavepoints, scheduler._guarded)
    every_savepoint = False
    # this request took the hub's pending automatic repo check (scheduler.maybe_maintain):
    # given back if its transaction is rolled back (scheduler.rolled_back)
    repo_check_taken = False
    # FREE tasks left after this request's assignment run, when it read all of them
    # (assignment.schedule), else None
    free_left = None

    def reset(self):
        self.conn = self.session = self.user = self.environ = self.method = None
        self._event_id = None
        self._event_ts = None
        self._perms = None
        self.made_event = False
        self.ring_builders = False
        self.ring_hosts = ()
        self.rang_for_new = ()
        self.ring_other = False
        self.made_events = ()
        self.quiet_events = ()
        self.request_memo = None
        self.memo_held_ok = False
        self.session_host = None
        self.every_savepoint = False
        self.repo_check_taken = False
        self.free_left = None

    def event_may_give_work(self):
        """True when the call created an event that may give a builder work: one not marked
        with :func:`quiet_event` (a tag change may need a new repo)."""
        return any(e not in self.quiet_events for e in self.made_events)


context = _Context()


def event_id() -> int:
    """The event of the current call, created on first use (one event per call)."""
    if context._event_id is None:
        now = time.time()
        res = context.conn.execute(insert(s.events).values(ts=now).returning(s.events.c.id))
        context._event_id = res.scalar_one()
        context._event_ts = now
        context.made_event = True
        context.made_events = tuple(context.made_events) + (context._event_id,)
    return context._event_id


def event_ts() -> float:
    """The time stamp of :func:`event_id`'s event (as written: no read back)."""
    event_id()
    return context._event_ts


def quiet_event(ev):
    """The event ``ev`` the current call created changes nothing a builder could act on (a
    repo's creation in repoInit): the builders waiting in ``host.waitWork`` are not woken for
    it and no automatic repo check follows it (scheduler.note_change). A later event of the
    same request (another multicall entry) still wakes them."""
    if ev in context.made_events:
        context.quiet_events = tuple(context.quiet_events) + (ev,)


def new_event():
    """Forget the current event so the next write gets a new one (between multicall entries)."""
    context._event_id = None


def user_id():
    """Id of the logged-in user, or None."""
    return context.user["id"] if context.user else None


def group_perm_sources(uid):
    """``[(permission name, group name)]`` the user ``uid`` holds through its groups."""
    ug, up, p, g = s.user_groups, s.user_perms, s.permissions, s.users.alias("g")
    q = (select(p.c.name, g.c.name)
         .select_from(ug.join(up, up.c.user_id == ug.c.group_id)
                      .join(p, up.c.perm_id == p.c.id).join(g, g.c.id == ug.c.group_id))
         .where(ug.c.user_id == uid, ug.c.active.is_(True), up.c.active.is_(True))
         .order_by(p.c.name, g.c.name))
    return [(r[0], r[1]) for r in context.conn.execute(q)]


def _direct_perms(uid):
    return (select(s.permissions.c.name)
            .select_from(s.user_perms.join(s.permissions,
                                           s.user_perms.c.perm_id == s.permissions.c.id))
            .where(s.user_perms.c.user_id == uid)
            .where(s.user_perms.c.active.is_(True)))


def _all_perms():
    """The permissions of user ``:uid`` held directly and through its groups (the rows of
    group_perm_sources), in one statement: made once, the user a bound parameter."""
    uid = bindparam("uid")
    ug, up, p, g = s.user_groups, s.user_perms, s.permissions, s.users.alias("g")
    return union_all(_direct_perms(uid), select(p.c.name).select_from(
        ug.join(up, up.c.user_id == ug.c.group_id)
        .join(p, up.c.perm_id == p.c.id).join(g, g.c.id == ug.c.group_id))
        .where(ug.c.user_id == uid, ug.c.active.is_(True), up.c.active.is_(True)))


_ALL_PERMS = []


def user_perm_names(uid, with_groups=True) -> set:
    """Names of the permissions user ``uid`` holds, directly and (by default) through the
    groups it is a member of, as Koji's ``get_user_perms``. With the groups: one statement
    (it was two; every call that checks a permission reads them)."""
    if not with_groups:
        return {r[0] for r in context.conn.execute(_direct_perms(uid))}
    if not _ALL_PERMS:
        _ALL_PERMS.append(_all_perms())
    return {r[0] for r in context.conn.execute(_ALL_PERMS[0], {"uid": uid})}


def perms() -> set:
    """Names of the permissions the session user currently holds (its groups' included)."""
    if context._perms is None:
        if not context.user:
            context._perms = set()
        else:
            context._perms = user_perm_names(context.user["id"])
    return context._perms


def fmt_time(ts):
    """Koji's text form of a timestamp (``isoformat(' ')`` in UTC), or None."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(" ")
