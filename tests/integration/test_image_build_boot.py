"""The test phase boots image_build's qcow2 (UEFI, from disk) when test_boot_markers names it.

The image comes from an image task of an embedded build service (a private top directory
seeded with the demo universe); the kickstart installs demo-base, whose /sbin/init prints the
marker and powers off.
"""

import json
import os

import pytest

from tests.integration.test_driver import DEMO_DIR, make_config, only_compose

pytestmark = pytest.mark.integration


def test_qcow2_from_image_build_boots_with_uefi_in_the_test_phase(universe, tmp_path):
    from pungi_like.cli.compose_driver import main

    conf = make_config(tmp_path, universe, f"""
buildservice = {{"embedded": True, "topdir": {str(tmp_path / "svc")!r}, "builders": 1,
                "seed_universe": {universe.path!r}}}
image_build = {{"^Server$": [{{"image-build": {{"format": ["qcow2"], "name": "Demo-Disk",
    "kickstart": {os.path.join(DEMO_DIR, 'live.ks')!r}, "target": "demo-1.0",
    "scratch": True}}}}]}}
test_boot = True
test_boot_firmwares = ["bios", "uefi"]
test_boot_markers = {{"qcow2": "DEMO-BOOT-OK"}}
""")
    target = tmp_path / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    topdir = only_compose(str(target))
    assert code == 0, open(os.path.join(topdir, "logs", "global", "pungi.global.log")).read()
    units = os.path.join(topdir, "work", "global", "units")
    uefi = json.load(open(os.path.join(units, "test.boot.Server.x86_64.uefi.json")))
    (path,) = uefi["outputs"]["booted"]
    assert path.startswith("Server/x86_64/images/Demo-Disk-") and path.endswith(".qcow2")
    assert uefi["outputs"]["booted"][path]["ok"] is True
    log = open(os.path.join(topdir, "logs", "x86_64", "test-boot-Server-uefi.x86_64.log")).read()
    assert "format=qcow2,if=virtio" in log and "DEMO-BOOT-OK" in log
    # the disk has no BIOS boot loader: BIOS boots leave it alone
    bios = json.load(open(os.path.join(units, "test.boot.Server.x86_64.bios.json")))
    assert bios["outputs"]["booted"] == {}
