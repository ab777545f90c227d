"""A finished compose stands on its own: no file under ``compose/`` points outside it.

The compose builds its live image with a livecd task on an embedded build service of its own
(a private top directory, seeded with the demo universe); the build service moves the image to
its scratch space and leaves a symlink in the task directory. After the compose, the build
service's scratch and task directories are deleted: every image must still match its checksum
in images.json, and every ISO must pass ``checkisomd5``.
"""

import hashlib
import json
import os
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
