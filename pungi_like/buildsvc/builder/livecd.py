"""The work of a ``createLiveCD`` task: kickstart -> root -> squashfs -> bootable live ISO.

Layout of the ISO (what livecd-creator makes, with the root directly in the squashfs as modern
Fedora lives do)::

    LiveOS/squashfs.img        the installed root (zstd squashfs)
    isolinux/                  isolinux.bin, ldlinux.c32, isolinux.cfg, vmlinuz, initrd.img
    EFI/BOOT/                  BOOTX64.EFI (standalone GRUB), grub.cfg
    images/efiboot.img         FAT image for El Torito's UEFI entry (BOOTX64.EFI)

Both menus boot ``root=live:CDLABEL=<volid> rd.live.image``; the initramfs
(``pungi_like.media.initramfs``) finds the medium by its volume label, loop-mounts the squashfs,
puts a tmpfs overlay on it and switches root to the image's ``/sbin/init``.  The ISO is hybrid
(MBR + GPT) and has an implanted MD5.
"""

from __future__ import annotations

import os
import shutil
import time

from ...errors import PungiLikeError
from ...media import bootmenu, efiboot, initramfs, iso, squashfs
from .kickstart import prepare_kickstart
from .root import ImageBuildError, file_info, populate_root

SYSLINUX_FILES = {
    "isolinux.bin": ("/usr/lib/ISOLINUX/isolinux.bin", "/usr/share/syslinux/isolinux.bin",
                     "/usr/lib/syslinux/isolinux.bin"),
    "ldlinux.c32": ("/usr/lib/syslinux/modules/bios/ldlinux.c32",
                    "/usr/share/syslinux/ldlinux.c32", "/usr/lib/syslinux/ldlinux.c32"),
}


def syslinux_file(name):
    for candidate in SYSLINUX_FILES[name]:
        if os.path.exists(candidate):
            return candidate
    raise ImageBuildError(f"{name} not found (install isolinux and syslinux-common: .ci/setup)")


def _epoch(source_date_epoch):
    if source_date_epoch is None and os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    return source_date_epoch


def make_live_tree(root_dir, tree_dir, *, volid, title, log_dir, source_date_epoch=None,
                   squashfs_compression="zstd"):
    """Fill ``tree_dir`` with the squashfs, kernel, initramfs and both boot menus.

    Returns {"kver", "squashfs_size", "initrd_modules"}."""
    kver, vmlinuz = initramfs.find_kernel(root_dir)
    log_path = os.path.join(log_dir, "livecd.log")
    isolinux = os.path.join(tree_dir, "isolinux")
    os.makedirs(isolinux, exist_ok=True)
    shutil.copyfile(vmlinuz, os.path.join(isolinux, "vmlinuz"))
    info = initramfs.make_initramfs(os.path.join(isolinux, "initrd.img"), root_dir, kver=kver,
                                    live_image="LiveOS/squashfs.img", live_init="/sbin/init",
                                    source_date_epoch=source_date_epoch)
    for name in SYSLINUX_FILES:
        shutil.copyfile(syslinux_file(name), os.path.join(isolinux, name))
    bootmenu.write_boot_menus(tree_dir, title, volid, kind="live",
                              grub_kernel="/isolinux/vmlinuz", grub_initrd="/isolinux/initrd.img")
    bootx64 = os.path.join(tree_dir, "EFI", "BOOT", "BOOTX64.EFI")
    efiboot.make_grub_efi(bootx64, volid, log_path=log_path, source_date_epoch=source_date_epoch)
    efiboot.make_efiboot_img(os.path.join(tree_dir, "images", "efiboot.img"),
                             {"EFI/BOOT/BOOTX64.EFI": bootx64}, label="EFIBOOT",
                             source_date_epoch=source_date_epoch, log_path=log_path)
    size = squashfs.make_squashfs(root_dir, os.path.join(tree_dir, "LiveOS", "squashfs.img"),
                                  compression=squashfs_compression,
                                  source_date_epoch=source_date_epoch, log_path=log_path)
    return {"kver": kver, "squashfs_size": size, "initrd_modules": info["modules"]}


def build_livecd(kickstart_path, repos, *, arch, name, version, release, workdir, volid,
                 source_date_epoch=None, keep_repos=False, ks_files=None, ksversion=None,
                 title=None, squashfs_compression="zstd", keep_root=False, iso_name=None):
    """Build a live ISO from a kickstart; everything goes under ``workdir``.

    ``repos``: the task's repos (paths, file:// URLs or (name, url) pairs); they replace the
    kickstart's ``repo`` lines unless ``keep_repos``.  ``ks_files``: {relative path: text} when
    the kickstart and its includes come in memory (then ``kickstart_path`` is a key).
    ``iso_name``: the ISO's file name (default ``<name>-<version>-<release>.<arch>.iso``).

    Returns a dict: ``files`` (image first, then the two kickstarts), ``image`` (imageinfo:
    filename, path, size, arch, type "iso", checksums sha256 + md5, volid, implanted_md5),
    ``kickstart`` / ``kickstart_flat`` paths, ``rpmlist`` (Koji's image rpmlist entries),
    ``logs`` (paths), ``name``, ``version``, ``release``, ``arch``, ``seconds`` (per step).
    """
    source_date_epoch = _epoch(source_date_epoch)
    if arch != "x86_64":
        raise ImageBuildError(f"livecd: arch {arch} is not supported (boot files are x86_64)")
    workdir = os.path.abspath(workdir)
    log_dir = os.path.join(workdir, "logs")
    out_dir = os.path.join(workdir, "output")
    root_dir = os.path.join(workdir, "root")
    tree_dir = os.path.join(workdir, "tree")
    for d in (root_dir, tree_dir):
        if os.path.exists(d):
            shutil.rmtree(d)
    os.makedirs(log_dir, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    nvr = f"{name}-{version}-{release}"
    seconds = {}
    t0 = time.monotonic()
    ks, ks_orig, ks_flat = prepare_kickstart(kickstart_path, out_dir, repos=repos,
                                             keep_repos=keep_repos, files=ks_files,
                                             version=ksversion, name=nvr)
    use_repos = repos if not keep_repos else [(r.name, r.url) for r in ks.repos]
    populated = populate_root(ks, use_repos, arch, root_dir, log_dir=log_dir,
                              post_env={"LIVE_ROOT": "/"})
    seconds.update(populated["seconds"])
    t0 = time.monotonic()
    tree = make_live_tree(root_dir, tree_dir, volid=volid, title=title or f"{name} {version}",
                          log_dir=log_dir, source_date_epoch=source_date_epoch,
                          squashfs_compression=squashfs_compression)
    seconds["tree"] = round(time.monotonic() - t0, 2)
    t0 = time.monotonic()
    iso_path = os.path.join(out_dir, iso_name or f"{nvr}.{arch}.iso")
    try:
        result = iso.write_iso(tree_dir, iso_path, volid, boot="bios+uefi",
                               source_date_epoch=source_date_epoch,
                               log_path=os.path.join(log_dir, "livecd.log"))
        md5 = iso.implant_md5(iso_path, log_path=os.path.join(log_dir, "livecd.log"))
    except PungiLikeError as exc:
        raise ImageBuildError(f"writing {iso_path} failed: {exc}") from exc
    seconds["iso"] = round(time.monotonic() - t0, 2)
    if not keep_root:
        shutil.rmtree(root_dir)
        shutil.rmtree(tree_dir)
    image = file_info(iso_path, arch=arch, media_type="iso", volid=volid, implanted_md5=md5,
                      bootable=True, kver=tree["kver"], squashfs_size=tree["squashfs_size"],
                      iso_files=result.files)
    return {
        "name": name, "version": version, "release": release, "arch": arch,
        "files": [iso_path, ks_orig, ks_flat],
        "image": image,
        "kickstart": ks_orig, "kickstart_flat": ks_flat,
        "included_files": ks.included_files,
        "rpmlist": populated["rpms"],
        "post": populated["post"],
        "logs": sorted(os.path.join(log_dir, f) for f in os.listdir(log_dir)
                       if f.endswith(".log")),
        "seconds": seconds,
    }
