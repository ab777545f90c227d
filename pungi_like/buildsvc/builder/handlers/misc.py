"""Test and housekeeping tasks (Koji's ``sleep`` and ``waittest``, plus ``crashtest``).

``koji make-task sleep 2`` (admin) queues one; they are cheap tasks for exercising the queue.
"""

from __future__ import annotations

import os
import time

from . import handler


@handler("sleep", weight=0.25)
def sleep(ctx, n):
    """Sleep ``n`` seconds (Koji's SleepTask); the result is None."""
    ctx.log.info("sleeping %s s", n)
    time.sleep(float(n))
    return None


@handler("waittest", weight=0.1)
def waittest(ctx, count, seconds=1):
    """Start ``count`` sleep subtasks and wait for them all (Koji's WaitTestTask)."""
    ids = [ctx.subtask("sleep", [seconds], label="sleep%d" % i) for i in range(int(count))]
    results = ctx.wait(ids, all=True)
    return sorted(results)


@handler("crashtest", weight=0.25)
def crashtest(ctx, seconds=0, code=3):
    """Kill the task's own process after ``seconds``: what a crashing handler looks like."""
    time.sleep(float(seconds))
    os._exit(int(code))
