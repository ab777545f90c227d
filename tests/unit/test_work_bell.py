"""The hub's work bell (host.waitWork's wait), the builder's direct wake of a parent task's
process, and TaskContext.hub_files (many hub_file look-ups at once, the same refusals)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pungi_like.buildsvc.builder.daemon import wake_parent_task
from pungi_like.buildsvc.builder.taskctx import TaskContext
from pungi_like.buildsvc.hub import work_bell
from pungi_like.buildsvc.pathinfo import UnsafePathError


class _Hub:
    pass


def test_wait_returns_at_once_when_the_bell_rang_since_seen():
    hub = _Hub()
    work_bell.ring(hub)
    answer = work_bell.Waiting(hub, 0, 5.0).wait()
    assert answer == {"seq": 1, "waited": False}


def test_wait_ends_when_the_bell_rings():
    hub = _Hub()
    waiting = work_bell.Waiting(hub, 0, 30.0)
    got = []
    t = threading.Thread(target=lambda: got.append(waiting.wait()))
    t.start()
    time.sleep(0.2)
    assert t.is_alive() and not got
    work_bell.ring(hub)
    t.join(10)
    assert got == [{"seq": 1, "waited": True}]


def test_wait_times_out_with_the_same_count():
    hub = _Hub()
    assert work_bell.Waiting(hub, 0, 0.05).wait() == {"seq": 0, "waited": True}


def test_no_more_than_max_waiters_and_release(monkeypatch):
    monkeypatch.setattr(work_bell, "MAX_WAITERS", 2)
    hub = _Hub()
    got = []
    threads = [threading.Thread(target=lambda: got.append(work_bell.Waiting(hub, 0, 30).wait()))
               for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while work_bell._bell(hub)["waiters"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # a third is answered at once, without waiting
    assert work_bell.Waiting(hub, 0, 30).wait() == {"seq": 0, "waited": False}
    work_bell.release(hub)
    for t in threads:
        t.join(10)
    assert got == [{"seq": 1, "waited": True}] * 2
    # a stopping hub keeps nobody waiting
    assert work_bell.Waiting(hub, 1, 30).wait() == {"seq": 1, "waited": False}


def test_waiting_is_its_answer_in_a_multicall():
    hub = _Hub()
    assert dict(work_bell.Waiting(hub, 0, 1)) == {"seq": 0, "waited": False}


def _sleeper():
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGUSR2, lambda *a: sys.exit(7))\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_wake_parent_task_only_signals_a_process_of_that_daemon():
    proc = _sleeper()
    try:
        # not a process of a daemon with that pid: nothing is sent
        assert wake_parent_task(proc.pid, os.getpid() + 100000) is False
        assert proc.poll() is None
        assert wake_parent_task(proc.pid, os.getpid()) is True
        assert proc.wait(10) == 7
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    # a pid that is gone
    assert wake_parent_task(proc.pid, os.getpid()) is False


def _ctx(tmp_path, top):
    ctx = TaskContext.__new__(TaskContext)
    ctx.topdir = str(top)
    ctx.topurl = None
    ctx.workdir = str(tmp_path / "w")
    return ctx


def test_hub_files_same_paths_and_refusals_as_hub_file(tmp_path):
    top = tmp_path / "top"
    pkg = top / "packages" / "a" / "1" / "1" / "noarch"
    pkg.mkdir(parents=True)
    (pkg / "a-1-1.noarch.rpm").write_text("x")
    # a symlink inside the top directory that stays inside: allowed, as by hub_file
    (top / "packages" / "b").symlink_to("a")
    ctx = _ctx(tmp_path, top)
    rels = ["packages/a/1/1/noarch/a-1-1.noarch.rpm", "packages/b/1/1/noarch/a-1-1.noarch.rpm",
            "packages/missing/1/1/noarch/m-1-1.noarch.rpm"]
    assert ctx.hub_files(rels) == [ctx.hub_file(r) for r in rels]
    # one that leads out of it: refused, as by hub_file
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.rpm").write_text("s")
    (top / "packages" / "evil").symlink_to(outside)
    for bad in ("packages/evil/secret.rpm", "packages/../../outside/secret.rpm"):
        with pytest.raises(UnsafePathError):
            ctx.hub_file(bad)
        with pytest.raises(UnsafePathError):
            ctx.hub_files(["packages/a/1/1/noarch/a-1-1.noarch.rpm", bad])


def test_build_relpath_is_pathinfo_build_as_text(tmp_path):
    from pungi_like.buildsvc.hub.repos import build_relpath
    from pungi_like.buildsvc.pathinfo import PathInfo

    pi = PathInfo(str(tmp_path))
    for build in ({"name": "foo", "version": "1.0", "release": "2.fc40"},
                  {"package_name": "foo", "version": "1", "release": "1",
                   "volume_name": "DEFAULT"},
                  {"name": "bar", "version": "1", "release": "1", "volume_name": "archive"}):
        assert build_relpath(build) == os.path.relpath(pi.build(build), pi.topdir)
    with pytest.raises(UnsafePathError):
        build_relpath({"name": "..", "version": "1", "release": "1"})


class _Recorder:
    """A stand-in for koji.ClientSession: records the calls that reach it."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if name == "host":
            return _RecorderHost(self)
        return lambda *a, **k: self.calls.append((name, a, k)) or name


class _RecorderHost:
    def __init__(self, rec):
        self.rec = rec

    def __getattr__(self, name):
        return lambda *a, **k: self.rec.calls.append(("host." + name, a, k)) or name


def test_prefetched_answers_serve_the_same_call_once():
    """The daemon's cycle asks its three reads in one multicall; the engine's own calls of
    them get those answers, once each and only with the same arguments, and everything else
    still goes to the hub."""
    from pungi_like.buildsvc.builder.daemon import _Answering

    rec = _Recorder()
    answers = {("listBuildroots", (), (("hostID", 3), ("state", (0, 1, 2)))): ["br"],
               ("host.getHostTasks", (), ()): ["task"]}
    s = _Answering(rec, answers)
    assert s.listBuildroots(hostID=3, state=(0, 1, 2)) == ["br"]
    assert s.host.getHostTasks() == ["task"]
    assert rec.calls == []
    # asked again, or with other arguments: the hub answers
    assert s.host.getHostTasks() == "getHostTasks"
    assert s.listBuildroots(hostID=4, state=(0, 1, 2)) == "listBuildroots"
    assert s.logoutChild(9) == "logoutChild"
    assert [c[0] for c in rec.calls] == ["host.getHostTasks", "listBuildroots", "logoutChild"]
    assert answers == {}


@pytest.fixture
def other_thread():
    """A thread of this process with the wake signals unblocked, idle for the test, as threads
    left by earlier tests of a run are: a signal sent to the process, not to the test's
    thread, would go to it (the kernel picks a thread that has the signal unblocked)."""
    done = threading.Event()
    t = threading.Thread(target=done.wait, daemon=True)
    t.start()
    yield t
    done.set()
    t.join(10)


class _Manager:
    def __init__(self, was_full):
        self.was_full, self.reaped = was_full, 0

    def reap_local(self):
        self.reaped += 1
        return True


@pytest.mark.parametrize("was_full, also, reaped", [
    (False, None, 1),                 # a task process ended, room left: reaped, no cycle
    (True, None, 0),                  # the host was full: the cycle comes at once
    (False, signal.SIGUSR1, 0),       # work signalled too: the cycle comes at once
])
def test_idle_reaps_alone_only_while_the_host_has_room(was_full, also, reaped, other_thread):
    from pungi_like.buildsvc.builder.daemon import WAKE_SIGNALS, _drain_wakes, _idle_until_work

    old = signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    try:
        _drain_wakes()
        tm = _Manager(was_full)
        if also is not None:
            signal.pthread_kill(threading.get_ident(), also)
        signal.pthread_kill(threading.get_ident(), signal.SIGCHLD)
        _idle_until_work(tm, 0.2, reap_alone=True)
        assert tm.reaped == reaped
        _drain_wakes()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _usr1_from_a_child():
    """SIGUSR1 sent to this thread by a child that then exits (its SIGCHLD is reaped
    alone); the child's pid, for a test that makes it the waiter or not.

    The signal is directed at this thread (tgkill), not at the process: a signal sent to the
    process goes to any of its threads that has it unblocked, and in a test run threads
    left by earlier tests do, so this thread's sigtimedwait would not see it."""
    from pungi_like.buildsvc.builder.daemon import _libc

    tgkill = _libc().tgkill          # the daemon's signal_main_thread uses it too
    parent, tid = os.getpid(), threading.get_native_id()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if tgkill(parent, tid, signal.SIGUSR1) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "tgkill failed in the child"
    return pid


class _Waiter:
    def __init__(self, pid, woke):
        import mmap
        import struct

        self.pid = pid
        self.woke = mmap.mmap(-1, 8)
        struct.pack_into("q", self.woke, 0, woke)

    def woke_for(self):
        from pungi_like.buildsvc.builder.daemon import WorkWaiter

        return WorkWaiter.woke_for(self)


@pytest.mark.parametrize("woke, seen, from_waiter, quiet", [
    (5, 5, True, True),      # the waiter woke for the count the last getTasks covered: slept
    (6, 5, True, False),     # a later count: the cycle comes at once
    (4, 5, True, False),     # a lower one (a restarted hub?): the cycle comes at once
    (5, None, True, False),  # no count noted by the last cycle
    (5, 5, False, False),    # SIGUSR1 from a task process (a subtask): the cycle comes
])
def test_idle_sleeps_through_a_bell_the_last_cycle_saw(woke, seen, from_waiter, quiet, other_thread):
    from pungi_like.buildsvc.builder.daemon import WAKE_SIGNALS, _drain_wakes, _idle_until_work

    old = signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    try:
        _drain_wakes()
        pid = _usr1_from_a_child()
        tm = _Manager(was_full=False)
        tm.bell_seen = seen
        tm.bell_waiter = _Waiter(pid if from_waiter else 1, woke)
        assert _idle_until_work(tm, 0.3, reap_alone=True) is quiet
        _drain_wakes()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@pytest.mark.parametrize("made, asked, quiet", [
    (10.0, 11.0, True),    # answered before the last cycle asked getTasks: that one saw it
    (12.0, 11.0, False),   # answered after: the cycle comes at once
    (0.0, 11.0, False),    # no time written
    (10.0, None, False),   # the last cycle had no getTasks
])
def test_idle_sleeps_through_a_subtask_the_last_cycle_saw(made, asked, quiet, other_thread):
    """A task process's SIGUSR1 after its subtask was created, when the waiter's wake for the
    same subtask's bell had run the cycle first (daemon._seen_subtask)."""
    import mmap
    import struct

    from pungi_like.buildsvc.builder.daemon import WAKE_SIGNALS, _drain_wakes, _idle_until_work

    old = signal.pthread_sigmask(signal.SIG_BLOCK, WAKE_SIGNALS)
    try:
        _drain_wakes()
        _usr1_from_a_child()
        tm = _Manager(was_full=False)
        tm.bell_seen = 5
        tm.bell_waiter = _Waiter(1, 5)   # the signal is not the waiter's
        tm.subtask_wakes = mmap.mmap(-1, 8)
        struct.pack_into("d", tm.subtask_wakes, 0, made)
        tm.tasks_asked = asked
        assert _idle_until_work(tm, 0.3, reap_alone=True) is quiet
        _drain_wakes()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def test_a_subtasks_wake_writes_its_time_first(monkeypatch):
    import mmap
    import struct
    import time

    from pungi_like.buildsvc.builder.taskctx import TaskContext

    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append(
        (pid, sig, struct.unpack_from("d", stamp, 0)[0])))
    stamp = mmap.mmap(-1, 8)
    ctx = TaskContext.__new__(TaskContext)
    monkeypatch.setattr(TaskContext, "daemon_pid", 4242)
    monkeypatch.setattr(TaskContext, "wake_stamp", stamp)
    before = time.monotonic()
    ctx._wake_daemon()
    assert sent and sent[0][:2] == (4242, signal.SIGUSR1) and sent[0][2] >= before


def test_a_hosts_ring_ends_only_that_hosts_wait():
    hub = _Hub()
    got = {}

    def wait(host_id):
        got[host_id] = work_bell.Waiting(hub, 0, 30.0, host_id).wait()

    threads = {h: threading.Thread(target=wait, args=(h,)) for h in (1, 2)}
    for t in threads.values():
        t.start()
    deadline = time.monotonic() + 10
    while work_bell._bell(hub)["waiters"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    work_bell.ring_hosts(hub, [2])
    threads[2].join(10)
    assert got == {2: {"seq": 1, "waited": True}}
    assert threads[1].is_alive()
    # the bell of every builder ends the other's wait; host 2's count is the bell's + its own
    work_bell.ring(hub)
    threads[1].join(10)
    assert got[1] == {"seq": 1, "waited": True}
    assert work_bell.Waiting(hub, 1, 30.0, 2).wait() == {"seq": 2, "waited": False}
    assert dict(work_bell.Waiting(hub, None, 30.0, 2)) == {"seq": 2, "waited": False}
    # a wait of no host sees only the bell's count
    assert work_bell.Waiting(hub, 1, 0.01).wait() == {"seq": 1, "waited": True}
