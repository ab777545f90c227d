"""Task administration beyond creation and cancelling: setTaskPriority, restartHosts."""

from __future__ import annotations

import koji
from sqlalchemy import select, update

from ..db import schema as s
from .common import as_int, assert_admin, assert_perm
from .context import context
from .registry import export
from .tasks import FINAL, make_task


@export
def setTaskPriority(task_id, priority, recurse=True):
    """Change the priority of an unfinished task (and, with ``recurse``, its descendants);
    admin only, as in Koji."""
    assert_admin()
    task_id = as_int(task_id, "task_id")
    priority = as_int(priority, "priority")
    row = context.conn.execute(select(s.task.c.state).where(s.task.c.id == task_id)).first()
    if row is None:
        raise koji.GenericError("No such task id: %i" % task_id)
    if row[0] in FINAL:
        raise koji.GenericError("Finished task's priority can't be updated")
    ids, todo = [task_id], [task_id]
    while recurse and todo:
        children = [r[0] for r in context.conn.execute(
            select(s.task.c.id).where(s.task.c.parent.in_(todo)))]
        ids += children
        todo = children
    context.conn.execute(update(s.task).where(s.task.c.id.in_(ids)).values(priority=priority))


@export
def restartHosts(priority=5, options=None):
    """Queue a ``restartHosts`` task (``koji restart-hosts``; needs the host permission, as in
    Koji). A builder runs it with koji.tasks' RestartHostsTask: one ``restart`` and one
    ``restartVerify`` child pinned to each enabled host (``options``: ``channel``, ``arches``,
    ``timeout``), each daemon restarting once it runs no task."""
    assert_perm("host")
    if options is not None and not isinstance(options, dict):
        raise koji.ParameterError("Invalid type for options: %s" % type(options).__name__)
    args = [] if options is None else [options]
    return make_task("restartHosts", args, priority=as_int(priority, "priority"))
