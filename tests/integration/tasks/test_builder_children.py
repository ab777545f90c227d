"""Issue 8 finding 9 on the builder: killing only the builder daemon must not leave its task
process running (a restarted daemon frees the task as stale and runs it again), and the task it
was running is then taken once more by the new daemon only."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import koji
import pytest

pytestmark = pytest.mark.integration


def _children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid):
    """True while ``pid`` runs (a zombie, or a pid reused by another program, counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def _wait_gone(pids, timeout=20.0):
    """The pids still running after ``timeout`` seconds (an upper bound, not a measured time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _wait_state(session, tid, states, timeout=60.0):
    end = time.monotonic() + timeout
    while True:
        info = session.getTaskInfo(tid)
        if info["state"] in states:
            return info
        assert time.monotonic() < end, "task %d stayed %s" % (
            tid, koji.TASK_STATES[info["state"]])
        time.sleep(0.1)


def test_task_process_dies_with_its_daemon(sqlite_qhub):
    hub = sqlite_qhub
    hub.add_builder_hosts(names=("b1",))
    s = hub.session()
    daemon = hub.start_builder("b1")
    # long enough that a surviving orphan would still be sleeping when it is looked for
    tid = s.makeTask("sleep", [120])
    _wait_state(s, tid, (koji.TASK_STATES["OPEN"],))
    end = time.monotonic() + 30
    while not re.search(r"task %d \(sleep\) started in process (\d+)" % tid,
                        hub.builder_log("b1")):
        assert time.monotonic() < end, hub.builder_log("b1")
        time.sleep(0.1)
    child = int(re.search(r"task %d \(sleep\) started in process (\d+)" % tid,
                          hub.builder_log("b1")).group(1))
    assert child in _children_of(daemon.pid)
    os.kill(daemon.pid, signal.SIGKILL)     # only the daemon
    daemon.wait()
    assert _wait_gone([child]) == [], "task process %d outlived its daemon" % child
    # the restarted daemon frees the stale task and runs it again: exactly one process runs it
    hub.start_builder("b1")
    end = time.monotonic() + 60
    while len(re.findall(r"task %d \(sleep\) started in process" % tid,
                         hub.builder_log("b1"))) < 2:
        assert time.monotonic() < end, hub.builder_log("b1")
        time.sleep(0.1)
    assert "freeing stale tasks: [%d]" % tid in hub.builder_log("b1")   # kojid engine's words
    info = s.getTaskInfo(tid)
    assert info["state"] == koji.TASK_STATES["OPEN"]
    assert s.getHost(info["host_id"])["name"] == "b1"
    s.cancelTask(tid)


def test_sigterm_stops_the_daemon_and_its_task_processes(sqlite_qhub):
    hub = sqlite_qhub
    hub.add_builder_hosts(names=("b1",))
    s = hub.session()
    daemon = hub.start_builder("b1")
    tid = s.makeTask("sleep", [120])
    _wait_state(s, tid, (koji.TASK_STATES["OPEN"],))
    end = time.monotonic() + 30
    while not _children_of(daemon.pid):
        assert time.monotonic() < end
        time.sleep(0.1)
    kids = _children_of(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    assert _wait_gone(kids) == []
    # the daemon gave its task back on the way out
    assert s.getTaskInfo(tid)["state"] == koji.TASK_STATES["FREE"]


def test_a_freed_task_is_not_run_beside_its_old_process(sqlite_qhub, tmp_path):
    """The hub freed a task (a late check-in) and assigned it to this host again while the
    daemon still has a process for it (kojid's TaskManager would open it beside that process).
    Taking the task again must end that process first, so two runs never overlap."""
    from pungi_like.buildsvc.builder.daemon import BuilderOptions, make_manager

    hub = sqlite_qhub
    hub.add_builder_hosts(names=("b1",))
    s = hub.session()
    tm = make_manager(BuilderOptions(
        hub=hub.url, cert=os.path.join(hub.pki, "b1.pem"),
        serverca=os.path.join(hub.pki, "ca.crt"), topdir=hub.topdir,
        workdir=str(tmp_path / "w"), capacity=4.0))
    tid = s.makeTask("sleep", [60])
    # the process of the earlier run, as the daemon knows it (its own process group)
    old = subprocess.Popen(["sleep", "300"], start_new_session=True)
    tm.pids[tid] = old.pid
    try:
        # getNextTask checks in (the host becomes ready, the scheduler assigns it the task)
        # and then takes what is assigned; the second poll finds the assignment
        for _ in range(3):
            if tm.getNextTask():
                break
        assert _wait_gone([old.pid]) == [], "the old run's process still runs"
        assert tid in tm.pids and tm.pids[tid] != old.pid
        info = _wait_state(s, tid, (koji.TASK_STATES["OPEN"],))
        assert s.getHost(info["host_id"])["name"] == "b1"
    finally:
        if old.poll() is None and _alive(old.pid):
            old.kill()
        tm.shutdown()
    assert s.getTaskInfo(tid)["state"] == koji.TASK_STATES["FREE"]
