"""KojiWrapper against the seeded hub: profiles, login, events, tasks recorded and canceled
(also by SIGTERM to a running compose), uploads, multicalls, files."""

import json
import os
import signal
import subprocess
import sys
import time

import koji
import pytest

from kojisrc_helpers import ROOT, demo_config

pytestmark = pytest.mark.integration


class FakeCompose:
    def __init__(self, topdir):
        from pungi_like.paths import Paths

        self.paths = Paths(str(topdir))


@pytest.fixture
def wrapper(seeded, tmp_path):
    from pungi_like.kojiclient import KojiWrapper

    w = KojiWrapper(compose=FakeCompose(tmp_path / "compose"), profile="kojiadmin",
                    config_path=seeded.hub.conf)
    yield w
    w.close()


def test_profile_login_events_and_files(seeded, wrapper, tmp_path):
    from pungi_like.errors import HubError
    from pungi_like.kojiclient import KojiWrapper

    assert wrapper.local and wrapper.topdir == seeded.hub.topdir
    assert wrapper.session.getLoggedInUser()["name"] == "kojiadmin"
    assert wrapper.get_event(seeded.event)["id"] == seeded.event
    assert wrapper.get_event()["id"] >= seeded.event
    old = tmp_path / "old-compose"
    (old / "work" / "global").mkdir(parents=True)
    (old / "work" / "global" / "koji-event").write_text(json.dumps({"id": seeded.event}))
    assert wrapper.get_event(str(old))["id"] == seeded.event
    with pytest.raises(HubError, match="has no event 99999999"):
        wrapper.get_event(99999999)
    with pytest.raises(HubError, match="neither an event id nor a compose directory"):
        wrapper.get_event(str(tmp_path / "nothing"))

    builds = wrapper.multicall("getBuild", [["demo-utils-2.1-2"], ["no-such-1-1"]])
    assert builds[0]["nvr"] == "demo-utils-2.1-2" and builds[1] is None
    rpm = wrapper.session.getRPM("demo-utils-2.1-2.x86_64")
    path = wrapper.rpm_path(builds[0], rpm, seeded.key.sigkey.upper())
    assert path.endswith(f"/data/signed/{seeded.key.sigkey}/x86_64/demo-utils-2.1-2.x86_64.rpm")
    assert wrapper.exists(path)
    local = wrapper.fetch(path, str(tmp_path / "a.rpm"))
    assert os.path.samefile(local, path)

    # the same through /kojifiles
    remote = KojiWrapper(profile="kojiadmin", config_path=seeded.hub.conf, download=True)
    url = remote.rpm_path(builds[0], rpm, seeded.key.sigkey)
    assert url.startswith("https://") and remote.exists(url)
    assert not remote.exists(url + ".missing")
    got = remote.fetch(url, str(tmp_path / "b.rpm"))
    assert open(got, "rb").read() == open(path, "rb").read()
    remote.close()

    # uploads land in the hub's work/ under the returned server path
    ks = tmp_path / "demo.ks"
    ks.write_text("# a kickstart\n")
    server_path = wrapper.upload_file(str(ks), "cli-livecd")
    assert server_path.startswith("cli-livecd/") and server_path.endswith("/demo.ks")
    with open(os.path.join(seeded.hub.topdir, "work", server_path)) as fh:
        assert fh.read() == "# a kickstart\n"


def test_anonymous_profile_reads_without_login(seeded, tmp_path):
    from pungi_like.kojiclient import KojiWrapper

    conf = tmp_path / "anon.conf"
    conf.write_text(f"[anon]\nserver = {seeded.hub.url}\nserverca = {seeded.hub.ca}\n"
                    f"topdir = {seeded.hub.topdir}\nauthtype = noauth\n")
    w = KojiWrapper(profile="anon", config_path=str(conf))
    assert not w.wants_login
    assert w.session.getLoggedInUser() is None
    assert w.call("getTag", "demo-1.0-updates")["name"] == "demo-1.0-updates"
    w.close()


def test_recorded_tasks_are_canceled(seeded, wrapper, tmp_path):
    ids = [wrapper.session.runroot("demo-1.0-build", "x86_64", "sleep 600",
                                                  channel="default") for _ in range(2)]
    for task_id in ids:
        wrapper.record_task(task_id)
    tasks_dir = tmp_path / "compose" / "logs" / "global" / "koji-tasks"
    assert sorted(os.listdir(tasks_dir)) == sorted(str(i) for i in ids)
    assert all((tasks_dir / str(i)).stat().st_size == 0 for i in ids)
    assert sorted(wrapper.cancel_all()) == sorted(ids)
    for task_id in ids:
        info = wrapper.wait_for_task(task_id, poll=0.1, timeout=30)
        assert info["state"] == koji.TASK_STATES["CANCELED"]
    assert wrapper.cancel_all() == []           # finished tasks are left alone
    assert "canceled" in wrapper.task_failure(ids[0]).lower()


RUNNER = r'''
import faulthandler, signal, sys, types
faulthandler.register(signal.SIGUSR1)
import phases
from phases.base import PhaseBase

class HangPhase(PhaseBase):
    name = "hang"

    def units(self):
        return [self.unit("global", self._run, needs=["pkgset.global"])]

    def _run(self, unit):
        koji = self.compose.koji
        task_id = koji.session.runroot("demo-1.0-build", "x86_64", "sleep 600",
                                                  channel="default")
        koji.record_task(task_id)
        koji.wait_for_task(task_id, poll=0.2)
        return {}

module = types.ModuleType("phases.hang")
module.OPTIONS = []
module.HangPhase = HangPhase
HangPhase.__module__ = "phases.hang"
sys.modules["phases.hang"] = module
phases.PHASE_MODULES = list(phases.PHASE_MODULES) + ["hang"]
from pungi_like.cli.compose_driver import main
sys.exit(main(sys.argv[1:]))
'''


def test_sigterm_cancels_the_compose_tasks(seeded, koji_home, universe, tmp_path):
    conf = demo_config(tmp_path, universe)
    target = tmp_path / "target"
    target.mkdir()
    env = dict(os.environ, HOME=koji_home, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "--config", conf, "--target-dir",
                             str(target), "--nightly", "--quiet", "--koji-event",
                             str(seeded.event), "--just-phase", "pkgset", "--just-phase", "hang"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 120
        tasks_dir = None
        while time.time() < deadline:
            found = [d for d in os.listdir(target) if d.startswith("Demo-")]
            if found:
                tasks_dir = target / found[0] / "logs" / "global" / "koji-tasks"
                if tasks_dir.is_dir() and os.listdir(tasks_dir):
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        else:
            pytest.fail("the compose started no task")
        task_id = int(os.listdir(tasks_dir)[0])
        assert seeded.session.getTaskInfo(task_id)["state"] == koji.TASK_STATES["FREE"]
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)   # where is it stuck? (stacks on stderr)
            time.sleep(1)
            proc.kill()
            _out, err = proc.communicate()
            pytest.fail("the compose did not end on SIGTERM:\n" + err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 5, err
    assert seeded.session.getTaskInfo(task_id)["state"] == koji.TASK_STATES["CANCELED"]
