"""Our task handlers as kojid task handlers: ``koji.tasks.BaseTaskHandler`` subclasses.

Every function registered with :func:`handlers.handler` gets a class here, ``<Method>Task`` (for
example ``CreateLiveCDTask`` for ``createLiveCD``), whose ``Methods`` is that one method and whose
``handler(*params, **opts)`` runs the function with a :class:`~.taskctx.TaskContext` built from
what kojid's engine gives every handler: the task id, the (sub)session and kojid's options
(``workdir``, ``topdir``, ``topurl``, ``serverca``, ``allowed_scms``). The classes are what
``pungi-like-builder`` registers in its ``koji.daemon.TaskManager``, and what kojid finds when it
loads :mod:`.kojid_plugin` as a plugin.

What the class adds to the function: the task log and ``workdir/logs/*.log`` are uploaded when
the task ends (kojid's handlers upload their own logs too), the work directory is the
TaskContext's (removed after success unless the options say ``keep_workdirs``), and an exception
that is not a ``koji.GenericError`` becomes one whose message names the exception type, so the
task's fault says what went wrong rather than carrying a traceback.
"""

from __future__ import annotations

import shutil
import traceback

import koji
import koji.tasks

from . import handlers
from .taskctx import TaskContext


class PungiLikeTask(koji.tasks.BaseTaskHandler):
    """Runs one :class:`handlers.Handler` (``_handler``) as a kojid task handler."""

    Methods = []
    _handler = None

    def weight(self):
        h = self._handler
        if callable(h.weight):
            # a weight function gets the handler object (session, id, method) for its ctx
            return float(h.weight(self, *self.params, **self.opts))
        return float(h.weight)

    @classmethod
    def constant_weight(cls):
        """The weight when it needs neither the task's request nor the handler (a handler
        registered with a number): the daemon then opens the task without a getTaskInfo
        before (daemon.request_free_weight). None when the weight is computed."""
        h = cls._handler
        if h is None or callable(h.weight) or cls.weight is not PungiLikeTask.weight:
            return None
        return float(h.weight)

    # the TaskContext makes the work directory (the same path: workdir/tasks/<id%10000>/<id>)
    # and removes it after success
    def createWorkdir(self):
        pass

    def removeWorkdir(self):
        pass

    def _context(self):
        opts = self.options
        # what host.openTask answered, passed on by our daemon (daemon.TaskManager.forkTask);
        # asked for when run by another engine (kojid with our plugin)
        task = getattr(self, "opened_info", None) or self.session.getTaskInfo(self.id)
        # the daemon wakes this parent's process when the task ends (daemon.wake_parent_task)
        self.parent_task_id = task.get("parent")
        ctx = TaskContext(self.session, task, workdir_root=opts.workdir,
                          topdir=getattr(opts, "topdir", None),
                          topurl=getattr(opts, "topurl", None),
                          serverca=getattr(opts, "serverca", None))
        scms = getattr(opts, "allowed_scms", None)
        if isinstance(scms, str):   # kojid's option string
            from .conf import parse_allowed_scms

            scms = parse_allowed_scms(scms)
        ctx.allowed_scms = scms
        return ctx

    def handler(self, *params, **opts):
        ctx = self._context()
        ok = False
        try:
            ctx.log.info("task %d %s%r %r", ctx.task_id, ctx.method, params, opts)
            result = self._handler.func(ctx, *params, **opts)
            ok = True
            return result
        except koji.GenericError as exc:
            ctx.log.error("task failed: %s\n%s", exc, traceback.format_exc())
            raise
        except (koji.tasks.ServerExit, koji.tasks.ServerRestart, koji.tasks.RefuseTask):
            raise
        except Exception as exc:
            ctx.log.error("task failed: %s\n%s", exc, traceback.format_exc())
            raise koji.GenericError("%s: %s" % (type(exc).__name__, exc)) from exc
        finally:
            try:
                ctx.upload_logs()
            except Exception:
                ctx.log.exception("log upload failed")
            ctx.close()
            if ok and not getattr(self.options, "keep_workdirs", False):
                shutil.rmtree(ctx.workdir, ignore_errors=True)


def _class_name(method):
    return method[:1].upper() + method[1:] + "Task"


def task_classes() -> dict:
    """``{class name: class}``, one BaseTaskHandler subclass per registered method."""
    classes = {}
    for method, h in sorted(handlers.load_all().items()):
        name = _class_name(method)
        classes[name] = type(name, (PungiLikeTask,), {
            "Methods": [method], "_handler": h, "_taskWeight": h.weight
            if not callable(h.weight) else 1.0, "__doc__": (h.func.__doc__ or "").strip(),
            "__module__": __name__})
    return classes

