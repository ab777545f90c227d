"""Koji's own builder engine on our hub (issue 16): ``koji.daemon.TaskManager`` from the
installed koji library, with only ``koji.tasks``' standard handlers, runs as host ``builder1``
and completes what the hub's scheduler assigns it (kojid 1.34+ opens only ASSIGNED tasks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import koji

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
ENGINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kojid_engine.py")
CLOSED, CANCELED = koji.TASK_STATES["CLOSED"], koji.TASK_STATES["CANCELED"]


def _start_engine(hub, name):
    from pungi_like.buildsvc import certs

    if not os.path.exists(os.path.join(hub.pki, name + ".pem")):
        certs.make_user_cert(hub.pki, name)
    log = os.path.join(hub.tmp, name + ".engine.log")
    workdir = os.path.join(hub.tmp, name + ".work")
    cmd = [sys.executable, ENGINE, "--hub", hub.url, "--cert", os.path.join(hub.pki, name + ".pem"),
           "--serverca", os.path.join(hub.pki, "ca.crt"), "--workdir", workdir,
           "--topdir", hub.topdir, "--topurl", hub.url.replace("kojihub", "kojifiles"),
           "--sleeptime", "0.3"]
    with open(log, "ab") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    proc.log = log
    hub.builders[name] = proc
    return proc


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _wait_state(hub, s, tid, states, timeout=180):
    end = time.monotonic() + timeout
    while True:
        info = s.getTaskInfo(tid)
        if info["state"] in states:
            return info
        if time.monotonic() > end:
            raise AssertionError("task %d still %s; engine log:\n%s" % (
                tid, koji.TASK_STATES[info["state"]], _read(hub.builders["builder1"].log)[-4000:]))
        time.sleep(0.3)


def test_kojid_engine_runs_standard_tasks(patient_qhub):
    hub = patient_qhub
    hub.koji("add-host", "builder1", "x86_64")
    s = hub.session()
    host = s.getHost("builder1")
    assert "default" in [c["name"] for c in s.listChannels(hostID=host["id"])]
    engine = _start_engine(hub, "builder1")

    sleep = s.makeTask("sleep", [1])
    fork = s.makeTask("fork", [2, 1])
    chain = s.makeTask("subtask", [2])      # subtask(2) -> subtask(1) -> subtask(0) -> sleep
    waittest = s.makeTask("waittest", [2, 1])
    dep = s.makeTask("dependantTask", [[sleep], [["sleep", [1]]]])
    for tid in (sleep, fork, chain, waittest, dep):
        info = _wait_state(hub, s, tid, (CLOSED, koji.TASK_STATES["FAILED"], CANCELED))
        assert info["state"] == CLOSED, (tid, info["method"], s.getTaskResult(tid, raise_fault=False))
        assert info["host_id"] == host["id"]

    # the chain is three subtask levels deep, ending in a sleep, all run by builder1
    level, methods = chain, []
    while True:
        kids = s.getTaskChildren(level)
        if not kids:
            break
        assert len(kids) == 1
        methods.append(kids[0]["method"])
        assert kids[0]["state"] == CLOSED and kids[0]["host_id"] == host["id"]
        level = kids[0]["id"]
    assert methods == ["subtask", "subtask", "sleep"]
    # dependantTask started its sleep only after the task it waited for
    child = s.getTaskChildren(dep)[0]
    assert child["method"] == "sleep" and child["state"] == CLOSED
    assert child["start_ts"] >= s.getTaskInfo(sleep)["completion_ts"]
    # waittest: its failing child may fail (canfail) and the parent still closes
    states = sorted(koji.TASK_STATES[c["state"]] for c in s.getTaskChildren(waittest))
    assert states == ["CLOSED", "CLOSED", "FAILED"]

    # a canceled task ends CANCELED and the engine kills its process
    long = s.makeTask("sleep", [600])
    _wait_state(hub, s, long, (koji.TASK_STATES["OPEN"],))
    s.cancelTask(long)
    assert s.getTaskInfo(long)["state"] == CANCELED
    end = time.monotonic() + 60
    while "Killing canceled task %d" % long not in _read(engine.log):
        assert time.monotonic() < end, _read(engine.log)[-4000:]
        time.sleep(0.3)
    after = s.makeTask("sleep", [1])
    assert _wait_state(hub, s, after, (CLOSED,))["host_id"] == host["id"]

    # koji scheduler-info shows the runs: the chain's task ran on builder1 and is closed
    out = hub.koji("scheduler-info", "--task", chain).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith(str(chain) + " ")]
    assert [r[:3] for r in rows] == [[str(chain), "builder1", "CLOSED"]], out

    log = _read(engine.log)
    assert "is not assigned" not in log and "is not ours" not in log
    # the one traceback is waittest's deliberately bad child (sleep 'BAD_ARG'), nothing else
    assert log.count("TRACEBACK") == 1, log[-4000:]
    assert "TypeError: 'str' object cannot be interpreted as an integer" in log
    assert " ERROR " not in log, log[-4000:]
    engine.send_signal(signal.SIGTERM)
    engine.wait(timeout=30)
    assert s.getHost("builder1")["ready"] is False
