"""The builder's spare task process (builder/spare.py): a task handed to it runs as a task
process forked for it would - its own subsession of the host's session, expired when it is
reaped; its own process group, killed when the task is canceled - and a spare whose idle
connection the hub closed opens another and still runs its task at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import koji
import pytest

from tests.integration.tasks.conftest import start_queue_hub, stop_queue_hub

pytestmark = pytest.mark.integration

#: a kojid plugin whose task writes where it runs (pid, process group, subsession, user) and
#: starts a child process in its group, then waits (``hold`` seconds) or returns
PLUGIN = '''\
import json
import os
import subprocess
import time

import koji.tasks


class WhereTask(koji.tasks.BaseTaskHandler):
    Methods = ["where"]
    _taskWeight = 0.1

    def handler(self, out, hold):
        child = subprocess.Popen(["sleep", "300"])
        user = self.session.getLoggedInUser()
        with open(out + ".tmp", "w") as f:
            json.dump({"pid": os.getpid(), "pgrp": os.getpgrp(), "child": child.pid,
                       "session": self.session.sinfo["session-id"],
                       "user": user["name"]}, f)
        os.rename(out + ".tmp", out)
        time.sleep(hold)
        child.kill()
        child.wait()
        return user["name"]
'''


def _spares_of(daemon_pid, count=2, timeout=60.0):
    """The pids of the builder's waiting spare task processes, once there are ``count`` (an
    upper bound, not a timing)."""
    end = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(daemon_pid)],
                             capture_output=True, text=True).stdout
        spares = sorted(int(line.split()[0]) for line in out.splitlines()
                        if line.split()[1:] == ["task-spare"])
        if len(spares) >= count:
            return spares
        assert time.monotonic() < end, "not %d spare task processes: %s" % (count, out)
        time.sleep(0.1)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(cond, what, timeout=60.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, what()
        time.sleep(0.1)


def _builder_with_plugin(hub, tmp_path, extra=()):
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    (plugdir / "where_tasks.py").write_text(PLUGIN)
    hub.add_builder_hosts(names=("b1",), channels=())
    conf = tmp_path / "builder.conf"
    conf.write_text("[kojid]\npluginpath = %s\nplugins = where_tasks\n" % plugdir)
    return hub.start_builder("b1", extra=["--config", str(conf), *extra])


def test_a_task_in_the_spare_has_its_own_subsession_and_process_group(qhub, tmp_path):
    hub = qhub
    daemon = _builder_with_plugin(hub, tmp_path)
    s = hub.session()
    spares = _spares_of(daemon.pid)
    out = str(tmp_path / "where.json")
    tid = s.makeTask("where", [out, 300])
    _wait_for(lambda: os.path.exists(out), lambda: hub.builder_log("b1")[-3000:])
    with open(out) as f:
        where = json.load(f)
    # a spare ran it, in its own process group, as the host, with a session of its own
    spare = where["pid"]
    assert spare in spares
    assert where["pgrp"] == spare
    assert where["user"] == "b1"
    assert "task %d (where) started in process %d (the spare)" % (tid, spare) \
        in hub.builder_log("b1")
    info = s.getTaskInfo(tid)
    assert info["state"] == koji.TASK_STATES["OPEN"]
    assert s.getHost(info["host_id"])["name"] == "b1"
    # another spare is forked once the daemon is idle: two wait again, the task's not one
    assert spare not in _spares_of(daemon.pid)
    # canceled: the daemon kills the task's process group, the task's child with it, and
    # expires the subsession once it has reaped the process
    s.cancelTask(tid)
    _wait_for(lambda: not _alive(where["child"]) and not _alive(where["pid"]),
              lambda: "still running: %s" % where)
    _wait_for(lambda: "Expiring subsession %d (task %d)" % (where["session"], tid)
              in hub.builder_log("b1"), lambda: hub.builder_log("b1")[-3000:])
    assert s.getTaskInfo(tid)["state"] == koji.TASK_STATES["CANCELED"]


def test_a_spare_whose_connection_the_hub_closed_runs_its_task_at_once(task_pki, tmp_path):
    # the hub closes connections idle for 1 s: the spare's, opened ahead, is closed under it
    hub = start_queue_hub(tmp_path, task_pki, "sqlite", serve_args=("--timeout", "1"))
    try:
        daemon = _builder_with_plugin(hub, tmp_path, extra=("--log-level", "DEBUG"))
        s = hub.session()
        spares = _spares_of(daemon.pid)
        closed = "the hub closed its idle connection; opened another"
        _wait_for(lambda: hub.builder_log("b1").count(closed) >= 4,
                  lambda: hub.builder_log("b1")[-3000:])
        assert _spares_of(daemon.pid) == spares   # the same spares, on later connections
        out = str(tmp_path / "where.json")
        tid = s.makeTask("where", [out, 0])
        info = hub.wait_task(s, tid)
        assert info["state"] == koji.TASK_STATES["CLOSED"], hub.builder_log("b1")[-3000:]
        with open(out) as f:
            assert json.load(f)["pid"] in spares
        assert s.getTaskResult(tid) == "b1"
        # no call of the task met a dead connection and waited for koji's retry
        assert not re.search(r"Try #\d+ for call", hub.builder_log("b1"))
    finally:
        stop_queue_hub(hub)
