"""Koji's own builder engine on our hub (issue 16): ``koji.daemon.TaskManager`` from the
installed koji library, with only ``koji.tasks``' standard handlers, runs as host ``builder1``
and completes what the hub's scheduler assigns it (kojid 1.34+ opens only ASSIGNED tasks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types

import koji

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
ENGINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kojid_engine.py")
CLOSED, CANCELED = koji.TASK_STATES["CLOSED"], koji.TASK_STATES["CANCELED"]


def _start_engine(hub, name, extra=()):
    from pungi_like.buildsvc import certs

    if not os.path.exists(os.path.join(hub.pki, name + ".pem")):
        certs.make_user_cert(hub.pki, name)
    log = os.path.join(hub.tmp, name + ".engine.log")
    workdir = os.path.join(hub.tmp, name + ".work")
    cmd = [sys.executable, ENGINE, "--hub", hub.url, "--cert", os.path.join(hub.pki, name + ".pem"),
           "--serverca", os.path.join(hub.pki, "ca.crt"), "--workdir", workdir,
           "--topdir", hub.topdir, "--topurl", hub.url.replace("kojihub", "kojifiles"),
           "--sleeptime", "0.3", "--waitrepo-pause", "1"] + list(extra)
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


def _start_repo_builder(hub, name):
    """Our builder as host ``name`` in the createrepo channel only."""
    from pungi_like.buildsvc import certs

    if not os.path.exists(os.path.join(hub.pki, name + ".pem")):
        certs.make_user_cert(hub.pki, name)
    hub.add_builder_hosts(names=(name,), channels=("createrepo",))
    hub.koji("remove-host-from-channel", name, "default")
    hub.start_builder(name)
    return hub.session().getHost(name)


def _restart_hosts(hub, s, host, repo_host, engine):
    # the CLI waits for the task and exits 0 when it closed
    proc = hub.koji("restart-hosts", "--wait", timeout=300)
    (rh,) = [t["id"] for t in s.listTasks(opts={"method": "restartHosts"})]
    info = s.getTaskInfo(rh)
    assert info["state"] == CLOSED, (proc.stdout, s.getTaskResult(rh, raise_fault=False))
    kids = s.getTaskChildren(rh)
    got = sorted((k["method"], k["host_id"], koji.TASK_STATES[k["state"]]) for k in kids)
    want = sorted((m, h["id"], "CLOSED") for m in ("restart", "restartVerify")
                  for h in (host, repo_host))
    assert got == want, got
    # each daemon re-executed itself (same pid, a new session) rather than stopping
    assert engine.poll() is None and hub.builders["repo1"].poll() is None
    assert "restarting" in _read(engine.log)
    assert "restarting" in hub.builder_log("repo1")
    # scheduler-info shows the pinned runs of the restart tasks on their hosts
    for k in kids:
        runs = s.scheduler.getTaskRuns(clauses=[["task_id", "=", k["id"]]])
        assert [r["host_id"] for r in runs] == [k["host_id"]], runs


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

    # waitrepo: the engine waits (koji.tasks' WaitrepoTask, through repo.request/repo.get) for a
    # repo of a tag that has none; our builder "repo1", in the createrepo channel only, makes it
    repo_host = _start_repo_builder(hub, "repo1")
    hub.koji("add-tag", "wr-tag", "--arches", "x86_64")
    wr = s.makeTask("waitrepo", ["wr-tag"])
    info = _wait_state(hub, s, wr, (CLOSED, koji.TASK_STATES["FAILED"]))
    assert info["state"] == CLOSED and info["host_id"] == host["id"], s.getTaskResult(
        wr, raise_fault=False)
    repo = s.getTaskResult(wr)
    assert s.repoInfo(repo["id"])["tag_name"] == "wr-tag"
    assert s.repoInfo(repo["id"])["state"] == koji.REPO_STATES["READY"]
    newrepos = s.listTasks(opts={"method": "newRepo", "decode": True})
    assert [t["host_id"] for t in newrepos] == [repo_host["id"]]

    # restartHosts (koji restart-hosts): builder1 runs it; each enabled host gets a restart and
    # a restartVerify pinned to it; both daemons re-execute and verify their new start
    _restart_hosts(hub, s, host, repo_host, engine)
    after = s.makeTask("sleep", [1])
    assert _wait_state(hub, s, after, (CLOSED,))["host_id"] == host["id"]

    log = _read(engine.log)
    assert "is not assigned" not in log and "is not ours" not in log
    # the one traceback is waittest's deliberately bad child (sleep 'BAD_ARG'), nothing else
    assert log.count("TRACEBACK") == 1, log[-4000:]
    assert "TypeError: 'str' object cannot be interpreted as an integer" in log
    assert " ERROR " not in log, log[-4000:]
    engine.send_signal(signal.SIGTERM)
    engine.wait(timeout=30)
    assert s.getHost("builder1")["ready"] is False


# --- the same engine with our handlers, loaded as a kojid plugin --------------------------------

PLUGIN_DIR = os.path.join(REPO_ROOT, "pungi_like", "buildsvc", "builder")


def test_kojid_engine_with_our_handlers_as_plugin(universe, rpm_factory, tmp_path):
    """kojid's engine loads pungi_like's handlers as a kojid plugin (PluginTracker on a plugin
    path, scanPlugin) and, as the only enabled host, runs regen-repo --wait (newRepo +
    createrepo), a build from an SRPM (buildArch with rpmbuild, tagBuild) and a livecd
    (createLiveCD) on an embedded service seeded with part of the demo universe."""
    sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "integration", "images"))
    import imgsvc
    from builder_testdata import add_buildrequires
    from pungi_like.buildsvc import certs
    from pungi_like.universe.rpmbuild import Package

    cm, svc = imgsvc.start_service(tmp_path, universe)
    engine = None
    try:
        s = svc.session
        embedded = [h["name"] for h in s.listHosts()]
        for name in embedded:
            svc.koji("disable-host", name)
        svc.koji("add-host", "builder1", "x86_64")
        for chan in ("createrepo", "livecd"):
            svc.koji("add-host-to-channel", "builder1", chan)
        pki = svc.svc.pki
        certs.make_user_cert(pki, "builder1")
        hub = types.SimpleNamespace(pki=pki, tmp=str(tmp_path), url=svc.svc.url,
                                    topdir=svc.topdir, builders={})
        engine = _start_engine(hub, "builder1", extra=["--plugin", PLUGIN_DIR + ":kojid_plugin"])
        host = s.getHost("builder1")

        svc.koji("regen-repo", "--wait", "demo-1.0-build", timeout=300)
        # a build from an SRPM: rpmbuild in the builder, then the tagBuild child
        built = rpm_factory([Package("demo-hello", "1.0", arch="noarch",
                                     files={"/usr/share/demo-hello/hello": "hello\n"})],
                            outdir=tmp_path / "rpms")
        srpm = add_buildrequires(built.srpms[0], ["demo-base"], str(tmp_path / "br"))
        proc = svc.koji("build", "demo-1.0", str(srpm), "--noprogress", "--wait")
        build_task = int(proc.stdout.split("Created task:")[1].split()[0])
        assert s.getBuild("demo-hello-1.0-1")["state"] == koji.BUILD_STATES["COMPLETE"]
        assert "demo-hello-1.0-1" in svc.koji("list-tagged", "demo-1.0-updates").stdout
        # koji tag-build: the hub makes a tagBuild task, the builder runs it (host.tagBuild)
        svc.koji("add-tag", "extra")
        svc.koji("add-pkg", "--owner", "kojiadmin", "extra", "demo-hello")
        svc.koji("tag-build", "extra", "demo-hello-1.0-1")
        (tag_task,) = s.listTasks(opts={"method": "tagBuild", "parent": None})
        tag_task = _wait_state(hub, s, tag_task["id"], (CLOSED, koji.TASK_STATES["FAILED"]))
        assert (tag_task["state"], tag_task["host_id"]) == (CLOSED, host["id"])
        assert "demo-hello-1.0-1" in svc.koji("list-tagged", "extra").stdout
        # history records the task's owner, not the builder host that called host.tagBuild
        hist = svc.koji("list-history", "--tag", "extra").stdout
        tagged = [ln for ln in hist.splitlines() if "tagged into extra" in ln]
        assert len(tagged) == 1 and " by kojiadmin" in tagged[0], hist
        # a livecd
        ks = tmp_path / "live.ks"
        ks.write_text(imgsvc.SELF_CONTAINED_KS)
        proc = svc.koji("spin-livecd", "demo-live-scratch", "2", "demo-1.0", "x86_64", str(ks),
                        "--scratch", "--noprogress", "--wait", "--release", "7")
        live_task = int(proc.stdout.split("Created task:")[1].split()[0])
        (child,) = svc.task_children(live_task, "createLiveCD")
        assert "demo-live-scratch-2-7.x86_64.iso" in s.getTaskResult(child["id"])["files"]

        # every task since the engine started ran on builder1, through the plugin's classes
        ran = s.listTasks(opts={"host_id": host["id"], "decode": True})
        methods = {t["method"] for t in ran}
        assert {"newRepo", "createrepo", "build", "buildArch", "tagBuild", "livecd",
                "createLiveCD"} <= methods, methods
        for tid in (build_task, live_task):
            for t in [s.getTaskInfo(tid)] + s.getTaskChildren(tid):
                assert (t["state"], t["host_id"]) == (CLOSED, host["id"]), t
        log = _read(engine.log)
        assert "is not assigned" not in log and "TRACEBACK" not in log, log[-4000:]
    finally:
        if engine is not None and engine.poll() is None:
            engine.send_signal(signal.SIGTERM)
            engine.wait(timeout=30)
        cm.__exit__(None, None, None)
