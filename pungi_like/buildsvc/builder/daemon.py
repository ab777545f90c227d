"""The builder daemon: logs in as a host, takes tasks, runs each in a forked child process.

Loop (every ``poll_interval`` seconds): reap finished children (a child that died without
closing its task fails it); ``host.getHostTasks`` (tasks open on this host: the load is the sum
of the weights of those not waiting; open tasks without a process are freed, processes whose
task is no longer open to us, e.g. canceled, are killed); ``host.updateHost`` (the check-in:
load, ready, methods, maxjobs, arches, capacity); then, while there is room, ``host.getTasks``
(the tasks the hub's scheduler ASSIGNED to this host, as for kojid 1.34+) and ``host.openTask``
for those whose weight fits the free capacity (a task bigger than the whole capacity is still
taken when nothing else runs); a task with no handler is refused. ``openTask`` is atomic on the
hub, so several builders share one queue safely. SIGTERM: children are killed, their tasks freed, the
host reported not ready.

A task process dies with its daemon: it asks the kernel for SIGTERM when the daemon goes
(``PR_SET_PDEATHSIG``) and then kills its whole process group, so a daemon killed alone leaves no
orphan to run a task the next daemon runs again. The daemon takes the host's exclusive session at
login, so the hub refuses anything an older daemon's session (or a stray child of it) still sends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import time
import traceback
import xmlrpc.client
from dataclasses import dataclass, field
from typing import Optional

import koji
import koji.xmlrpcplus

from . import handlers
from .taskctx import TaskContext

log = logging.getLogger("pungi_like.buildsvc.builder")


@dataclass
class BuilderOptions:
    hub: str
    cert: str
    serverca: str
    topdir: Optional[str] = None
    topurl: Optional[str] = None
    workdir: str = "/var/tmp/pungi-like-builder"
    capacity: Optional[float] = None
    arches: Optional[list] = None
    maxjobs: int = 10
    poll_interval: float = 1.0
    keep_workdirs: bool = False
    parent_pid: Optional[int] = None   # stop when this process (the embedding one) is gone
    #: kojid's allowed_scms rules [(allow, host glob, repository glob)]; None: the hub decides
    allowed_scms: Optional[list] = None
    extra: dict = field(default_factory=dict)


def make_session(opts: BuilderOptions):
    session = koji.ClientSession(opts.hub, {"serverca": opts.serverca, "no_ssl_verify": False,
                                            "max_retries": 3, "retry_interval": 1,
                                            "offline_retry": True, "offline_retry_interval": 2})
    session.ssl_login(cert=opts.cert, serverca=opts.serverca)
    # as kojid: one daemon acts as the host; an older daemon's sessions are locked out
    session.exclusiveSession(force=True)
    return session


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid):
    """In a forked task process: get SIGTERM when ``parent_pid`` (the daemon) dies, and on it
    kill this process group (the task and everything it started). Exits at once if the daemon
    is already gone."""
    def _kill_group(_signum, _frame):
        os.killpg(0, signal.SIGKILL)

    signal.signal(signal.SIGTERM, _kill_group)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_PDEATHSIG): %s" % os.strerror(err))
    if os.getppid() != parent_pid:   # the daemon died before the request took effect
        os.killpg(0, signal.SIGKILL)


class Builder:
    def __init__(self, opts: BuilderOptions):
        self.opts = opts
        self.session = None
        self.host = None
        self.pids = {}          # task_id -> pid
        self.subsessions = {}   # task_id -> ClientSession
        self.stopping = False
        self.load = 0.0
        handlers.load_all()

    # --- lifecycle ----------------------------------------------------------------------

    def login(self):
        self.session = make_session(self.opts)
        self.host = self.session.host.getHost()
        log.info("logged in as host %s (id %s)", self.host["name"], self.host["id"])
        if self.opts.topurl is None:
            self.opts.topurl = self.opts.hub.rsplit("/kojihub", 1)[0] + "/kojifiles"
        os.makedirs(self.opts.workdir, exist_ok=True)

    def run(self, max_cycles=None):
        """Poll until SIGTERM/SIGINT (or ``max_cycles``); returns 0."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        if self.session is None:
            self.login()
        cycles = 0
        try:
            while not self.stopping:
                if self.opts.parent_pid and os.getppid() != self.opts.parent_pid:
                    log.warning("parent process %d is gone; stopping", self.opts.parent_pid)
                    break
                try:
                    self.cycle()
                except (koji.AuthError, koji.AuthExpired):
                    log.warning("session lost; logging in again")
                    self.login()
                except Exception:  # the daemon outlives hub hiccups
                    log.exception("builder cycle failed")
                cycles += 1
                if max_cycles and cycles >= max_cycles:
                    break
                self._sleep(self.opts.poll_interval)
        finally:
            self.shutdown()
        return 0

    def _on_signal(self, signum, _frame):
        log.info("signal %d: stopping", signum)
        self.stopping = True

    def _sleep(self, seconds):
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.05, seconds))

    def shutdown(self):
        for tid, pid in list(self.pids.items()):
            self._kill(pid)
        ids = list(self.pids)
        self.pids.clear()
        try:
            if self.session is not None:
                if ids:
                    log.info("freeing tasks %s", ids)
                    self.session.host.freeTasks(ids)
                self.session.host.updateHost(0.0, False)
                self.session.logout()
        except Exception:
            log.exception("could not report shutdown to the hub")

    @staticmethod
    def _kill(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    # --- one cycle ------------------------------------------------------------------------

    def cycle(self):
        self.reap()
        self.update_tasks()
        self.session.host.updateHost(self.load, True, self._hostdata())
        if self.stopping:
            return
        self.take_tasks()

    def _hostdata(self):
        data = {"methods": handlers.methods(), "maxjobs": self.opts.maxjobs}
        if self.opts.arches:
            data["arches"] = list(self.opts.arches)
        if self.opts.capacity:
            data["capacity"] = float(self.opts.capacity)
        return data

    def reap(self):
        for tid, pid in list(self.pids.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if not done:
                continue
            del self.pids[tid]
            self.subsessions.pop(tid, None)
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                self._fail_crashed(tid, code)

    def _fail_crashed(self, task_id, code):
        info = self.session.getTaskInfo(task_id)
        if info and info["state"] == koji.TASK_STATES["OPEN"] and \
                info["host_id"] == self.host["id"]:
            how = "killed by signal %d" % -code if code < 0 else "exited with status %d" % code
            msg = "task process %s before finishing task %d" % (how, task_id)
            log.error(msg)
            fault = xmlrpc.client.Fault(koji.GenericError.faultCode, msg)
            self.session.host.failTask(task_id, koji.xmlrpcplus.dumps(
                fault, methodresponse=1, allow_none=1))

    def update_tasks(self):
        open_tasks = self.session.host.getHostTasks()
        mine = {t["id"]: t for t in open_tasks}
        stale = [tid for tid in mine if tid not in self.pids]
        if stale:
            log.info("freeing stale tasks %s", stale)
            self.session.host.freeTasks(stale)
        for tid, pid in list(self.pids.items()):
            if tid not in mine:
                # canceled, or freed by the hub: the process must not go on
                log.info("task %d is no longer open here; killing its process", tid)
                self._kill(pid)
                del self.pids[tid]
        self.load = sum(t["weight"] for t in open_tasks
                        if t["id"] in self.pids and not t["waiting"])
        self.running = {tid: mine[tid] for tid in self.pids if tid in mine}

    def capacity(self):
        return float(self.opts.capacity or self.host.get("capacity") or 2.0)

    def take_tasks(self):
        cap = self.capacity()
        if self.load >= cap or len(self.pids) >= self.opts.maxjobs:
            return
        for task in self.session.host.getTasks():
            if self.stopping or len(self.pids) >= self.opts.maxjobs:
                break
            h = handlers.get_handler(task["method"])
            if h is None:
                # assigned although we did not report the method: give it back for good
                self.session.host.refuseTask(task["id"], soft=False,
                                             msg="no handler for method %s" % task["method"])
                continue
            if task["id"] in self.pids:
                # freed by the hub since update_tasks (e.g. a late check-in): the process still
                # running it no longer holds it and must not run beside a new one
                log.info("task %d was freed while its process ran; killing it", task["id"])
                self._kill(self.pids.pop(task["id"]))
                self.subsessions.pop(task["id"], None)
            weight = h.weight if not callable(h.weight) else task.get("weight", 1.0)
            if self.load + float(weight) > cap and self.load > 0:
                continue
            opened = self.session.host.openTask(task["id"])
            if not opened:
                continue   # another builder took it
            self.start_task(opened, h)
            self.load += float(weight)
            if self.load >= cap:
                break

    def start_task(self, task, h):
        sub = self.session.subsession()
        daemon_pid = os.getpid()
        pid = os.fork()
        if pid == 0:   # child
            code = 1
            try:
                os.setpgid(0, 0)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                die_with_parent(daemon_pid)
                code = run_task(sub, task, h, self.opts)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        self.pids[task["id"]] = pid
        self.subsessions[task["id"]] = sub
        log.info("task %d (%s) started in process %d", task["id"], task["method"], pid)


def run_task(session, task, h, opts: BuilderOptions) -> int:
    """Run one opened task in this (child) process; closes or fails it. Returns an exit code."""
    params = xmlrpc.client.loads(task["request"])[0]
    args, kwargs = list(params), {}
    if args and isinstance(args[-1], dict) and args[-1].get("__starstar"):
        kwargs = dict(args.pop())
        del kwargs["__starstar"]
    ctx = TaskContext(session, task, workdir_root=opts.workdir, topdir=opts.topdir,
                      topurl=opts.topurl, serverca=opts.serverca)
    ctx.allowed_scms = opts.allowed_scms
    ok = False
    try:
        weight = h.task_weight(ctx, args, kwargs)
        if weight != task.get("weight"):
            ctx.set_weight(weight)
        ctx.log.info("task %d %s%r", ctx.task_id, ctx.method, tuple(params))
        result = h.func(ctx, *args, **kwargs)
        response = koji.xmlrpcplus.dumps((result,), methodresponse=1, allow_none=1)
        ok = True
    except koji.GenericError as exc:
        ctx.log.error("task failed: %s\n%s", exc, traceback.format_exc())
        response = koji.xmlrpcplus.dumps(xmlrpc.client.Fault(exc.faultCode, str(exc)),
                                         methodresponse=1, allow_none=1)
    except Exception as exc:
        ctx.log.error("task failed: %s\n%s", exc, traceback.format_exc())
        response = koji.xmlrpcplus.dumps(
            xmlrpc.client.Fault(koji.GenericError.faultCode,
                                 "%s: %s" % (type(exc).__name__, exc)),
            methodresponse=1, allow_none=1)
    try:
        ctx.upload_logs()
    except Exception:
        ctx.log.exception("log upload failed")
    ctx.close()
    if ok:
        session.host.closeTask(ctx.task_id, response)
        if not opts.keep_workdirs:
            import shutil

            shutil.rmtree(ctx.workdir, ignore_errors=True)
    else:
        session.host.failTask(ctx.task_id, response)
    try:
        session.logout()
    except Exception:
        pass
    return 0


def main_loop(opts: BuilderOptions, max_cycles=None) -> int:
    builder = Builder(opts)
    delay = 1.0
    while True:
        if opts.parent_pid and os.getppid() != opts.parent_pid:
            log.warning("parent process %d is gone; not starting", opts.parent_pid)
            return 0
        # a hub that is down or busy at start-up is waited for, not fatal
        try:
            builder.login()
            break
        except koji.AuthError as exc:
            if "not a host" in str(exc) or "certificate" in str(exc).lower():
                raise
            log.warning("login failed (%s); retrying in %.0fs", exc, delay)
        except Exception as exc:
            log.warning("hub not reachable (%s); retrying in %.0fs", exc, delay)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    return builder.run(max_cycles=max_cycles)


def setup_logging(level="INFO", stream=None):
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        stream=stream or sys.stderr,
                        format="%(asctime)s %(name)s [%(levelname)s] %(message)s")
