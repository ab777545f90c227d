"""A finished compose stands on its own: no file under ``compose/`` points outside it.

The compose builds its live image with a livecd task and a qcow2 disk image with an image task
(image_build) on an embedded build service of its own (a private top directory, seeded with the
demo universe); the build service moves scratch images to its scratch space and leaves symlinks
in the task directories. After the compose, the build service's scratch and task directories
are deleted: every image must still match its checksum in images.json, and every ISO must pass
``checkisomd5``. The image_build phase's own properties (Pungi's names, types, the task's
parameters, a failable failure) are checked here too, on the same real tasks.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest

from tests.integration.test_driver import DEMO_DIR, make_config, only_compose

pytestmark = pytest.mark.integration


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def outside_links(compose_root):
    """Every symlink under ``compose_root`` whose target is outside it (or dangling)."""
    root = os.path.realpath(compose_root)
    bad = []
    for dirpath, dirnames, filenames in os.walk(compose_root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not target.startswith(root + os.sep) or not os.path.exists(target):
                    bad.append(f"{path} -> {os.readlink(path)}")
    return bad


@pytest.fixture(scope="module")
def live_compose(universe, tmp_path_factory):
    """A compose whose live ISO came from a livecd task; the service's scratch and task
    directories are deleted once it finishes."""
    from pungi_like.cli.compose_driver import main

    base = tmp_path_factory.mktemp("selfcontained")
    service = base / "buildsvc"
    conf = make_config(base, universe, f"""
buildservice = {{"embedded": True, "topdir": {str(service)!r}, "builders": 1,
                "seed_universe": {universe.path!r}}}
live_images = [("^Server$", {{"x86_64": {{"kickstart": {os.path.join(DEMO_DIR, 'live.ks')!r},
    "name": "Demo-Live", "subvariant": "Live", "target": "demo-1.0", "version": "1.0",
    "repo": ["Server"], "scratch": True}}}})]
image_build_target = "demo-1.0"
image_build = {{
    "^Server$": [{{
        "image-build": {{
            "format": [("qcow2", "qcow2"), ("raw-xz", "raw.xz"), "tar-gz"],
            "name": "Demo-Cloud-Base",
            "kickstart": {os.path.join(DEMO_DIR, 'live.ks')!r},
            "distro": "Fedora-22",
            "disk_size": 1,
            "arches": ["x86_64"],
            "repo": ["Workstation"],
            "subvariant": "Cloud_Base",
            "release": None,
            "scratch": True,
        }},
        "factory-parameters": {{"generate_icicle": False}},
    }}],
}}
""")
    target = base / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    topdir = only_compose(str(target))
    removed = []
    for sub in ("scratch", os.path.join("work", "tasks")):
        path = service / sub
        if path.exists():
            shutil.rmtree(path)
            removed.append(sub)
    return {"code": code, "topdir": topdir, "removed": removed}


def test_live_iso_is_a_regular_file_that_survives_the_build_service_scratch(live_compose):
    assert live_compose["code"] == 0
    # the task output really lived in the service's scratch and task directories
    assert live_compose["removed"] == ["scratch", os.path.join("work", "tasks")]
    compose_root = os.path.join(live_compose["topdir"], "compose")
    assert outside_links(compose_root) == []
    images = json.load(open(os.path.join(compose_root, "metadata", "images.json")))
    live = [img for arches in images["payload"]["images"].values()
            for entries in arches.values() for img in entries if img["type"] == "live"]
    assert len(live) == 1
    path = os.path.join(compose_root, live[0]["path"])
    assert os.path.isfile(path) and not os.path.islink(path)


def test_every_image_matches_images_json_and_every_iso_passes_checkisomd5(live_compose):
    compose_root = os.path.join(live_compose["topdir"], "compose")
    images = json.load(open(os.path.join(compose_root, "metadata", "images.json")))
    entries = [img for arches in images["payload"]["images"].values()
               for found in arches.values() for img in found]
    assert {img["type"] for img in entries} >= {"dvd", "live"}
    for img in entries:
        path = os.path.join(compose_root, img["path"])
        assert os.path.getsize(path) == img["size"], img["path"]
        assert sha256(path) == img["checksums"]["sha256"], img["path"]
        if img["format"] == "iso":
            check = subprocess.run(["checkisomd5", path], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
            assert check.returncode == 0, (img["path"], check.stdout)


def test_image_build_images_are_in_images_dir_with_pungi_types(live_compose):
    compose_root = os.path.join(live_compose["topdir"], "compose")
    images = json.load(open(os.path.join(compose_root, "metadata", "images.json")))
    built = {img["type"]: img for img in images["payload"]["images"]["Server"]["x86_64"]
             if img["subvariant"] == "Cloud_Base"}
    assert sorted(built) == ["qcow2", "raw-xz", "tar-gz"]
    assert built["qcow2"]["format"] == "qcow2" and built["tar-gz"]["format"] == "tar.gz"
    assert built["raw-xz"]["format"] == "raw.xz"
    for img in built.values():
        assert img["path"].startswith("Server/x86_64/images/Demo-Cloud-Base-")
        assert img["bootable"] is False and img["arch"] == "x86_64"
    # a real qcow2 (qemu-img reads it), made from the kickstart's packages
    info = subprocess.run(["qemu-img", "info", "--output=json",
                           os.path.join(compose_root, built["qcow2"]["path"])],
                          capture_output=True, text=True, check=True)
    assert json.loads(info.stdout)["format"] == "qcow2"
    # the raw.xz is the same disk, compressed
    raw = subprocess.run(["xz", "-dc", os.path.join(compose_root, built["raw-xz"]["path"])],
                         capture_output=True, check=True).stdout
    assert raw[510:512] == b"\x55\xaa" and raw[512:520] == b"EFI PART"   # protective MBR, GPT


def test_image_build_task_got_what_koji_image_build_sends(live_compose):
    log = open(os.path.join(live_compose["topdir"], "logs", "x86_64",
                            "imagebuild-Server-Cloud_Base-qcow2-raw-xz-tar-gz.x86_64.log")).read()
    call = log.splitlines()[0]
    assert call.startswith("buildImageOz('Demo-Cloud-Base', '1.0', ['x86_64'], 'demo-1.0', ")
    assert "/compose/Server/$arch/os'" in call                   # the compose's install tree
    assert "'format': ['qcow2', 'raw-xz', 'tar-gz']" in call
    assert "/compose/Workstation/$arch/os', 'file://" in call    # repo entries, then the variant
    assert "/compose/Server/$arch/os']" in call
    assert "'factory_parameter': [('generate_icicle', 'False')]" in call
    assert "'distro': 'Fedora-22'" in call and "'disk_size': '1'" in call
    # release None: the compose's date, type and respin, as Pungi's image_release
    cid = os.path.basename(live_compose["topdir"])
    assert f"'release': '{cid.split('-')[-1]}'" in call
    assert "'kickstart': 'work/cli-image/" in call


def test_a_failing_image_task_of_a_failable_block_gives_finished_incomplete(universe, tmp_path):
    from pungi_like.cli.compose_driver import main

    ks = tmp_path / "bad.ks"
    ks.write_text("part / --size 64 --fstype ext4\n%packages\nkernel\n"
                  "no-such-package-anywhere\n%end\n")
    conf = make_config(tmp_path, universe, f"""
buildservice = {{"embedded": True, "topdir": {str(tmp_path / "svc")!r}, "builders": 1,
                "seed_universe": {universe.path!r}}}
image_build = {{"^Server$": [{{"image-build": {{"format": ["qcow2"], "name": "Broken",
    "kickstart": {str(ks)!r}, "target": "demo-1.0", "failable": ["*"], "scratch": True}}}}]}}
""")
    target = tmp_path / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    assert code == 4
    topdir = only_compose(str(target))
    assert open(os.path.join(topdir, "STATUS")).read() == "FINISHED_INCOMPLETE\n"
    deliverables = json.load(open(os.path.join(topdir, "logs/global/deliverables.json")))
    assert deliverables["failed"] == {"image-build": [["Server", "*", "Server"]]}
    (detail,) = deliverables["failed_details"]
    task_id = re.search(r"ImageBuild task failed: (\d+)\.", detail["error"]).group(1)
    assert "no-such-package-anywhere" in detail["error"]
    assert os.path.exists(os.path.join(topdir, "logs/global/koji-tasks", task_id))
