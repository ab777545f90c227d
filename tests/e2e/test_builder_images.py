"""Images made by the builder's task functions boot in QEMU (TCG, serial console).

* livecd: a kickstart that %includes another file -> ISO -> BIOS CD boot -> the demo base
  system's /sbin/init (inside the squashfs) prints DEMO-BOOT-OK with an overlay root;
* image: the same kickstart -> qcow2 -> UEFI (OVMF) disk boot -> DEMO-BOOT-OK with the ext4 root
  partition.
One boot each; QEMU runs one at a time (a lock file shared by the tests of this tree).
"""

import fcntl
import os
import sys

import pytest

from pungi_like.media import iso as isomod
from pungi_like.media import qemu

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration", "builder"))
from builder_testdata import DEMO_BASE_KS, DEMO_LIVE_KS  # noqa: E402

pytestmark = pytest.mark.e2e
MARKER = "DEMO-BOOT-OK"
EPOCH = 1700000000
QEMU_LOCK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), ".cache", "qemu.lock")


@pytest.fixture
def kickstart(tmp_path):
    (tmp_path / "ks" / "parts").mkdir(parents=True)
    (tmp_path / "ks" / "parts" / "demo-base.ks").write_text(DEMO_BASE_KS)
    (tmp_path / "ks" / "demo-live.ks").write_text(DEMO_LIVE_KS)
    return str(tmp_path / "ks" / "demo-live.ks")


def _boot(image, **kw):
    os.makedirs(os.path.dirname(QEMU_LOCK), exist_ok=True)
    with open(QEMU_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return qemu.boot(image, marker=MARKER, timeout=240, **kw)


def _boot_qcow2(image, log_path, monkeypatch):
    """qemu.boot attaches disks as raw IDE; a qcow2 goes in as a virtio disk."""
    plain = qemu.qemu_cmd

    def qcow2_cmd(*args, **kwargs):
        return [a.replace("format=raw,if=ide", "format=qcow2,if=virtio")
                if a.startswith("file=") else a for a in plain(*args, **kwargs)]

    monkeypatch.setattr(qemu, "qemu_cmd", qcow2_cmd)
    return _boot(image, firmware="uefi", media="disk", log_path=log_path)


def test_livecd_iso_boots_to_squashfs_root(universe, kickstart, tmp_path):
    from pungi_like.buildsvc.builder.livecd import build_livecd

    result = build_livecd(kickstart, [universe.repo_dir], arch="x86_64", name="demo-live",
                          version="1", release="1", workdir=str(tmp_path / "work"),
                          volid="DEMO-LIVE-1", source_date_epoch=EPOCH)
    iso_path, ks_orig, ks_flat = result["files"]
    image = result["image"]
    assert image["filename"] == "demo-live-1-1.x86_64.iso" and image["type"] == "iso"
    assert image["size"] == os.path.getsize(iso_path) and len(image["checksums"]["md5"]) == 32
    assert isomod.read_volume_id(iso_path) == "DEMO-LIVE-1"
    assert isomod.check_md5(iso_path)
    manifest = isomod.iso_manifest(iso_path)
    for path in ("/LiveOS/squashfs.img", "/isolinux/isolinux.bin", "/isolinux/vmlinuz",
                 "/EFI/BOOT/BOOTX64.EFI", "/EFI/BOOT/grub.cfg", "/images/efiboot.img"):
        assert path in manifest
    # both kickstarts: the original top file, and the flattened one with the task's repo
    assert "%include parts/demo-base.ks" in open(ks_orig).read()
    flat = open(ks_flat).read()
    assert "%include" not in flat and f"file://{universe.repo_dir}" in flat
    assert "example.invalid" not in flat
    # the image's RPM list (what the archive records) has the kickstart's packages
    names = {r["name"] for r in result["rpmlist"]}
    assert {"kernel", "busybox", "demo-base", "filesystem"} <= names
    assert not any(n.startswith("demo-docs") for n in names)
    assert all(len(r["payloadhash"]) == 32 for r in result["rpmlist"])
    assert [p["exit"] for p in result["post"]] == [0, 0]

    boot = _boot(iso_path, firmware="bios", media="cdrom",
                 log_path=str(tmp_path / "boot-livecd.log"))
    assert boot.ok, boot.tail()
    line = next(ln for ln in boot.transcript.splitlines() if ln.startswith(MARKER))
    assert "type overlay" in line and "LiveOS_rootfs" in line, line


def test_qcow2_boots_with_uefi(universe, kickstart, tmp_path, monkeypatch):
    from pungi_like.buildsvc.builder.image import build_disk_image

    result = build_disk_image(kickstart, [universe.repo_dir], arch="x86_64", name="demo-disk",
                              version="1", release="1", workdir=str(tmp_path / "work"),
                              formats=("qcow2", "tar-gz"), source_date_epoch=EPOCH)
    images = result["images"]
    assert sorted(images) == ["qcow2", "tar-gz"]
    qcow2 = images["qcow2"]["path"]
    assert open(qcow2, "rb").read(4) == b"QFI\xfb"
    assert images["qcow2"]["root_label"] == "demoroot"       # from part / --label
    import tarfile
    with tarfile.open(images["tar-gz"]["path"]) as tar:
        members = set(tar.getnames())
    assert "./sbin/init" in members and "./etc/demo-post-marker" in members
    assert "./etc/demo-nochroot-marker" in members
    assert {"kernel", "demo-base"} <= {r["name"] for r in result["rpmlist"]}

    boot = _boot_qcow2(qcow2, str(tmp_path / "boot-qcow2.log"), monkeypatch)
    assert boot.ok, boot.tail()
    line = next(ln for ln in boot.transcript.splitlines() if ln.startswith(MARKER))
    assert "type ext4" in line, line
