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
* the idle sleep ends early when a task process ends or creates a subtask (:data:`WAKE_SIGNALS`);
  a task process that created subtasks asks ``host.getTasks`` in the same call and hands what
  the hub assigned this host to the daemon over a pipe, which takes it without a cycle
  (:meth:`TaskManager.take_handed`).
* a task process is forked ahead, its hub connection open, and the next task handed to it
  (spare.py; ``--no-spare``: forked at the take, as kojid).

The daemon takes the host's exclusive session at login, so the hub refuses anything an older
daemon's session (or a stray child of it) still sends.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import mmap
import os
import select
import signal
import struct
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

from ... import childproc

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
    #: keep task processes forked ahead, their hub connections open, for the next tasks
    #: (spare.py); off: each task process is forked when its task is taken (kojid)
    spare: bool = True
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
        signal_main_thread(parent_pid, signal.SIGUSR2)
        return True
    except (OSError, ValueError, IndexError):
        return False


def signal_main_thread(pid, sig):
    """Send ``sig`` to the main thread of process ``pid`` (its thread id is its pid):
    ``tgkill``, where ``kill`` would let the kernel hand it to any thread of the process that
    does not block it. A task process's wait blocks SIGUSR2 in its main thread and takes the
    wake with ``sigtimedwait``; a thread the task had started (a pool, a reader) would take a
    process-wide signal instead, and the wait would sleep to its timeout. Falls back to
    ``kill`` where the C library has no ``tgkill`` (glibc before 2.30)."""
    tgkill = getattr(_libc(), "tgkill", None)
    if tgkill is None:
        os.kill(pid, sig)
        return
    if tgkill(pid, pid, sig) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def request_free_weight(cls):
    """The weight of ``cls``'s tasks when neither it nor a host check needs the task's request:
    the engine's constant (``_taskWeight``, koji.tasks' default ``weight``) or what the class
    says (``constant_weight()``, kojitasks.PungiLikeTask); None otherwise (a ``checkHost``, a
    foreground handler, a weight of its own)."""
    if hasattr(cls, "checkHost") or getattr(cls, "Foreground", False):
        return None
    constant = getattr(cls, "constant_weight", None)
    if constant is not None:
        return constant()
    if getattr(cls, "weight", None) is koji.tasks.BaseTaskHandler.weight:
        try:
            return float(getattr(cls, "_taskWeight", 1.0))
        except (TypeError, ValueError):
            return None
    return None


class TaskManager(koji.daemon.TaskManager):
    """kojid's TaskManager with the additions listed in the module's doc."""

    def __init__(self, options, session):
        super().__init__(options, session)
        self.daemon_pid = os.getpid()
        self._logouts = []   # subsessions to expire with the next check-in (cleanupTask)
        #: the spare task processes (spare.SpareKeeper), when run() keeps them
        self.spares = None
        #: shared with the task processes (an anonymous shared mapping, made before they are
        #: forked): the monotonic time at which one of them last had a subtask's creation
        #: answered, written before its SIGUSR1 (TaskContext._wake_daemon; _seen_subtask)
        self.subtask_wakes = mmap.mmap(-1, 8)
        #: a pipe from the task processes (forked after it) to the daemon: what a task
        #: process's ``host.getTasks`` answered (TaskContext.hand_tasks, take_handed); one
        #: line of JSON a message, written whole (at most PIPE_BUF bytes), never blocking
        self.handed_r, self.handed_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _libc()

    def shutdown(self):
        for session_id in self._logouts:
            try:
                self.session.logoutChild(session_id)
            except Exception:
                pass
        self._logouts = []
        return super().shutdown()

    def _get_host_data(self):
        data = super()._get_host_data()
        if getattr(self.options, "arches", None):
            data["arches"] = list(self.options.arches)
        if getattr(self.options, "capacity", None):
            data["capacity"] = float(self.options.capacity)
        return data

    def _ready_for_task(self):
        # kojid's checks without its load-average gate (see the module's doc): the engine reads
        # os.getloadavg, which reports no load for the duration of the call
        real = os.getloadavg
        os.getloadavg = _no_load
        try:
            return super().readyForTask()
        finally:
            os.getloadavg = real

    # --- the cycle's reads in one call -----------------------------------------------------

    #: the buildroot states kojid's updateBuildroots lists
    _BR_STATES = tuple(koji.BR_STATES[x] for x in ("INIT", "WAITING", "BUILDING"))

    def prefetch_cycle(self):
        """Ask the three reads of a cycle in one multicall: the host's buildroots
        (updateBuildroots' ``listBuildroots``), its open tasks (updateTasks'
        ``host.getHostTasks``) and its host row (readyForTask's ``host.getHost``). kojid sends
        them one by one, between its local work; that work changes none of the three answers
        (the host row's enabled/capacity; freeTasks or a buildroot's expiry by this daemon
        come after the reads in kojid too). Each answer then serves the engine's own call of
        it once in this cycle (:class:`_Answering`); any other call goes to the hub.

        When the host was ready at its last check-in, the check-in and the look for assigned
        tasks go in the same multicall, after the reads (the subsessions of reaped task
        processes expired with them): ``host.updateHost`` with the load and readiness the
        daemon knows (its last cycle's, with the tasks it took since) and ``host.getTasks``.
        One hub request a cycle instead of two; getNextTask takes what that ``getTasks``
        assigned once the cycle's own readiness check agrees (else it reports the host not
        ready at once and takes nothing). kojid checks in after its local work, with the
        load it just computed: here the load the hub holds is that of the end of the
        previous cycle (the hub's scheduler counts a host's load from its task rows; the
        reported figure is what ``koji list-hosts`` shows)."""
        self._answers = {}
        self._checkin = None
        checkin = bool(self.ready) and not self.restart_pending
        logouts = []
        if checkin:
            logouts, self._logouts = self._logouts, []
        asked = time.monotonic()
        with self.session.multicall() as m:
            brs = m.listBuildroots(hostID=self.host_id, state=self._BR_STATES)
            tasks = m.host.getHostTasks()
            host = m.host.getHost()
            if checkin:
                for session_id in logouts:
                    m.logoutChild(session_id)
                # the bell count before getTasks reads the queue (see bell_seen)
                bell = m.host.waitWork(None) if self.bell_waiter is not None else None
                reported = m.host.updateHost(self.task_load, True,
                                             data=self._get_host_data())
                assigned = m.host.getTasks()
        self._answers = {
            ("listBuildroots", (), (("hostID", self.host_id), ("state", self._BR_STATES))):
                brs.result,
            ("host.getHostTasks", (), ()): tasks.result,
            ("host.getHost", (), ()): host.result,
        }
        if checkin:
            self._checkin = (reported, assigned, bell, asked)

    def _answered(self, func, *args, **kwargs):
        """Run the engine's ``func`` with the prefetched answers served (see prefetch_cycle)."""
        answers = getattr(self, "_answers", None)
        if not answers:
            return func(*args, **kwargs)
        real = self.session
        self.session = _Answering(real, answers)
        try:
            return func(*args, **kwargs)
        finally:
            if self.session.__class__ is _Answering:
                self.session = real

    def updateBuildroots(self, nolocal=False):
        return self._answered(super().updateBuildroots, nolocal=nolocal)

    def updateTasks(self):
        return self._answered(super().updateTasks)

    def takeTask(self, task):
        pid = self.pids.get(task["id"])
        if pid is not None:
            # freed by the hub (e.g. a late check-in) and assigned to us again while its old
            # process still runs: that process no longer holds it and must not run beside a new one
            self.logger.info("task %d was freed while its process ran; killing it", task["id"])
            kill_and_reap(pid, os.killpg)
            del self.pids[task["id"]]
            self.subsessions.pop(task["id"], None)
        return self._take(task)

    def _take(self, task):
        """kojid's takeTask (getTaskInfo with the request, the handler's host check, then
        openTask, setTaskWeight and the task's subsession), except that the last three go to
        the hub in one multicall: kojid makes them three calls in a row. The weight is the
        handler's, computed before the call (kojid: after openTask); a weight that cannot be
        computed, a task that could not be opened or a weight the hub refused takes kojid's
        own path, call by call. When neither the weight nor a host check needs the task's
        request (:func:`request_free_weight`) the getTaskInfo before is not sent either: the
        request comes with openTask's answer (one hub request a take, not two)."""
        method = task["method"]
        if method not in self.handlers:
            return super().takeTask(task)
        cls = self.handlers[method]
        weight = None if getattr(self.options, "single", False) else request_free_weight(cls)
        if weight is not None:
            return self._open_and_fork(task, weight, None)
        task_info = self.session.getTaskInfo(task["id"], request=True)
        if task_info.get("request") is None:
            self.logger.warning("Task '%s' has no request" % task["id"])
            return False
        handler = cls(task_info["id"], method, task_info["request"], self.session,
                      self.options)
        if hasattr(handler, "checkHost"):
            try:
                valid_host = handler.checkHost(self.hostdata)
            except (SystemExit, KeyboardInterrupt):
                raise
            except Exception:
                valid_host = False
                self.logger.warning("Error during host check", exc_info=True)
            if not valid_host:
                self.logger.info("Skipping task %s (%s) due to host check", task["id"],
                                 task["method"])
                if task["state"] == koji.TASK_STATES["ASSIGNED"]:
                    self.session.host.refuseTask(task["id"], soft=False,
                                                 msg="failed host check")
                return False
        try:
            weight = handler.weight()
        except Exception:
            weight = None
        if weight is None or handler.Foreground or getattr(self.options, "single", False):
            return self._take_one_by_one(task, handler)
        return self._open_and_fork(task, weight, handler)

    def _open_and_fork(self, task, weight, handler):
        """openTask, setTaskWeight(``weight``) and subsession in one multicall, then the fork.
        ``handler`` None: it is made from the request in openTask's answer."""
        with self.session.multicall() as m:
            opened = m.host.openTask(task["id"])
            weighed = m.host.setTaskWeight(task["id"], weight)
            sub = m.subsession()
        newhub = None
        try:
            sinfo = sub.result
        except koji.GenericError:
            sinfo = None
        if sinfo:
            newhub = type(self.session)(self.session.baseurl, opts=self.session.opts,
                                        sinfo=sinfo, auth_method=self.session.auth_method)
        try:
            data = opened.result   # a fault raises here, as kojid's openTask call
        except BaseException:
            if newhub is not None:
                _logout_quietly(newhub)
            raise
        if data is None:
            self.logger.warning("Could not open")
            if newhub is not None:
                _logout_quietly(newhub)
            return False
        task_id = data["id"]
        self.tasks[task_id] = data
        if handler is None:
            try:
                handler = self._handler_of_opened(task, data)
            except BaseException:
                if newhub is not None:
                    _logout_quietly(newhub)
                raise
        try:
            weighed.result
        except koji.GenericError:
            if newhub is not None:
                _logout_quietly(newhub)
            return self._set_weight_after_open(task, handler)
        data["weight"] = weight
        if newhub is None:
            sub.result   # the hub's refusal of the subsession raises, as kojid's call
        self._subsession = newhub
        try:
            pid, session_id = self.forkTask(handler)
        finally:
            self._subsession = None
        self.pids[task_id] = pid
        self.subsessions[task_id] = session_id
        return True

    def _handler_of_opened(self, task, data):
        """The handler of a task opened without a getTaskInfo before: its request is the raw
        XML of openTask's answer (Koji's hub sends it undecoded); asked for with getTaskInfo
        when that answer has none. A task whose request cannot be had is failed (it is open
        on this host and would otherwise be freed and opened again at every cycle)."""
        params = None
        raw = data.get("request")
        if isinstance(raw, str) and raw.lstrip().startswith("<"):
            try:
                params = list(xmlrpc.client.loads(raw)[0])
            except Exception:
                params = None
        elif isinstance(raw, (list, tuple)):
            params = list(raw)
        if params is None:
            params = (self.session.getTaskInfo(data["id"], request=True) or {}).get("request")
        if params is None:
            msg = "task %s has no request" % data["id"]
            self.session.host.failTask(data["id"], koji.xmlrpcplus.dumps(
                xmlrpc.client.Fault(koji.GenericError.faultCode, msg), methodresponse=1,
                allow_none=1))
            self.tasks.pop(data["id"], None)
            raise koji.GenericError(msg)
        return self.handlers[task["method"]](data["id"], task["method"], params, self.session,
                                             self.options)

    def _take_one_by_one(self, task, handler):
        """The rest of kojid's takeTask for ``handler``: openTask, setTaskWeight, fork."""
        data = self.session.host.openTask(task["id"])
        if data is None:
            self.logger.warning("Could not open")
            return False
        self.tasks[data["id"]] = data
        return self._set_weight_after_open(task, handler)

    def _set_weight_after_open(self, task, handler):
        task_id = task["id"]
        try:
            weight = handler.weight()
            self.session.host.setTaskWeight(task_id, weight)
            if isinstance(self.tasks.get(task_id), dict):
                self.tasks[task_id]["weight"] = weight
        except koji.ActionNotAllowed:
            info2 = self.session.getTaskInfo(task_id)
            if info2["host_id"] != self.host_id:
                self.logger.warning("Task %i was reassigned", task_id)
                return False
            state = koji.TASK_STATES[info2["state"]]
            if state != "OPEN":
                self.logger.warning("Task %i changed is %s", task_id, state)
                return False
            raise
        if handler.Foreground or getattr(self.options, "single", False):
            self.logger.info("running task in foreground")
            handler.setManager(self)
            self.runTask(handler)
        else:
            pid, session_id = self.forkTask(handler)
            self.pids[task_id] = pid
            self.subsessions[task_id] = session_id
        return True

    def readyForTask(self):
        return self._answered(self._ready_for_task)

    def getNextTask(self):
        """kojid's getNextTask, except that it opens every task the hub assigned this host
        while the host stays ready, not only the first: kojid goes through a whole cycle
        (listBuildroots, getHostTasks, getHost, updateHost, getTasks) before each further
        task, five hub calls per task that told it nothing new (the hub's scheduler has
        already checked the host's capacity and MaxJobs for each assignment). Each further
        task is taken only while the load and the number of tasks stay within the host's
        capacity and maxjobs, which readyForTask checks at the start of the cycle. The
        check-in and getTasks came with the cycle's reads when the host was ready before
        (prefetch_cycle)."""
        self.ready = self.readyForTask()
        self.bell_seen = None   # set again when this cycle's getTasks answers
        self.tasks_asked = None
        prefetched, self._checkin = getattr(self, "_checkin", None), None
        if prefetched is not None:
            reported, assigned, bell, asked = prefetched
            reported.result   # a fault raises here
            if self.ready:
                tasks = assigned.result
                self._note_bell(bell)
                self.tasks_asked = asked
                return self._take_assigned(tasks)
            # no longer ready (over capacity, disabled, a restart pending ...): the hub hears
            # it now; what that getTasks assigned stays ASSIGNED here until the host is ready
            self.session.host.updateHost(self.task_load, False, data=self._get_host_data())
            self.was_full = True
            self.logger.info("Not ready for task")
            return False
        # the subsessions of the task processes reaped in this cycle are expired, the host
        # checks in and looks for the tasks assigned to it: one call (kojid: one logoutChild
        # per task in updateTasks, then updateHost and getTasks; the hub's scheduler, run in
        # getTasks, sees the check-in in the same transaction). A logoutChild that fails is
        # ignored, as kojid's cleanupTask does.
        logouts, self._logouts = self._logouts, []
        asked = time.monotonic()
        with self.session.multicall() as m:
            for session_id in logouts:
                m.logoutChild(session_id)
            checkin = m.host.updateHost(self.task_load, self.ready, data=self._get_host_data())
            assigned = m.host.getTasks() if self.ready else None
        checkin.result   # a fault raises here
        self.was_full = True
        if not self.ready:
            self.logger.info("Not ready for task")
            return False
        tasks = assigned.result
        self.tasks_asked = asked
        return self._take_assigned(tasks)

    #: the work waiter (WorkWaiter) when run() has one; the cycle then notes the bell count
    bell_waiter = None
    #: the hub's work bell count read in the last cycle's request before its getTasks: every
    #: commit that had rung the bell up to it was seen by that getTasks (the request holds
    #: the hub's write lock from its start on SQLite; on PostgreSQL each statement sees what
    #: was committed before it, and a bell rings after its commit). A waiter's wake for that
    #: same count brings nothing new (_idle_until_work)
    bell_seen = None
    #: the monotonic time just before the last cycle's request with getTasks was sent (None
    #: when it had none): a subtask whose creation was answered before it was committed
    #: before that getTasks read the queue (_seen_subtask)
    tasks_asked = None

    def _note_bell(self, bell):
        self.bell_seen = None
        if bell is None:
            return
        try:
            seq = bell.result.get("seq")
        except Exception:   # a hub without host.waitWork
            return
        if isinstance(seq, int) and not isinstance(seq, bool):
            self.bell_seen = seq

    def _take_assigned(self, assigned):
        """Take the tasks ``assigned`` (getTasks' answer) while there is room; True when one
        was taken."""
        self.was_full = True
        taken = False
        left = False
        for task in assigned:
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
                left = True
                break
            if self.takeTask(task):
                taken = True
                # the weight the task was opened with (the handler's, set by the take), not
                # getTasks' (the FREE task's, 1.0 for every makeTask): kojid's next cycle
                # reads it back with the host's tasks
                opened = self.tasks.get(task["id"]) or task
                self.task_load += float(opened.get("weight") or 0.0)
        self.was_full = left or not self._room_for_another()
        return taken

    #: set by getNextTask: the host was not ready, or it had no room left for what the hub
    #: may assign next (then a task process's end must be followed by a check-in at once)
    was_full = True

    def reap_local(self):
        """Reap the task processes that ended, without a cycle: updateTasks' cleanup of an
        ended process (a crashed one still fails its task; the subsession is expired with the
        next check-in). For a SIGCHLD while the host had room: the hub's scheduler counts a
        closed task's slot free without this host's check-in, and the next cycle (the work
        bell, a subtask, the poll) reports the load. Returns True when one was reaped."""
        reaped = False
        if self.spares is not None and self.spares.reap():
            reaped = True   # the next cycle forks another
        for task_id, pid in list(self.pids.items()):
            if self._waitTask(task_id, pid):
                reaped = True
                if self.cleanupTask(task_id, wait=False):
                    del self.pids[task_id]
                self.tasks.pop(task_id, None)
        return reaped

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
        session_id = self.subsessions.pop(task_id, None)
        if session_id:
            # sent with the cycle's check-in (getNextTask), not as a call of its own
            self.logger.info("Expiring subsession %i (task %i)" % (session_id, task_id))
            self._logouts.append(session_id)
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
        newhub = getattr(self, "_subsession", None) or self.session.subsession()
        session_id = newhub.sinfo["session-id"]
        if self.spares is not None and not handler.Foreground:
            pid = self.spares.hand(self._handed(handler, newhub))
            if pid is not None:
                newhub._forget()
                log.info("task %d (%s) started in process %d (the spare)", handler.id,
                         handler.method, pid)
                return pid, session_id
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
            task_process_signals()
            self.runTask(handler)
        finally:
            os._exit(0)

    #: the handler's attributes that are not sent to a spare: its own copies serve
    _NOT_HANDED = frozenset({"session", "options", "manager"})

    def _handed(self, handler, newhub):
        """What a spare task process needs to run ``handler`` as a task process forked now
        would (:meth:`run_handed`): the handler's state but its session and options, the
        task's subsession and this daemon's task processes (a parent task's to wake)."""
        return {"class": type(handler).__name__, "method": handler.method,
                "state": {k: v for k, v in vars(handler).items() if k not in self._NOT_HANDED},
                "sinfo": newhub.sinfo, "pids": dict(self.pids)}

    def run_handed(self, msg, session):
        """In a spare task process: run the task the daemon handed over (:meth:`_handed`)
        with ``session`` (its connection already open) as the task's subsession; what
        forkTask's child does after the fork."""
        cls = self.handlers[msg["method"]]
        if cls.__name__ != msg["class"]:
            raise koji.GenericError("handler of %s changed: %s, not %s"
                                    % (msg["method"], cls.__name__, msg["class"]))
        session.setSession(msg["sinfo"])
        self.session = session
        self.pids = msg["pids"]
        handler = cls.__new__(cls)
        handler.__dict__.update(msg["state"])
        handler.session, handler.options, handler.manager = session, self.options, None
        task_process_signals()
        self.runTask(handler)

    def runTask(self, handler):
        if os.getpid() != self.daemon_pid:   # in the forked task process
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, WAKE_SIGNALS)
            die_with_parent(self.daemon_pid)
            from .taskctx import TaskContext

            TaskContext.daemon_pid = self.daemon_pid   # subtask() wakes the daemon
            TaskContext.wake_stamp = self.subtask_wakes
            TaskContext.hand_tasks = self._hand_tasks
            woken = []

            def wake_parent(parent):
                # a parent task run by this daemon (its pid is in the copy of ``pids`` this
                # process got at its fork), once
                TaskContext.wake_parent = None
                if not woken and parent in self.pids:
                    woken.append(parent)
                    wake_parent_task(self.pids[parent], self.daemon_pid)

            # a handler that closes its task with its last upload wakes the parent then
            # (TaskContext.upload_and_close)
            TaskContext.wake_parent = wake_parent
            real = self.session
            # a task its handler closed with its last upload is not closed again
            # (TaskContext.upload_and_close)
            self.session = _Answering(real, TaskContext.closed)
            try:
                return super().runTask(handler)
            finally:
                self.session = real
                # closed (or failed): the parent is woken at once, if it was not already
                parent = getattr(handler, "parent_task_id", None)
                if parent is not None:
                    wake_parent(parent)
        return super().runTask(handler)

    def _hand_tasks(self, tasks, asked):
        """In a task process: hand the daemon ``tasks``, what ``host.getTasks`` asked at
        monotonic time ``asked`` answered (TaskContext.hand_tasks). A message that does not
        fit in one atomic write, or a full pipe, is not sent: the daemon's cycle, which the
        task process's wake starts as before, takes them."""
        line = (json.dumps({"asked": asked, "pid": os.getpid(), "tasks": tasks},
                           separators=(",", ":")) + "\n").encode()
        if len(line) > select.PIPE_BUF:
            return
        try:
            os.write(self.handed_w, line)
        except OSError:
            pass

    def _read_handed(self):
        """The messages in the pipe from the task processes (``[dict]``), all of them."""
        data = b""
        while True:
            try:
                chunk = os.read(self.handed_r, 65536)
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                break
            data += chunk
        out = []
        for line in data.split(b"\n"):
            if line:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and isinstance(msg.get("tasks"), list) and \
                        isinstance(msg.get("asked"), float):
                    out.append(msg)
        return out

    def take_handed(self):
        """Take the tasks a task process's ``host.getTasks`` found assigned to this host
        (handed over the pipe; TaskContext.hand_tasks) as the cycle would take its own
        getTasks' answer (:meth:`_take_assigned`), without the cycle: the hub's scheduler
        assigned them in the call that made them (a newRepo's createrepo children), and the
        cycle's reads and check-in would tell this daemon nothing new. Only the newest
        message counts, and only when it was asked after the last cycle's getTasks (an
        older one is that cycle's news already), this host was ready at that cycle and has
        room now (the local checks the cycle makes before a further task).
        Returns True when a message was acted on (the cycle is not needed for it)."""
        msgs = [m for m in self._read_handed()
                if self.tasks_asked is None or m["asked"] > self.tasks_asked]
        if not msgs or not self.ready or not self._room_for_another():
            return False
        newest = max(msgs, key=lambda m: m["asked"])
        tasks = [t for t in newest["tasks"] if isinstance(t, dict)
                 and t.get("host_id") == self.host_id]
        self.tasks_asked = newest["asked"]
        if tasks:
            self.logger.info("tasks %s handed over by task process %s",
                             ", ".join(str(t.get("id")) for t in tasks), newest.get("pid"))
        self._take_assigned(tasks)
        return True

    def drop_handed(self):
        """Empty the pipe from the task processes: the cycle starting reads the queue itself."""
        self._read_handed()

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


def task_process_signals():
    """SIGUSR2 in a task process just forked: a handler, so that ``TaskContext.wait`` knows
    the daemon can wake it. The wake is sent to the process's main thread
    (:func:`signal_main_thread`), where the wait blocks it and takes it; the signal is not
    blocked for the whole process, so the programs a task runs do not inherit it blocked."""
    signal.signal(signal.SIGUSR2, lambda *args: None)


class _Answering:
    """A session that answers the calls in ``answers`` (``{(name, args, sorted kwargs):
    answer}``) once each without asking the hub, and passes every other call to ``session``
    (see TaskManager.prefetch_cycle)."""

    def __init__(self, session, answers, prefix=""):
        self._session, self._answers, self._prefix = session, answers, prefix

    def __getattr__(self, name):
        if name.startswith("_"):
            return getattr(self._session, name)
        full = self._prefix + name
        if name == "host" and not self._prefix:
            return _Answering(self._session.host, self._answers, "host.")
        real = getattr(self._session, name)

        def call(*args, **kwargs):
            key = (full, args, tuple(sorted(kwargs.items())))
            try:
                if key in self._answers:
                    return self._answers.pop(key)
            except TypeError:   # an argument that cannot be a key: asked as usual
                pass
            return real(*args, **kwargs)

        return call if callable(real) else real


def _logout_quietly(session):
    try:
        session.logout()
    except Exception:
        pass


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
        #: the bell count of the waiter's last wake, written before its SIGUSR1 (shared with
        #: the waiter process: an anonymous shared mapping made before the fork)
        self.woke = mmap.mmap(-1, 8)
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
                code = _wait_loop(sub, daemon_pid, self.opts.poll_interval, self.woke)
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
            kill_and_reap(self.pid)
            self.pid = None

    def woke_for(self):
        """The bell count the waiter's last SIGUSR1 was sent for (or a later one)."""
        return struct.unpack_from("q", self.woke, 0)[0]


def _wait_loop(session, daemon_pid, poll_interval, woke=None):
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
            if woke is not None and isinstance(seq, int):
                struct.pack_into("q", woke, 0, seq)
            try:
                os.kill(daemon_pid, signal.SIGUSR1)
            except OSError:
                return 0
        elif not answer.get("waited") and seen is not None:
            time.sleep(poll_interval)   # the hub has enough waiters: no busy loop
        seen = seq
    return 0


def kill_and_reap(pid, kill=os.kill):
    """SIGKILL ``pid`` (``kill=os.killpg``: its whole process group, or the process alone when
    it has no group of that id, e.g. killed before its ``setpgrp``) and reap it; either may be
    gone already."""
    try:
        kill(pid, signal.SIGKILL)
    except OSError:
        if kill is not os.kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _idle(seconds):
    return signal.sigtimedwait(WAKE_SIGNALS, seconds)


def _seen_bell(tm, info):
    """True when ``info`` is the work waiter's SIGUSR1 for the bell count the last cycle's
    getTasks already covered (TaskManager.bell_seen): a task process's subtask wakes the
    daemon itself, and the hub's bell for the same subtask reaches the waiter too; its wake
    would start a cycle that finds nothing new. Only the same count: a lower one may come
    from a restarted hub."""
    waiter = getattr(tm, "bell_waiter", None)
    seen = getattr(tm, "bell_seen", None)
    if waiter is None or seen is None or info.si_pid != waiter.pid:
        return False
    return waiter.woke_for() == seen


def _seen_subtask(tm, info):
    """True when ``info`` is a task process's SIGUSR1 for subtasks whose creation was
    answered (so committed) before the last cycle's getTasks was asked
    (TaskManager.tasks_asked, subtask_wakes): that getTasks saw them. The other order of
    _seen_bell's case: the hub's bell for a subtask reaches the waiter, whose wake runs the
    cycle, and the task process's own signal comes after it. The mapping holds the latest
    such time of any task process, so a signal is slept through only when every subtask
    signalled so far was seen."""
    waiter = getattr(tm, "bell_waiter", None)
    if waiter is not None and info.si_pid == waiter.pid:
        return False
    asked = getattr(tm, "tasks_asked", None)
    stamp = getattr(tm, "subtask_wakes", None)
    if asked is None or stamp is None:
        return False
    made = struct.unpack_from("d", stamp, 0)[0]
    return 0 < made < asked


def _took_handed(tm, info):
    """True when ``info`` is a task process's SIGUSR1 whose subtasks it handed over and the
    daemon took them (TaskManager.take_handed): no cycle is needed for that wake."""
    waiter = getattr(tm, "bell_waiter", None)
    if waiter is not None and info.si_pid == waiter.pid:
        return False
    take = getattr(tm, "take_handed", None)
    if take is None:
        return False
    try:
        return take()
    except Exception:
        log.exception("taking the tasks a task process handed over failed")
        return False


def _idle_until_work(tm, poll_interval, reap_alone=False):
    """The idle sleep: until ``poll_interval`` has passed or a wake signal came. With
    ``reap_alone`` (the work waiter runs) a wake that is only task processes ending
    (SIGCHLD), while the host had room at its last check-in, is answered by reaping them
    here (TaskManager.reap_local) and the sleep goes on: the cycle it used to start (five
    hub calls, then two) told the hub nothing its scheduler needs, and the bell or the poll
    brings the next one. kojid sleeps through SIGCHLD. The work waiter's wake for a bell
    count the last cycle already covered is slept through too (_seen_bell), and so is a task
    process's wake for subtasks that cycle saw (_seen_subtask). Returns True when
    the whole ``poll_interval`` passed without a wake (a quiet moment)."""
    deadline = time.monotonic() + poll_interval
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        info = _idle(remaining)
        if info is None:
            return True
        sig = info.si_signo
        if sig == signal.SIGUSR1 and (_seen_bell(tm, info) or _seen_subtask(tm, info)):
            continue
        if sig == signal.SIGUSR1 and _took_handed(tm, info):
            continue
        if not reap_alone or sig != signal.SIGCHLD or tm.was_full:
            return False
        if _drain_wakes() - {signal.SIGCHLD}:
            return False
        try:
            tm.reap_local()
        except Exception:
            log.exception("reaping task processes failed")
            return False


def _before_task_processes():
    """What each createrepo task process would otherwise find out for itself, found out once
    in the daemon before it forks them: whether this Python's zlib compresses as the
    createrepo_c library does (repowrite.zlib_matches_library: 10 ms and a temporary file, on
    the path of every tag change's repo)."""
    try:
        from ...rpmtools import repowrite

        repowrite.zlib_matches_library()
    except Exception:
        log.debug("zlib check before the task processes failed", exc_info=True)


def _keep_spares(tm):
    if tm.spares is not None:
        try:
            tm.spares.ensure(tm.session)
        except OSError:
            log.exception("no spare task process")


def _drain_wakes():
    """Take the wake signals already pending: the cycle about to start answers them (a task
    that created a subtask sends SIGUSR1 and the hub's bell wakes the waiter for the same
    subtask: one cycle, not two). Those arriving during the cycle still end the next sleep."""
    taken = set()
    while True:
        info = signal.sigtimedwait(WAKE_SIGNALS, 0)
        if info is None:
            return taken
        taken.add(info.si_signo)


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
    tm.bell_waiter = waiter
    _before_task_processes()
    if getattr(opts, "spare", False):
        from .spare import SpareKeeper

        tm.spares = SpareKeeper(lambda: die_with_parent(tm.daemon_pid), tm.run_handed)
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
                tm.drop_handed()
                tm.prefetch_cycle()
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
            if cycles == 1:
                _keep_spares(tm)
            # With the work waiter running, also after taking tasks (kojid polls again at
            # once: it takes one task per cycle; this daemon took every task assigned to it,
            # so the next cycle would find nothing new). What may follow is signalled: a task
            # process that ends (SIGCHLD) or makes a subtask (SIGUSR1), the hub's work bell
            # (the waiter's SIGUSR1; rung also when a per-run limit of the scheduler left
            # tasks to assign); polling stays the fallback.
            waiting = waiter is not None and waiter.pid is not None
            if not taken or waiting:
                if _idle_until_work(tm, opts.poll_interval, reap_alone=waiting):
                    # spares are forked at a quiet moment, not right after a take, when the
                    # fork and the new spare's TLS handshake would take CPU from the task
                    # just started
                    _keep_spares(tm)
    except (_Stop, KeyboardInterrupt, koji.tasks.ServerExit) as exc:
        log.info("stopping (%s)", exc.__class__.__name__ if not isinstance(exc, _Stop)
                 else "signal %s" % exc.args[0])
    finally:
        if tm.spares is not None:
            tm.spares.stop()
            tm.spares = None
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
        os.execve(sys.executable,
                  childproc.module_command("pungi_like.cli.builder", *sys.argv[1:]),
                  childproc.module_env())
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
