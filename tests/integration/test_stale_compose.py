"""A compose killed with SIGKILL stays STARTED; the next compose in the same target directory
reports it (and only it: a finished compose and one whose driver still runs are not stale)."""

import os
import signal
import subprocess
import time

import pytest

from pungi_like import stale
from pungi_like.universe.rpmbuild import Package
from tests.integration.tinycompose import compose_dirs, driver_cmd, make_inputs, run_compose

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stale")
    return make_inputs(str(tmp), [Package("tool", files={"/usr/bin/tool": "#!/bin/sh\n"})],
                       ["tool"])


def _kill_when_started(conf, target):
    """Start a compose and SIGKILL its driver once its STATUS says STARTED."""
    before = set(compose_dirs(target))
    proc = subprocess.Popen(driver_cmd(conf, target), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        dirs = [d for d in compose_dirs(target) if d not in before]
        status = os.path.join(dirs[0], "STATUS") if dirs else None
        driver = os.path.join(dirs[0], stale.DRIVER_FILE) if dirs else None
        if status and os.path.exists(status) and open(status).read().strip() == "STARTED" \
                and os.path.exists(driver):
            break
        assert proc.poll() is None, "the compose ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return dirs[0]


def test_killed_compose_is_reported_by_the_next_one(conf, tmp_path):
    target = tmp_path / "composes"
    finished_proc, finished = run_compose(conf, target)
    assert finished_proc.returncode == 0, finished_proc.stderr
    killed = _kill_when_started(conf, target)
    assert open(os.path.join(killed, "STATUS")).read().strip() == "STARTED"
    assert "is gone" in stale.is_stale(killed)
    assert stale.is_stale(finished) is None

    proc, newest = run_compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    name = os.path.basename(killed)
    expected = "Compose %s stayed STARTED and will not finish: its driver (pid" % name
    assert expected in proc.stderr  # shown even with --quiet (a warning)
    assert expected in open(os.path.join(newest, "logs/global/pungi.global.log")).read()
    assert os.path.basename(finished) not in proc.stderr


def test_a_compose_whose_driver_still_runs_is_not_stale(tmp_path):
    top = tmp_path / "X-1-20261204.n.0"
    os.makedirs(top / "work" / "global")
    (top / "STATUS").write_text("STARTED\n")
    stale.record_driver(str(top))  # this very process: alive
    assert stale.is_stale(str(top)) is None
    # the same pid with another start time: the pid was reused by another process
    import json

    info = json.loads((top / stale.DRIVER_FILE).read_text())
    info["start_time"] -= 1
    (top / stale.DRIVER_FILE).write_text(json.dumps(info))
    assert "the pid now belongs to another process" in stale.is_stale(str(top))
    # another machine's compose is not judged from here
    info["host"] = "elsewhere.example.com"
    (top / stale.DRIVER_FILE).write_text(json.dumps(info))
    assert stale.is_stale(str(top)) is None
