"""What the task scheduler records: runs (a task's assignment to a host) and log messages.

Today the records go to the hub's log (logger ``pungi_like.buildsvc.hub.scheduler``); they are
the hooks that ``scheduler.getTaskRuns``/``scheduler.getLogMessages`` would read once the runs are
stored in the database.
"""

from __future__ import annotations

import logging

log = logging.getLogger("pungi_like.buildsvc.hub.scheduler")


def start_run(task_id, host_id, now):
    """Task ``task_id`` was assigned to ``host_id`` at ``now``."""
    log.info("task %s assigned to host %s", task_id, host_id)


def end_run(task_id, host_id, now):
    """The assignment of ``task_id`` to ``host_id`` ended (opened, refused or timed out)."""
    log.debug("run of task %s on host %s ended", task_id, host_id)


def log_message(msg, task_id=None, host_id=None):
    log.info("%s (task %s, host %s)", msg, task_id, host_id)
