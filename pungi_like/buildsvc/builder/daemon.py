"""The builder daemon: kojid's engine, ``koji.daemon.TaskManager``, with our task handlers.

``pungi-like-builder`` is kojid's main loop around the TaskManager of the installed koji
library: ``updateBuildroots`` (expire the host's buildroots whose tasks ended), ``updateTasks``
(the tasks open on this host: the load is the sum of the weights of those not waiting; an open
task without a process is freed; a process whose task was canceled or given to another host is
killed), ``getNextTask`` (check in with ``host.updateHost`` - load, ready, methods, maxjobs - and
open one of the tasks the hub's scheduler ASSIGNED to this host, as kojid 1.34+ does; a task
with no handler is refused), then a sleep of ``sleeptime`` when nothing was taken. Each task runs
in a forked process with its own subsession; its handler is a ``koji.tasks.BaseTaskHandler``:
koji.tasks' standard ones (fork, subtask, dependantTask, waitrepo, restart, restartVerify,
restartHosts, shutdown, ...) and ours (kojitasks.py, the same classes kojid loads as a plugin).

What this module adds to the engine, and why (doc/builder-tasks.md "On kojid's engine"):

* the embedded service's process model: the daemon stops when its ``parent_pid`` is gone, and a
  task process asks the kernel for SIGTERM when the daemon dies (``PR_SET_PDEATHSIG``) and then
  kills its process group, so a daemon killed alone leaves no orphan running a task that the next
  daemon runs again;
* a task process that dies without closing its task (a crash) fails the task with "task process
  exited with status N" / "killed by signal N" (kojid leaves it OPEN until the daemon restarts);
* a task the hub freed and assigned back to this host while its old process still runs: the old
  process is killed before the task is opened again, so two runs never overlap;
* ``restart`` (restartHosts) re-executes the daemon (kojid: ``os.execv``) with the same arguments;
* the host's ``arches``/``capacity`` from the command line are reported with the check-in;
* kojid's load-average gate (no new task while the 1-minute load exceeds 4 x CPUs) is off: the
  hub's capacity and MaxJobs limit the work, and on a shared machine the gate would stall every
  builder at once;
* the idle sleep ends early when a task process ends or creates a subtask (:data:`WAKE_SIGNALS`).

The daemon takes the host's exclusive session at login, so the hub refuses anything an older
daemon's session (or a stray child of it) still sends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import time
import types
import xmlrpc.client
from dataclasses import dataclass, field
from typing import Optional

import koji
import koji.daemon
import koji.tasks
import koji.xmlrpcplus

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
    #: kojid plugin modules (load_plugins) whose task handlers are registered after ours
    plugins: list = field(default_factory=list)
    #: hold a host.waitWork call open in a waiter process, so a new task or a tag change
    #: wakes the daemon at once (polling stays the fallback; see WorkWaiter)
    wait_work: bool = True
    extra: dict = field(default_factory=dict)


def make_session(opts: BuilderOptions):
    session = koji.ClientSession(opts.hub, {"serverca": opts.serverca, "no_ssl_verify": False,
                                            "max_retries": 3, "retry_interval": 1,
                                            "offline_retry": True, "offline_retry_interval": 2,
                                            # kojid's default: no checkUpload probe per file
                                            "use_fast_upload": True})
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
    libc = _libc()
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_PDEATHSIG): %s" % os.strerror(err))
    if os.getppid() != parent_pid:   # the daemon died before the request took effect
        os.killpg(0, signal.SIGKILL)


_LIBC = []


def _libc():
    """The C library, loaded once (``find_library`` runs ``ldconfig -p``: loaded in the daemon
    before it forks, a task process does not run it again)."""
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True))
    return _LIBC[0]


def wake_parent_task(parent_pid, daemon_pid):
    """Send SIGUSR2 to ``parent_pid`` (the process of this task's parent task, forked by the
    same daemon) when it is still a task process of ``daemon_pid``: the parent, waiting for
    its children in TaskContext.wait, looks at them at once instead of after the daemon's next
    cycle (kojid's only wake: getHostTasks' alert). Returns True when sent."""
    try:
        with open("/proc/%d/stat" % parent_pid, "rb") as f:
            stat = f.read()
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        if ppid != daemon_pid:
            return False
        os.kill(parent_pid, signal.SIGUSR2)
        return True
    except (OSError, ValueError, IndexError):
        return False


class TaskManager(koji.daemon.TaskManager):
    """kojid's TaskManager with the additions listed in the module's doc."""

    def __init__(self, options, session):
        super().__init__(options, session)
        self.daemon_pid = os.getpid()
        _libc()

    def _get_host_data(self):
        data = super()._get_host_data()
        if getattr(self.options, "arches", None):
            data["arches"] = list(self.options.arches)
        if getattr(self.options, "capacity", None):
            data["capacity"] = float(self.options.capacity)
        return data

    def readyForTask(self):
        # kojid's checks without its load-average gate (see the module's doc): the engine reads
        # os.getloadavg, which reports no load for the duration of the call
        real = os.getloadavg
        os.getloadavg = _no_load
        try:
            return super().readyForTask()
        finally:
            os.getloadavg = real

    def takeTask(self, task):
        pid = self.pids.get(task["id"])
        if pid is not None:
            # freed by the hub (e.g. a late check-in) and assigned to us again while its old
            # process still runs: that process no longer holds it and must not run beside a new one
            self.logger.info("task %d was freed while its process ran; killing it", task["id"])
            _kill_and_reap(pid, os.killpg)
            del self.pids[task["id"]]
            self.subsessions.pop(task["id"], None)
        return super().takeTask(task)

    def getNextTask(self):
        """kojid's getNextTask, except that it opens every task the hub assigned this host
        while the host stays ready, not only the first: kojid goes through a whole cycle
        (listBuildroots, getHostTasks, getHost, updateHost, getTasks) before each further
        task, five hub calls per task that told it nothing new (the hub's scheduler has
        already checked the host's capacity and MaxJobs for each assignment). Each further
        task is taken only while the load and the number of tasks stay within the host's
        capacity and maxjobs, which readyForTask checks at the start of the cycle."""
        self.ready = self.readyForTask()
        self.session.host.updateHost(self.task_load, self.ready, data=self._get_host_data())
        if not self.ready:
            self.logger.info("Not ready for task")
            return False
        taken = False
        for task in self.session.host.getTasks():
            if task["id"] in self.tasks:
                # reassigned while we ran it: updateTasks cleans up first (as kojid)
                self.logger.info("Task %(id)s reassigned", task)
                continue
            if task["state"] != koji.TASK_STATES["ASSIGNED"] or \
                    task["host_id"] != self.host_id:
                self.logger.error("Received task %(id)s is not assigned to this host "
                                  "(state %(state)s, host %(host_id)s)", task)
                continue
            if taken and not self._room_for_another():
                break
            if self.takeTask(task):
                taken = True
                self.task_load += float(task.get("weight") or 0.0)
        return taken

    def _room_for_another(self):
        """readyForTask's local checks, without asking the hub again (within one cycle)."""
        if self.restart_pending:
            return False
        if len(self.tasks) >= self.options.maxjobs:
            return False
        return self.task_load <= float(self.hostdata.get("capacity") or 0.0)

    def cleanupTask(self, task_id, wait=True):
        """kojid's cleanupTask; for a task process already reaped (``wait=False``, from
        updateTasks) the look for its child processes is skipped: it reads every process's
        /proc stat and cmdline (7 ms at 100 processes, per task, in the daemon's cycle) and
        cannot find any, since the children of a reaped process have another parent by
        then."""
        if wait or task_id not in self.pids:
            return super().cleanupTask(task_id, wait)
        session_id = self.subsessions.get(task_id)
        if session_id:
            self.logger.info("Expiring subsession %i (task %i)" % (session_id, task_id))
            try:
                self.session.logoutChild(session_id)
                del self.subsessions[task_id]
            except Exception:
                pass
        return True

    def forkTask(self, handler):
        # the task's info as host.openTask answered it: the task process's handler needs no
        # getTaskInfo of its own (kojitasks.PungiLikeTask._context)
        info = self.tasks.get(handler.id)
        if isinstance(info, dict) and info.get("id") == handler.id and "method" in info:
            handler.opened_info = {k: v for k, v in info.items() if k != "request"}
        # kojid's forkTask, except that the task process does not log its subsession out
        # when it ends: the daemon expires it anyway once it reaped the process (logoutChild
        # in cleanupTask), so that was a second hub call per task for the same session
        newhub = self.session.subsession()
        session_id = newhub.sinfo["session-id"]
        pid = os.fork()
        if pid:
            newhub._forget()
            log.info("task %d (%s) started in process %d", handler.id, handler.method, pid)
            return pid, session_id
        # in no circumstance should we return after the fork nor should any exceptions
        # propagate past here (kojid's words)
        try:
            self.session._forget()
            os.setpgrp()
            self.session = newhub
            handler.session = self.session
            signal.signal(signal.SIGUSR2, lambda *args: None)
            self.runTask(handler)
        finally:
            os._exit(0)

    def runTask(self, handler):
        if os.getpid() != self.daemon_pid:   # in the forked task process
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)
            die_with_parent(self.daemon_pid)
            from .taskctx import TaskContext

            TaskContext.daemon_pid = self.daemon_pid   # subtask() wakes the daemon
            try:
                return super().runTask(handler)
            finally:
                # closed (or failed): a parent task run by this daemon is woken at once (its
                # pid is in the copy of ``pids`` this process got at its fork)
                parent = getattr(handler, "parent_task_id", None)
                if parent is not None and parent in self.pids:
                    wake_parent_task(self.pids[parent], self.daemon_pid)
        return super().runTask(handler)

    def _waitTask(self, task_id, pid=None):
        pid = pid or self.pids.get(task_id)
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if not done:
            return False
        code = os.waitstatus_to_exitcode(status)
        self.logger.info("task %d (pid %d) ended with status %d", task_id, pid, code)
        if code != 0:
            self._fail_crashed(task_id, code)
        return True

    def _fail_crashed(self, task_id, code):
        info = self.session.getTaskInfo(task_id)
        if info and info["state"] == koji.TASK_STATES["OPEN"] and \
                info["host_id"] == self.host_id:
            how = "killed by signal %d" % -code if code < 0 else "exited with status %d" % code
            msg = "task process %s before finishing task %d" % (how, task_id)
            self.logger.error(msg)
            fault = xmlrpc.client.Fault(koji.GenericError.faultCode, msg)
            self.session.host.failTask(task_id, koji.xmlrpcplus.dumps(
                fault, methodresponse=1, allow_none=1))


#: what ends the daemon's idle sleep early: one of its task processes ended (its task may have
#: an alerted parent here, and a slot is free), or one created a subtask (SIGUSR1, from
#: TaskContext.subtask) that this daemon may be assigned. Blocked in the daemon and taken with
#: sigtimedwait, so none arriving while it works is lost; the sleep still ends after
#: ``poll_interval`` as before.
WAKE_SIGNALS = (signal.SIGCHLD, signal.SIGUSR1)


class WorkWaiter:
    """A child process of the daemon that holds ``host.waitWork`` open and sends the daemon
    SIGUSR1 when the hub's work bell rang (a task was created or freed, a subtask ended, a tag
    changed): the daemon's idle sleep ends and its next ``host.getTasks`` comes at once instead
    of after ``poll_interval`` (hub/work_bell.py). A process, not a thread, so the daemon keeps
    forking task processes from a single-threaded process. It dies with the daemon
    (PR_SET_PDEATHSIG), exits when the hub has no such call (kojid's hub: polling only), and is
    started again by :meth:`check` when it died otherwise. Off with ``--no-wait-work``
    (BuilderOptions.wait_work)."""

    RESTART_DELAY = 10.0

    def __init__(self, tm, opts):
        self.tm, self.opts = tm, opts
        self.pid = None
        self.started = 0.0
        self.unsupported = False

    def start(self):
        try:
            sub = self.tm.session.subsession()
        except Exception:
            log.warning("no session for the work waiter; polling only", exc_info=True)
            self.started = time.monotonic()
            return
        daemon_pid = os.getpid()
        pid = os.fork()
        if pid:
            sub._forget()
            self.pid, self.started = pid, time.monotonic()
            return
        code = 0
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            self.tm.session._forget()
            _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() == daemon_pid:
                code = _wait_loop(sub, daemon_pid, self.opts.poll_interval)
        except BaseException:
            code = 1
        finally:
            os._exit(code)

    def check(self):
        """Reap a waiter that ended; start another after RESTART_DELAY (not when the hub does
        not know host.waitWork: its exit status 3)."""
        if self.unsupported:
            return
        if self.pid is not None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.pid, 0
            if not done:
                return
            self.pid = None
            if os.waitstatus_to_exitcode(status) == 3:
                log.info("the hub has no host.waitWork: polling only")
                self.unsupported = True
                return
        if time.monotonic() - self.started >= self.RESTART_DELAY or not self.started:
            self.start()

    def stop(self):
        if self.pid is not None:
            _kill_and_reap(self.pid)
            self.pid = None


def _wait_loop(session, daemon_pid, poll_interval):
    """The waiter process's loop (see WorkWaiter); returns its exit status."""
    seen = None
    while os.getppid() == daemon_pid:
        try:
            answer = session.host.waitWork(seen)
        except koji.GenericError as exc:
            if "Invalid method" in str(exc):
                return 3
            if isinstance(exc, (koji.AuthError, koji.AuthExpired)):
                return 1   # the daemon logged in again: started anew with its new session
            time.sleep(max(poll_interval, 1.0))
            continue
        except Exception:
            time.sleep(max(poll_interval, 1.0))
            continue
        seq = answer.get("seq")
        if seen is not None and seq != seen:
            try:
                os.kill(daemon_pid, signal.SIGUSR1)
            except OSError:
                return 0
        elif not answer.get("waited") and seen is not None:
            time.sleep(poll_interval)   # the hub has enough waiters: no busy loop
        seen = seq
    return 0


def _kill_and_reap(pid, kill=os.kill):
    """SIGKILL ``pid`` (``kill=os.killpg``: its whole process group) and reap it; either may
    be gone already."""
    try:
        kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _idle(seconds):
    signal.sigtimedwait(WAKE_SIGNALS, seconds)


def _drain_wakes():
    """Take the wake signals already pending: the cycle about to start answers them (a task
    that created a subtask sends SIGUSR1 and the hub's bell wakes the waiter for the same
    subtask: one cycle, not two). Those arriving during the cycle still end the next sleep."""
    while signal.sigtimedwait(WAKE_SIGNALS, 0) is not None:
        pass


def _no_op(_signum, _frame):
    pass


def _no_load():
    return (0.0, 0.0, 0.0)


def kojid_options(opts: BuilderOptions):
    """The options object the engine and the handlers read, with kojid's option names."""
    return types.SimpleNamespace(
        maxjobs=opts.maxjobs, sleeptime=opts.poll_interval, workdir=opts.workdir,
        topdir=opts.topdir, topurl=opts.topurl, serverca=opts.serverca,
        # kojid's buildroot directory: only its free space is checked (minspace, in MiB)
        mockdir=opts.workdir, minspace=1, failed_buildroot_lifetime=3600 * 4,
        buildroot_basic_cleanup_delay=120, buildroot_final_cleanup_delay=86400,
        allowed_scms=opts.allowed_scms, keep_workdirs=opts.keep_workdirs,
        arches=opts.arches, capacity=opts.capacity)


def make_manager(opts: BuilderOptions, session=None):
    """A TaskManager logged in as the host, with koji.tasks' handlers and ours (ours win)."""
    from . import kojitasks

    if opts.topurl is None:
        opts.topurl = opts.hub.rsplit("/kojihub", 1)[0] + "/kojifiles"
    os.makedirs(opts.workdir, exist_ok=True)
    session = session or make_session(opts)
    tm = TaskManager(kojid_options(opts), session)
    tm.findHandlers(vars(koji.tasks))
    tm.findHandlers(kojitasks.task_classes())
    for module in opts.plugins:
        tm.scanPlugin(module)
    return tm


def load_plugins(pluginpath, names):
    """kojid's plugin loading: each name is ``<name>.py`` found on the ':'-separated
    ``pluginpath``; returns the modules. A plugin that is missing or fails to import raises an
    error naming it."""
    import koji.plugin

    import importlib.machinery

    dirs = [d for d in (pluginpath or "").split(":") if d]
    tracker = koji.plugin.PluginTracker(path=dirs)
    modules = []
    for name in names:
        if importlib.machinery.PathFinder().find_spec(name, dirs) is None:
            raise koji.GenericError("kojid plugin %s: no %s.py in the plugin path %s"
                                    % (name, name, ":".join(dirs) or "(empty)"))
        try:
            modules.append(tracker.load(name))
        except Exception as exc:
            raise koji.GenericError("kojid plugin %s (pluginpath %s): %s"
                                    % (name, pluginpath, exc)) from exc
    return modules


class _Stop(BaseException):
    """SIGTERM/SIGINT in the daemon (not an error any handler should catch)."""


def _on_signal(signum, _frame):
    raise _Stop(signum)


def run(opts: BuilderOptions, tm=None, max_cycles=None) -> int:
    """kojid's main loop; returns 0 on SIGTERM/SIGINT (or after ``max_cycles``)."""
    tm = tm or make_manager(opts)
    host = tm.session.host.getHost()
    log.info("logged in as host %s (id %s)", host["name"], host["id"])
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    cycles = 0
    restart = False
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    # a SIGUSR1 that arrives while it is not blocked must not end the daemon (its default
    # action): at the final unblock, one may still come from a task process or the waiter
    signal.signal(signal.SIGUSR1, _no_op)
    waiter = WorkWaiter(tm, opts) if getattr(opts, "wait_work", False) else None
    try:
        while True:
            if opts.parent_pid and os.getppid() != opts.parent_pid:
                log.warning("parent process %d is gone; stopping", opts.parent_pid)
                break
            if waiter is not None:
                waiter.check()
            _drain_wakes()
            taken = False
            try:
                tm.updateBuildroots(nolocal=True)
                tm.updateTasks()
                taken = tm.getNextTask()
            except (_Stop, SystemExit, KeyboardInterrupt, koji.tasks.ServerExit):
                raise
            except koji.tasks.ServerRestart:
                restart = True
                break
            except (koji.AuthError, koji.AuthExpired):
                log.warning("session lost; logging in again")
                tm.session = make_session(opts)
            except Exception:  # the daemon outlives hub hiccups
                log.exception("builder cycle failed")
            cycles += 1
            if max_cycles and cycles >= max_cycles:
                break
            if not taken:
                _idle(opts.poll_interval)
    except (_Stop, KeyboardInterrupt, koji.tasks.ServerExit) as exc:
        log.info("stopping (%s)", exc.__class__.__name__ if not isinstance(exc, _Stop)
                 else "signal %s" % exc.args[0])
    finally:
        if waiter is not None:
            waiter.stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _drain_wakes()
        if not restart:
            # (a restart keeps them blocked through execv, so none sent before the new
            # process blocks them itself can kill it; the mask is inherited)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if not restart:
            try:
                tm.shutdown()
                tm.session.logout()
            except Exception:
                log.exception("could not report shutdown to the hub")
    if restart:
        # kojid's graceful restart (restartHosts): no task runs here any more; the new
        # process logs in with a new session, whose start time restartVerify checks
        log.warning("restarting")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "pungi_like.cli.builder"]
                 + sys.argv[1:])
    return 0


def main_loop(opts: BuilderOptions, max_cycles=None) -> int:
    delay = 1.0
    while True:
        if opts.parent_pid and os.getppid() != opts.parent_pid:
            log.warning("parent process %d is gone; not starting", opts.parent_pid)
            return 0
        # a hub that is down or busy at start-up is waited for, not fatal
        try:
            tm = make_manager(opts)
            break
        except koji.AuthError as exc:
            if "not a host" in str(exc) or "certificate" in str(exc).lower():
                raise
            log.warning("login failed (%s); retrying in %.0fs", exc, delay)
        except Exception as exc:
            log.warning("hub not reachable (%s); retrying in %.0fs", exc, delay)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    return run(opts, tm, max_cycles=max_cycles)


def setup_logging(level="INFO", stream=None):
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        stream=stream or sys.stderr,
                        format="%(asctime)s %(name)s [%(levelname)s] %(message)s")
