"""Build, appliance, scratch livecd and runroot tasks with the real koji CLI (and, for runroot,
koji.ClientSession: the CLI's runroot plugin is not in the PyPI koji) against an embedded build
service seeded with part of the demo universe.
"""

import os
import sys

import koji
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "builder"))
import imgsvc  # noqa: E402
from builder_testdata import add_buildrequires  # noqa: E402

from pungi_like.universe.rpmbuild import Package  # noqa: E402


@pytest.fixture(scope="module")
def service(tmp_path_factory, universe):
    tmp = tmp_path_factory.mktemp("imgtasks")
    cm, svc = imgsvc.start_service(tmp, universe, allowed_scms=[":%s/*" % tmp])
    svc.tmp = tmp
    yield svc
    cm.__exit__(None, None, None)


def _task_id(proc):
    return int(proc.stdout.split("Created task:")[1].split()[0])


def test_spin_livecd_scratch_uploaded_kickstart(service, tmp_path):
    ks = tmp_path / "live.ks"
    ks.write_text(imgsvc.SELF_CONTAINED_KS)
    proc = service.koji("spin-livecd", "demo-live-scratch", "2", "demo-1.0", "x86_64", str(ks),
                        "--scratch", "--noprogress", "--wait", "--release", "7")
    task_id = _task_id(proc)
    info = service.session.getTaskInfo(task_id, request=True)
    assert info["method"] == "livecd" and info["arch"] == "x86_64"
    assert service.session.getChannel(info["channel_id"])["name"] == "livecd"
    (child,) = service.task_children(task_id, "createLiveCD")
    assert child["label"] == "livecd" and child["request"][-1]["scratch"] is True
    result = service.session.getTaskResult(child["id"])
    assert result["files"] == ["demo-live-scratch-2-7.x86_64.iso", "demo-live-scratch-2-7.ks",
                               "demo-live-scratch-2-7-flat.ks"]
    assert {"kernel", "demo-base"} <= {r["name"] for r in result["rpmlist"]}
    outputs = service.session.listTaskOutput(child["id"])
    assert {"demo-live-scratch-2-7-flat.ks", "root.log"} <= set(outputs)
    assert service.session.getTaskResult(task_id).startswith("Scratch livecd build results in")
    assert service.session.getBuild("demo-live-scratch-2-7") is None


def test_spin_appliance_with_repo_option(service, universe, tmp_path):
    ks = tmp_path / "appliance.ks"
    ks.write_text(imgsvc.SELF_CONTAINED_KS)
    proc = service.koji("spin-appliance", "demo-appliance", "1", "demo-1.0", "x86_64", str(ks),
                        "--scratch", "--noprogress", "--wait", "--format", "qcow2",
                        "--repo", "file://%s" % universe.repo_dir)
    (child,) = service.task_children(_task_id(proc), "createAppliance")
    result = service.session.getTaskResult(child["id"])
    assert result["files"][0] == "demo-appliance-1-1.x86_64.qcow2"
    assert result["rootdev"] == "demoroot"
    # (ClientSession.downloadTaskOutput decodes the base64 itself)
    flat = service.session.downloadTaskOutput(child["id"], "demo-appliance-1-1-flat.ks").decode()
    # --repo replaced the kickstart's repos (and the build tag's repo is not used)
    assert universe.repo_dir in flat and "/repos/demo-1.0-build/" not in flat


def test_image_tasks_need_permission(service):
    carol = service.svc.session("carol")      # a user without livecd/image permissions
    with pytest.raises(koji.ActionNotAllowed, match="livecd"):
        carol.buildImage("x", "1", "x86_64", "demo-1.0", "cli-livecd/x/x.ks", "livecd", {})
    with pytest.raises(koji.ActionNotAllowed, match="image"):
        carol.buildImageOz("x", "1", ["x86_64"], "demo-1.0", "file:///t", {})


def _srpm(rpm_factory, tmp_path, name, buildrequires=()):
    built = rpm_factory([Package(name, "1.0", arch="noarch",
                                 files={f"/usr/share/{name}/hello": "hello\n"})],
                        outdir=tmp_path / f"rpms-{name}")
    srpm = built.srpms[0]
    if buildrequires:
        srpm = add_buildrequires(srpm, list(buildrequires), str(tmp_path / f"br-{name}"))
    return str(srpm)


def test_build_srpm_tags_and_next_repo_has_it(service, rpm_factory, tmp_path):
    srpm = _srpm(rpm_factory, tmp_path, "demo-hello", ["demo-base"])
    proc = service.koji("build", "demo-1.0", srpm, "--noprogress", "--wait")
    assert "completed successfully" in proc.stdout, proc.stdout
    task_id = _task_id(proc)
    methods = sorted(c["method"] for c in service.task_children(task_id))
    assert methods == ["buildArch", "tagBuild"], methods
    build = service.session.getBuild("demo-hello-1.0-1", strict=True)
    assert build["state"] == 1 and build["task_id"] == task_id
    rpms = service.session.listBuildRPMs(build["id"])
    assert sorted(r["arch"] for r in rpms) == ["noarch", "src"]
    for r in rpms:
        path = os.path.join(service.topdir, "packages", "demo-hello", "1.0", "1", r["arch"],
                            "%(name)s-%(version)s-%(release)s.%(arch)s.rpm" % r)
        assert os.path.isfile(path) and not os.path.islink(path)
    tagged = service.koji("list-tagged", "demo-1.0-updates", "demo-hello").stdout
    assert "demo-hello-1.0-1" in tagged
    # the build tag inherits the destination tag: its next repo has the new RPM
    service.wait_repo("demo-1.0-build", build="demo-hello-1.0-1")
    repo = service.session.getRepo("demo-1.0-build")
    pkglist = os.path.join(service.topdir, "repos", "demo-1.0-build", str(repo["id"]),
                           "x86_64", "pkglist")
    assert "demo-hello-1.0-1.noarch.rpm" in open(pkglist).read()


def test_build_with_unsatisfiable_buildrequires_fails_naming_it(service, rpm_factory,
                                                                 tmp_path):
    srpm = _srpm(rpm_factory, tmp_path, "demo-needs-missing", ["demo-missing >= 2"])
    proc = service.koji("build", "demo-1.0", srpm, "--noprogress", "--wait", check=False)
    assert proc.returncode == 1
    assert "nothing provides demo-missing >= 2" in proc.stdout + proc.stderr, proc.stdout
    task_id = _task_id(proc)
    info = service.koji("taskinfo", "-r", str(task_id), check=False).stdout
    assert "FAILED" in info.upper()
    (child,) = service.task_children(task_id, "buildArch")
    with pytest.raises(koji.BuildError, match="nothing provides demo-missing >= 2"):
        service.session.getTaskResult(child["id"])
    build = service.session.getBuild("demo-needs-missing-1.0-1")
    assert build["state"] == koji.BUILD_STATES["FAILED"]


def test_build_from_scm(service, rpm_factory, tmp_path):
    import subprocess

    srpm = _srpm(rpm_factory, tmp_path, "demo-scm")
    unpack = tmp_path / "unpack"
    unpack.mkdir()
    subprocess.run("rpm2cpio %s | cpio -idm --quiet" % srpm, shell=True, cwd=unpack, check=True)
    files = {"pkg/" + f: (unpack / f).read_text(errors="replace") for f in os.listdir(unpack)}
    repo = str(service.tmp / "scm.git")
    commit = imgsvc.git_repo(repo, files)
    url = "git+file://%s?pkg#%s" % (repo, commit)
    proc = service.koji("build", "demo-1.0", url, "--noprogress", "--wait")
    methods = sorted(c["method"] for c in service.task_children(_task_id(proc)))
    assert methods == ["buildArch", "buildSRPMFromSCM", "tagBuild"], methods
    build = service.session.getBuild("demo-scm-1.0-1", strict=True)
    assert build["source"] == "git+file://%s?pkg#%s" % (repo, commit)
    assert "demo-scm-1.0-1" in service.koji("list-tagged", "demo-1.0-updates").stdout
    # a URL outside allowed_scms is refused at once
    bad = service.koji("build", "demo-1.0", "git+file:///elsewhere/repo?pkg#abc", check=False)
    assert bad.returncode == 1 and "allowed_scms" in bad.stderr, bad.stderr


def test_runroot_via_client_session(service):
    session = service.session
    task_id = session.runroot("demo-1.0-build", "x86_64",
                              "echo RUNROOT-OK; ls /bin/busybox; echo made > /tmp/out.txt",
                              packages=["busybox"], upload_logs=["/tmp/out.txt"])
    info = session.getTaskInfo(task_id)
    assert session.getChannel(info["channel_id"])["name"] == "runroot"
    assert service.koji("watch-task", str(task_id), check=False).returncode == 0
    assert session.getTaskResult(task_id).endswith("completed successfully")
    out = set(session.listTaskOutput(task_id))
    assert {"runroot.log", "root.log"} <= out
    log = session.downloadTaskOutput(task_id, "runroot.log").decode()
    assert "RUNROOT-OK" in log and "/bin/busybox" in log
    failing = session.runroot("demo-1.0-build", "x86_64", "echo BAD; exit 3")
    service.koji("watch-task", str(failing), check=False)
    with pytest.raises(koji.BuildError, match="exit code 3"):
        session.getTaskResult(failing)
