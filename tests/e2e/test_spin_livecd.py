"""``koji spin-livecd`` and ``koji image-build`` (the real 1.36 CLI) against an embedded build
service, and the images they make boot in QEMU (TCG, serial console) to a marker printed by the
demo system's /sbin/init:

* spin-livecd, non-scratch, kickstart from git (``--ksurl``) with an ``%include``: an image
  build whose ISO archive lists the RPMs inside, stored under ``packages/<n>/<v>/<r>/images/``;
  the ISO boots from a BIOS CD into the squashfs root (overlay);
* image-build --format qcow2, scratch, uploaded kickstart: the qcow2 boots with OVMF (UEFI).

One boot each; QEMU runs one at a time (the tree's lock file).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration",
                                "images"))
import imgsvc  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(tmp_path_factory, universe):
    tmp = tmp_path_factory.mktemp("spin")
    cm, svc = imgsvc.start_service(tmp, universe, allowed_scms=[":/*"])
    svc.tmp = tmp
    yield svc
    cm.__exit__(None, None, None)


def test_spin_livecd_from_git_with_include_boots(service, tmp_path):
    repo = str(tmp_path / "ks.git")
    commit = imgsvc.git_repo(repo, {"live/demo-live.ks": imgsvc.DEMO_LIVE_KS,
                                    "live/parts/demo-base.ks": imgsvc.DEMO_BASE_KS})
    ksurl = "git+file://%s?live#%s" % (repo, commit)
    proc = service.koji("spin-livecd", "demo-live", "1", "demo-1.0", "x86_64", "demo-live.ks",
                        "--ksurl", ksurl, "--noprogress", "--wait")
    assert "completed successfully" in proc.stdout, proc.stdout

    build = service.session.getBuild("demo-live-1-1", strict=True)
    assert build["state"] == 1 and service.session.getImageBuild("demo-live-1-1")
    info = service.koji("buildinfo", "demo-live-1-1").stdout
    assert "Image archives:" in info and "demo-live-1-1.x86_64.iso" in info, info
    # tagged into the destination tag by the tagBuild child
    assert "demo-live-1-1" in service.koji("list-tagged", "demo-1.0-updates", "demo-live").stdout

    archives = {a["filename"]: a for a in service.session.listArchives(buildID=build["id"],
                                                                        type="image")}
    assert set(archives) >= {"demo-live-1-1.x86_64.iso", "demo-live-1-1.ks",
                             "demo-live-1-1-flat.ks"}
    iso = archives["demo-live-1-1.x86_64.iso"]
    assert iso["arch"] == "x86_64" and iso["type_name"] == "iso" and iso["btype"] == "image"
    path = os.path.join(service.topdir, "packages", "demo-live", "1", "1", "images",
                        iso["filename"])
    assert os.path.getsize(path) == iso["size"] and iso["checksum_type"] == 2
    import hashlib
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == iso["checksum"]

    # the RPMs in the image, as the hub records them: those of the build tag's repo
    rpms = service.session.listRPMs(imageID=iso["id"])
    names = {r["name"] for r in rpms}
    assert {"kernel", "busybox", "demo-base", "filesystem"} <= names, names
    assert all(r["external_repo_id"] == 0 and r["build_id"] for r in rpms)
    assert not service.session.listRPMs(imageID=archives["demo-live-1-1.ks"]["id"])

    # both kickstarts: the original (with its %include) and the flattened one
    flat = open(os.path.join(os.path.dirname(path), "demo-live-1-1-flat.ks")).read()
    orig = open(os.path.join(os.path.dirname(path), "demo-live-1-1.ks")).read()
    assert "%include parts/demo-base.ks" in orig
    assert "%include" not in flat and "example.invalid" not in flat
    assert "/repos/demo-1.0-build/" in flat

    boot = imgsvc.boot(path, str(tmp_path / "boot-livecd.log"), firmware="bios",
                       media="cdrom")
    assert boot.ok, boot.tail()
    line = next(ln for ln in boot.transcript.splitlines() if ln.startswith(imgsvc.MARKER))
    assert "type overlay" in line and "LiveOS_rootfs" in line, line


def test_image_build_qcow2_boots_uefi(service, tmp_path, monkeypatch):
    ks = tmp_path / "demo-disk.ks"
    ks.write_text(imgsvc.SELF_CONTAINED_KS)
    proc = service.koji("image-build", "demo-disk", "1", "demo-1.0",
                        "file:///unused/install/tree", "x86_64", "--kickstart", str(ks),
                        "--format", "qcow2", "--distro", "Fedora-40", "--scratch",
                        "--noprogress", "--wait")
    assert "completed successfully" in proc.stdout, proc.stdout
    task_id = int(proc.stdout.split("Created task:")[1].split()[0])
    (child,) = service.task_children(task_id, "createImage")
    assert child["arch"] == "x86_64" and child["label"] == "x86_64"
    imgdata = service.session.getTaskResult(child["id"])
    assert imgdata["files"][0] == "demo-disk-1-1.x86_64.qcow2"
    assert "demo-disk-1-1-flat.ks" in imgdata["files"]
    # scratch: moved to scratch/<owner>/task_<child>/, a symlink stays in the task output
    qcow2 = os.path.join(service.topdir, "scratch", "kojiadmin", "task_%d" % child["id"],
                         imgdata["files"][0])
    assert open(qcow2, "rb").read(4) == b"QFI\xfb"
    assert "demo-disk-1-1.x86_64.qcow2" in service.session.listTaskOutput(child["id"])
    assert service.session.getBuild("demo-disk-1-1") is None

    boot = imgsvc.boot_qcow2_uefi(qcow2, str(tmp_path / "boot-qcow2.log"), monkeypatch)
    assert boot.ok, boot.tail()
    line = next(ln for ln in boot.transcript.splitlines() if ln.startswith(imgsvc.MARKER))
    assert "type ext4" in line, line
