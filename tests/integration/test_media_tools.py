"""squashfs, initramfs, EFI boot image, boot menus, root install and the installer tree, checked
with the real tools (unsquashfs, cpio, mtools, rpm, productmd) on the demo universe."""

import gzip
import os
import subprocess

import productmd.treeinfo
import pytest

from pungi_like.errors import PhaseError
from pungi_like.media import bootmenu, efiboot, initramfs, installer, iso, squashfs
from pungi_like.rpmtools.rootinstall import install_root, resolve_packages

pytestmark = pytest.mark.integration
EPOCH = 1700000000


@pytest.fixture(scope="module")
def runtime_root(universe, tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime") / "root"
    rpms = resolve_packages(universe.repo_dir, ["demo-installer"])
    installed = install_root(str(root), rpms, source_date_epoch=EPOCH)
    return root, rpms, installed


def test_resolve_and_install_the_installer_runtime(runtime_root):
    root, rpms, installed = runtime_root
    names = {os.path.basename(p).rsplit("-", 2)[0] for p in rpms}
    assert {"demo-installer", "demo-base", "busybox", "kernel", "filesystem", "setup",
            "demo-release"} <= names
    assert len(installed) == len(rpms)
    assert (root / "usr/sbin/demo-installer").exists()
    assert os.readlink(root / "bin/sh") == "busybox"
    out = subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-q",
                          "--qf", "%{INSTALLTIME}", "demo-base"], capture_output=True,
                         text=True, check=True).stdout
    # rpm counts up from SOURCE_DATE_EPOCH, one second per package in transaction order
    assert EPOCH <= int(out) < EPOCH + len(rpms)


def test_resolve_reports_missing_and_excluded(universe):
    with pytest.raises(PhaseError, match="no-such-package"):
        resolve_packages(universe.repo_dir, ["no-such-package"])
    with pytest.raises(PhaseError, match="demo-base"):
        resolve_packages(universe.repo_dir, ["demo-installer"], exclude=["demo-base"])


def test_squashfs_is_reproducible_and_root_owned(runtime_root, tmp_path):
    root = runtime_root[0]
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    squashfs.make_squashfs(str(root), str(a), source_date_epoch=EPOCH)
    squashfs.make_squashfs(str(root), str(b), source_date_epoch=EPOCH, compression="lz4")
    squashfs.make_squashfs(str(root), str(b), source_date_epoch=EPOCH)
    assert a.read_bytes() == b.read_bytes()
    listing = subprocess.run(["unsquashfs", "-lln", str(a)], capture_output=True, text=True,
                             check=True).stdout
    assert "squashfs-root/usr/sbin/demo-installer" in listing
    assert all(" 0/0 " in line for line in listing.splitlines() if "squashfs-root/" in line)
    stat = subprocess.run(["unsquashfs", "-s", str(a)], capture_output=True, text=True,
                          check=True).stdout
    assert "zstd" in stat


def test_initramfs_is_a_newc_archive_with_console_busybox_and_ordered_modules(runtime_root,
                                                                                tmp_path):
    root = runtime_root[0]
    out = tmp_path / "initrd.img"
    info = initramfs.make_initramfs(str(out), str(root), source_date_epoch=EPOCH)
    raw = gzip.decompress(out.read_bytes())
    listing = subprocess.run(["cpio", "-itv", "--quiet"], input=raw, capture_output=True,
                             check=True).stdout.decode()
    console = [line for line in listing.splitlines() if line.endswith(" dev/console")]
    assert console and console[0].startswith("crw-------") and "5,   1" in console[0]
    assert any(line.endswith(" bin/busybox") and line.startswith("-rwx") for line in
               listing.splitlines())
    assert any(line.endswith(" init") for line in listing.splitlines())
    order = [os.path.basename(m)[:-3] for m in info["modules"]]
    for dep, mod in (("cdrom", "sr_mod"), ("scsi_mod", "sr_mod"), ("libata", "ata_piix"),
                     ("crc-t10dif", "sd_mod")):
        assert order.index(dep) < order.index(mod)
    assert {"isofs", "squashfs", "loop", "overlay"} <= set(order)
    init = subprocess.run(["cpio", "-i", "--to-stdout", "init", "--quiet"], input=raw,
                          capture_output=True, check=True).stdout.decode()
    assert "/lib/modules/$KVER/$mod" in init and "switch_root" in init
    # the script is valid shell for busybox's ash
    subprocess.run(["busybox", "sh", "-n", "-c", init], check=True)
    # reproducible
    again = tmp_path / "again.img"
    initramfs.make_initramfs(str(again), str(root), source_date_epoch=EPOCH)
    assert again.read_bytes() == out.read_bytes()


def test_boot_menus_use_the_volume_id_as_label():
    cfg = bootmenu.render_isolinux_cfg("Demo Linux 1", "Demo-1 Server.x86_64")
    assert "inst.stage2=hd:LABEL=Demo-1\\x20Server.x86_64" in cfg
    assert "console=ttyS0,115200" in cfg and "SERIAL 0 115200" in cfg
    grub = bootmenu.render_grub_cfg("Demo Linux 1", "Demo-1 Server.x86_64", kind="live")
    assert "search --no-floppy --set=root --label 'Demo-1 Server.x86_64'" in grub
    assert "root=live:CDLABEL=Demo-1\\\\x20Server.x86_64 rd.live.image" in grub
    assert "menuentry 'Start Demo Linux 1'" in grub


def test_efiboot_image_holds_grub_and_is_reproducible(tmp_path):
    grub = efiboot.make_grub_efi(str(tmp_path / "BOOTX64.EFI"), "Demo-1 Server.x86_64")
    with open(grub, "rb") as fh:
        assert fh.read(2) == b"MZ"
    cfg = tmp_path / "grub.cfg"
    cfg.write_text("set timeout=1\n")
    files = {"EFI/BOOT/BOOTX64.EFI": grub, "EFI/BOOT/grub.cfg": str(cfg)}
    a = efiboot.make_efiboot_img(str(tmp_path / "a.img"), files, source_date_epoch=EPOCH)
    b = efiboot.make_efiboot_img(str(tmp_path / "b.img"), files, source_date_epoch=EPOCH)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        assert fa.read() == fb.read()
    listing = subprocess.run(["mdir", "-i", a, "-b", "::/EFI/BOOT"], capture_output=True,
                             text=True, check=True, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    assert "BOOTX64.EFI" in listing.stdout.upper() and "GRUB.CFG" in listing.stdout.upper()


def test_installer_tree_layout_treeinfo_options_and_reproducibility(universe, tmp_path):
    tmpl = tmp_path / "extra.tmpl"
    tmpl.write_text("mkdir /etc/demo\nappend /etc/demo/marker built-for-${variant}\n"
                    "remove /usr/share/man\n")
    kw = dict(product="Demo Linux", version="1", release="1", variant="Server",
              volid="ignored", source_date_epoch=EPOCH,
              lorax_options={"volid": "Demo-1 Server.x86_64", "bugurl": "https://bugs.example",
                             "add_template": [str(tmpl)], "nomacboot": True,
                             "rootfs_size": 3})
    a = installer.build_installer_tree(universe.repo_dir, str(tmp_path / "a" / "os"),
                                       log_dir=str(tmp_path / "a" / "logs"), **kw)
    b = installer.build_installer_tree(universe.repo_dir, str(tmp_path / "b" / "os"),
                                       log_dir=str(tmp_path / "b" / "logs"), **kw)
    tree = tmp_path / "a" / "os"
    for rel in ("images/install.img", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img",
                "isolinux/isolinux.bin", "isolinux/ldlinux.c32", "isolinux/isolinux.cfg",
                "isolinux/vmlinuz", "isolinux/initrd.img", "EFI/BOOT/BOOTX64.EFI",
                "EFI/BOOT/grub.cfg", "images/efiboot.img", "images/boot.iso", ".discinfo"):
        assert (tree / rel).is_file(), rel
    assert a["volid"] == "Demo-1 Server.x86_64"
    assert iso.read_volume_id(a["boot_iso"]) == "Demo-1 Server.x86_64"
    assert iso.check_md5(a["boot_iso"]) and a["implant_md5"]
    assert "LABEL=Demo-1\\x20Server.x86_64" in (tree / "isolinux/isolinux.cfg").read_text()
    ti = productmd.treeinfo.TreeInfo()
    ti.load(str(tree / ".treeinfo"))
    assert ti.images.images["x86_64"] == {"kernel": "images/pxeboot/vmlinuz",
                                          "initrd": "images/pxeboot/initrd.img",
                                          "efiboot.img": "images/efiboot.img",
                                          "boot.iso": "images/boot.iso"}
    assert ti.stage2.mainimage == "images/install.img"
    assert ti.checksums.checksums["images/boot.iso"][0] == "sha256"
    # options reached the runtime: template ran, buildstamp has the bug URL
    runtime = subprocess.run(["unsquashfs", "-cat", a["install_img"], "etc/demo/marker"],
                             capture_output=True, text=True, check=True).stdout
    assert runtime.strip() == "built-for-Server"
    stamp = subprocess.run(["unsquashfs", "-cat", a["install_img"], ".buildstamp"],
                           capture_output=True, text=True, check=True).stdout
    assert "BugURL=https://bugs.example" in stamp
    listing = subprocess.run(["unsquashfs", "-l", a["install_img"]], capture_output=True,
                             text=True, check=True).stdout
    assert "squashfs-root/usr/share/man" not in listing
    manifest = iso.iso_manifest(a["boot_iso"])
    assert "/images/install.img" in manifest and "/images/boot.iso" not in manifest
    assert "demo-installer-0:1.0-1.x86_64" in a["packages"]
    assert (tmp_path / "a" / "logs" / "buildinstall-RPMs.x86_64.log").exists()
    assert installer.tree_digest(a["tree"]) == installer.tree_digest(b["tree"])


def test_installer_rejects_unknown_and_unsupported_options(universe, tmp_path):
    kw = dict(product="Demo Linux", version="1", release="1", variant="Server", volid="X")
    with pytest.raises(PhaseError, match="unknown option.*frobnicate"):
        installer.build_installer_tree(universe.repo_dir, str(tmp_path / "os"),
                                       lorax_options={"frobnicate": 1}, **kw)
    tmpl = tmp_path / "bad.tmpl"
    tmpl.write_text("# comment\nruncmd rm -rf /\n")
    with pytest.raises(PhaseError, match="bad.tmpl:2"):
        installer.build_installer_tree(universe.repo_dir, str(tmp_path / "os"),
                                       lorax_options={"add_template": str(tmpl)}, **kw)
