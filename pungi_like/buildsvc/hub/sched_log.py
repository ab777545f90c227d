"""What the task scheduler records (Koji 1.34's ``scheduler_task_runs`` and
``scheduler_log_messages`` tables), read by ``scheduler.getTaskRuns`` and
``scheduler.getLogMessages`` (scheduler_info.py).

A run is one assignment of a task to a host. It is stored ``active`` when made; it is marked
inactive when the scheduler ends it (refusal, assignment timeout). A run is reported active
only while it is stored active *and* its task is still ASSIGNED or OPEN on that host, so a task
that ends, is freed or canceled needs no extra write here.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .context import context

log = logging.getLogger("pungi_like.buildsvc.hub.scheduler")


PINNED = "assigned (pinned)"


def start_run(task_id, host_id, now=None, pinned=False):
    """Task ``task_id`` was assigned to ``host_id``: a new active run (and a log message).
    ``pinned``: an admin's ``assignTask`` or ``subtask(assign=...)``, which never times out."""
    now = time.time() if now is None else now
    runs = s.scheduler_task_runs
    context.conn.execute(update(runs).where(runs.c.task_id == task_id, runs.c.active.is_(True))
                         .values(active=False))
    context.conn.execute(insert(runs).values(task_id=task_id, host_id=host_id, active=True,
                                             create_ts=now))
    log_message(PINNED if pinned else "assigned", task_id=task_id, host_id=host_id, now=now)


def is_pinned(task_id, host_id, run_ts):
    """True when the run of ``task_id`` on ``host_id`` made at ``run_ts`` is a pinned one."""
    m = s.scheduler_log_messages
    return context.conn.execute(select(m.c.id).where(
        m.c.task_id == task_id, m.c.host_id == host_id, m.c.msg_ts == run_ts,
        m.c.msg == PINNED).limit(1)).first() is not None


def end_run(task_id, host_id, now=None):
    """The run of ``task_id`` on ``host_id`` ended (refused or timed out)."""
    runs = s.scheduler_task_runs
    context.conn.execute(update(runs).where(runs.c.task_id == task_id, runs.c.host_id == host_id,
                                            runs.c.active.is_(True)).values(active=False))


def log_message(msg, task_id=None, host_id=None, now=None):
    """Store one scheduler log message (also sent to the hub's log)."""
    now = time.time() if now is None else now
    log.info("%s (task %s, host %s)", msg, task_id, host_id)
    context.conn.execute(insert(s.scheduler_log_messages).values(
        task_id=task_id, host_id=host_id, msg_ts=now, msg=str(msg)))


def prune(retention):
    """Delete log messages and inactive runs older than ``retention`` seconds."""
    cutoff = time.time() - retention
    m, r = s.scheduler_log_messages, s.scheduler_task_runs
    context.conn.execute(delete(m).where(m.c.msg_ts < cutoff))
    context.conn.execute(delete(r).where(r.c.create_ts < cutoff, r.c.active.is_(False)))
