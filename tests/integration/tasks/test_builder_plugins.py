"""pungi-like-builder loads kojid plugins as kojid does (``pluginpath``/``plugins``, from
builder.conf or flags): their task handlers run on the builder; a plugin that is not there is a
clear error and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import koji

PLUGIN = '''\
import koji.tasks


class HelloTask(koji.tasks.BaseTaskHandler):
    Methods = ["hello"]
    _taskWeight = 0.1

    def handler(self, name):
        return "hello %s from task %d" % (name, self.id)
'''


def test_builder_runs_a_kojid_plugins_task(sqlite_qhub, tmp_path):
    hub = sqlite_qhub
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    (plugdir / "hello_tasks.py").write_text(PLUGIN)
    hub.add_builder_hosts(names=("b1",), channels=())
    conf = tmp_path / "builder.conf"
    conf.write_text("[kojid]\npluginpath = %s\nplugins = hello_tasks\n" % plugdir)
    hub.start_builder("b1", extra=["--config", str(conf)])
    s = hub.session()
    tid = s.makeTask("hello", ["world"])
    end = time.monotonic() + 120       # an upper bound on a loaded machine
    while s.getTaskInfo(tid)["state"] not in (koji.TASK_STATES["CLOSED"],
                                              koji.TASK_STATES["FAILED"]):
        assert time.monotonic() < end, hub.builder_log("b1")[-3000:]
        time.sleep(0.2)
    assert s.getTaskResult(tid) == "hello world from task %d" % tid
    assert s.getHost(s.getTaskInfo(tid)["host_id"])["name"] == "b1"


def test_a_missing_plugin_is_an_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pungi_like.cli.builder", "--hub", "https://127.0.0.1:1/kojihub",
         "--cert", str(tmp_path / "x.pem"), "--serverca", str(tmp_path / "ca.crt"),
         "--plugin-path", str(tmp_path), "--plugins", "nosuch"],
        capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))))
    assert proc.returncode == 2
    assert "kojid plugin nosuch: no nosuch.py in the plugin path %s" % tmp_path in proc.stderr, \
        proc.stderr
