"""Builders told at once that there may be work: ``host.waitWork`` (a long poll; not in Koji).

Koji's builders find work by polling (``host.getTasks`` every ``sleeptime`` seconds, 15 s in
kojid's default config), so a new task, or a tag change whose repo must be regenerated, waits
up to one poll interval before any builder looks. Here a builder may also hold one
``host.waitWork(seen, timeout)`` call open: it returns as soon as the hub's *work bell* has rung
since the bell count ``seen`` the builder last got (or after ``timeout`` seconds, at most
:data:`MAX_WAIT`), and the builder then runs its cycle at once (``pungi-like-builder``'s waiter
process, see builder/daemon.py). Polling stays as it is, so kojid (which never calls this)
works unchanged, and our builder falls back to polling on a hub without the call.

The bell rings after a call commits that

* wrote history (an event: a tag change may need a new repo; the scheduler's automatic repo
  check runs at the next ``host.getTasks``, see :func:`.scheduler.note_change`), except an
  event that gives no builder work (``context.quiet_event``: the repo that ``host.repoInit``
  creates; waking every builder for it cost each a full cycle of five calls),
* created a task, put one back in the queue (freed, refused), or ended a subtask (its parent's
  host learns from ``host.getHostTasks`` that an awaited child finished).

A host's own bell rings after a ``host.getTasks`` of another host commits whose scheduler run
assigned it tasks (:func:`want_ring_hosts`): every poll of any builder assigns FREE tasks to
all hosts with room, and a host learns of its assignments only from its own ``getTasks``, so
without it those tasks waited for that host's next poll; only that host's wait ends, not every
builder's. A host's count is the bell's count plus its own rings, so a wait for ``seen`` ends
on either.

The wait holds no database connection or transaction: the call is authorised and the bell
count read inside the usual transaction, and the dispatcher waits after it closed
(:class:`Waiting`). At most :data:`MAX_WAITERS` calls wait at once (each holds one of the
server's worker threads); beyond that the answer comes at once with ``waited`` False, and the
builder just polls. The bell is per hub process: with several hub processes a builder is woken
only by changes made through its own, and polls for the rest.
"""

from __future__ import annotations

import threading

from .context import context

#: longest wait of one call (seconds); a builder asks again after it
MAX_WAIT = 10.0
#: most calls waiting at once per hub; the rest are answered at once
MAX_WAITERS = 8

_cond = threading.Condition()
_bells = {}   # id(hub) -> {"seq": int, "waiters": int, "closed": bool, "hosts": {id: int}}


def _bell(hub):
    return _bells.setdefault(id(hub), {"seq": 0, "waiters": 0, "closed": False, "hosts": {}})


def _count(bell, host_id):
    """The count a wait of host ``host_id`` (None: of no host) compares with its ``seen``."""
    return bell["seq"] + (bell["hosts"].get(host_id, 0) if host_id is not None else 0)


def want_ring(new_task=None):
    """The current call will ring the bell when it commits; ``new_task``: for that FREE task,
    which the call made (``host.getTasks`` in the same request may then assign it, and the
    ring is not needed for it: host_api._getTasks)."""
    context.ring_builders = True
    if new_task is None:
        context.ring_other = True
    else:
        context.rang_for_new = tuple(context.rang_for_new) + (new_task,)


def want_ring_hosts(host_ids):
    """The current call will ring the bell of the hosts ``host_ids`` when it commits (and
    not the bell of every builder; :func:`ring` covers them)."""
    context.ring_hosts = tuple(sorted(set(context.ring_hosts) | set(host_ids)))


def ring(hub):
    """Wake every builder waiting in ``host.waitWork`` on this hub."""
    with _cond:
        _bell(hub)["seq"] += 1
        _cond.notify_all()


def ring_hosts(hub, host_ids):
    """Wake the builders of the hosts ``host_ids`` waiting in ``host.waitWork`` on this hub."""
    with _cond:
        hosts = _bell(hub)["hosts"]
        for host_id in host_ids:
            hosts[host_id] = hosts.get(host_id, 0) + 1
        _cond.notify_all()


def release(hub):
    """The hub is stopping: waiting calls return now, later ones at once."""
    with _cond:
        bell = _bell(hub)
        bell["closed"] = True
        bell["seq"] += 1
        _cond.notify_all()


def reopen(hub):
    with _cond:
        _bell(hub)["closed"] = False


class Waiting(dict):
    """The answer of ``host.waitWork`` before the wait (``{"seq": n, "waited": False}``; what
    a multicall entry returns as it is). The dispatcher calls :meth:`wait` once the call's
    transaction has closed and sends what it returns instead."""

    def __init__(self, hub, seen, timeout, host_id=None):
        super().__init__(seq=_count(_bell(hub), host_id), waited=False)
        self.hub, self.seen, self.timeout, self.host_id = hub, seen, timeout, host_id

    def wait(self):
        host_id = self.host_id
        with _cond:
            bell = _bell(self.hub)
            if bell["closed"] or _count(bell, host_id) != self.seen or \
                    bell["waiters"] >= MAX_WAITERS:
                return {"seq": _count(bell, host_id), "waited": False}
            bell["waiters"] += 1
            try:
                _cond.wait_for(lambda: _count(bell, host_id) != self.seen or bell["closed"],
                               self.timeout)
            finally:
                bell["waiters"] -= 1
            return {"seq": _count(bell, host_id), "waited": True}


def _host_waitWork(seen=None, timeout=None):
    """Wait until the work bell rang since count ``seen`` (at most ``timeout`` seconds, capped
    at MAX_WAIT); returns ``{"seq": current count, "waited": bool}``. ``seen`` None: the count
    at once (what a builder asks first). The count is the calling host's (the bell's and its
    own rings: :func:`ring_hosts`)."""
    from .common import as_int
    from .hostcheck import verify_host

    import koji

    host_id = verify_host()["id"]
    if seen is not None:
        seen = as_int(seen, "seen")
    if timeout is None:
        timeout = MAX_WAIT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise koji.ParameterError("Invalid timeout: %r" % (timeout,))
    answer = Waiting(context.hub, seen, min(float(timeout), MAX_WAIT), host_id)
    if seen is None or timeout == 0:
        return dict(answer)
    return answer


def _register():
    from .registry import METHODS, Method

    METHODS["host.waitWork"] = Method("host.waitWork", _host_waitWork, False)


_register()
