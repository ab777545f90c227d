"""The work of a ``createImage`` / ``createAppliance`` task: kickstart -> root -> disk images.

No loop devices and no mounting: each filesystem is made as a file and copied into its
partition of a sparse raw disk.

* GPT (``sfdisk``): partition 1 is the EFI system partition (FAT, made with ``mkfs.vfat -C`` and
  filled with mtools) holding ``EFI/BOOT/BOOTX64.EFI`` (a standalone GRUB that finds this
  partition by its label and reads ``EFI/BOOT/grub.cfg`` from it), ``vmlinuz`` and
  ``initrd.img``; partition 2 is the root, ext4 made with ``mkfs.ext4 -d <root>`` (label
  ``root`` unless the kickstart's ``part / --label`` says otherwise).
* The initramfs loads the disk and ext4 modules, finds the root by ``root=LABEL=<label>``
  (busybox ``findfs``), mounts it read-write and switches root into its ``/sbin/init``.
* ``qcow2`` is ``qemu-img convert`` of the raw disk, ``raw-xz`` the raw disk compressed with
  single-threaded ``xz`` (the same bytes every time); ``tar-gz`` is the root filesystem as a
  tarball (sorted, numeric owners, fixed mtimes with a source date epoch).

Only UEFI boot is set up (no BIOS boot loader in the image).  GUIDs (disk, partitions, ext4
UUID, hash seed) are derived from the NVR and the source date epoch, so they are stable.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

from ... import tools
from ...errors import PungiLikeError
from ...media import efiboot, initramfs
from .kickstart import prepare_kickstart
from .root import ImageBuildError, file_info, populate_root

FORMATS = ("raw", "raw-xz", "qcow2", "tar-gz")
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
ROOT_TYPE_X86_64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"   # discoverable partitions spec
MIB = 1024 * 1024
SECTOR = 512
# ext4 asks the crypto API for crc32c at mount time: no module dependency names it
DISK_MODULES = ("virtio_pci", "virtio_blk", "virtio_scsi", "ata_piix", "sd_mod", "crc32c_generic",
                "ext4")
ESP_LABEL = "EFISYS"

DISK_INIT = r"""#!/bin/sh
# /init of a pungi_like disk image: find the root filesystem by label, mount it, switch root.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mkdir -p /proc /sys /dev /run /sysroot /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
msg() { echo "initramfs: $*" > /dev/console; }
fail() { msg "ERROR: $*"; echo "INITRAMFS-FAILED: $*" > /dev/console; sync; poweroff -f; }
for mod in @MODULES@; do
    insmod "/lib/modules/@KVER@/$mod" 2>/dev/null || msg "insmod $mod failed (ignored)"
done
label=""; fstype=ext4; init=/sbin/init; flags=rw
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=LABEL=*) label="${arg#root=LABEL=}" ;;
        rootfstype=*) fstype="${arg#rootfstype=}" ;;
        rootflags=*) flags="${arg#rootflags=}" ;;
        init=*) init="${arg#init=}" ;;
    esac
done
[ -n "$label" ] || fail "no root=LABEL=... on the kernel command line"
dev=""; tries=0
while [ -z "$dev" ] && [ $tries -lt 60 ]; do
    dev=$(findfs "LABEL=$label" 2>/dev/null)
    [ -n "$dev" ] || { sleep 0.5; tries=$((tries + 1)); }
done
[ -n "$dev" ] || fail "no filesystem labelled '$label' ($(ls /dev/vd* /dev/sd* 2>/dev/null))"
mount -t "$fstype" -o "$flags" "$dev" /sysroot || fail "cannot mount $dev"
msg "root: $dev ($fstype)"
[ -x "/sysroot$init" ] || fail "$init is not in the root filesystem"
mount --move /dev /sysroot/dev 2>/dev/null
umount /proc /sys 2>/dev/null
exec switch_root /sysroot "$init"
"""

GRUB_CFG = """set default="0"
set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
search --no-floppy --set=root --label {esp_label}
menuentry {title} {{
    linux /vmlinuz root=LABEL={root_label} rootfstype=ext4 rw console=tty0 console=ttyS0,115200 panic=-1 loglevel=4 {append}
    initrd /initrd.img
}}
"""


def _guid(seed, what):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pungi-like-image:{seed}:{what}")).upper()


def make_disk_initramfs(output, root_dir, *, source_date_epoch=None, modules=DISK_MODULES):
    """An initramfs that mounts the root by label (see :data:`DISK_INIT`); returns its info."""
    try:
        return initramfs.make_initramfs(
            output, root_dir, modules=modules, source_date_epoch=source_date_epoch,
            init_script=lambda kver, order: DISK_INIT.replace("@MODULES@", " ".join(order))
            .replace("@KVER@", kver))
    except PungiLikeError as exc:
        raise ImageBuildError(str(exc)) from None


def _tree_bytes(root_dir):
    total, count = 0, 0
    for top, dirs, files in os.walk(root_dir):
        for f in files + dirs:
            count += 1
            try:
                total += os.lstat(os.path.join(top, f)).st_size
            except OSError:
                pass
    return total, count


def _copy_into(src, dest, offset):
    """Copy ``src`` into ``dest`` at byte ``offset``, leaving zero blocks as holes."""
    block = MIB
    zero = bytes(block)
    with open(src, "rb") as fin, open(dest, "r+b") as fout:
        pos = offset
        while True:
            data = fin.read(block)
            if not data:
                break
            if data != zero[:len(data)]:
                fout.seek(pos)
                fout.write(data)
            pos += len(data)


def _mib_ceil(n):
    return (n + MIB - 1) // MIB * MIB


def make_raw_disk(root_dir, raw_path, *, work_dir, seed, root_label="root", root_size_mib=None,
                  title="Linux", append="", source_date_epoch=None, log_path=None):
    """Write the GPT disk ``raw_path`` (ESP + ext4 root) from ``root_dir``; returns layout info."""
    env = dict(os.environ)
    if source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(int(source_date_epoch))
        env["E2FSPROGS_FAKE_TIME"] = str(int(source_date_epoch))
    kver, vmlinuz = initramfs.find_kernel(root_dir)
    initrd = os.path.join(work_dir, "initrd.img")
    info = make_disk_initramfs(initrd, root_dir, source_date_epoch=source_date_epoch)
    bootx64 = os.path.join(work_dir, "BOOTX64.EFI")
    efiboot.make_grub_efi(bootx64, ESP_LABEL, log_path=log_path,
                          source_date_epoch=source_date_epoch)
    grub_cfg = os.path.join(work_dir, "grub.cfg")
    with open(grub_cfg, "w", encoding="utf-8") as fh:
        fh.write(GRUB_CFG.format(esp_label=efiboot.grub_escape(ESP_LABEL),
                                 title=efiboot.grub_escape(title), root_label=root_label,
                                 append=append).replace(" \n", "\n"))
    esp_img = os.path.join(work_dir, "esp.img")
    efiboot.make_efiboot_img(esp_img, {"EFI/BOOT/BOOTX64.EFI": bootx64,
                                       "EFI/BOOT/grub.cfg": grub_cfg,
                                       "vmlinuz": vmlinuz, "initrd.img": initrd},
                             label=ESP_LABEL, source_date_epoch=source_date_epoch,
                             log_path=log_path)
    used, inodes = _tree_bytes(root_dir)
    needed_mib = (used * 13 // 10 + inodes * 4096) // MIB + 32
    size_mib = max(needed_mib, root_size_mib or 0)
    root_img = os.path.join(work_dir, "root.ext4")
    if os.path.exists(root_img):
        os.unlink(root_img)
    fs_uuid = _guid(seed, "rootfs").lower()
    tools.run(["mkfs.ext4", "-q", "-F", "-L", root_label, "-U", fs_uuid,
               "-E", f"root_owner=0:0,hash_seed={_guid(seed, 'hash').lower()}",
               "-d", root_dir, root_img, f"{size_mib}M"], log_path=log_path, env=env)
    esp_bytes = _mib_ceil(os.path.getsize(esp_img))
    root_bytes = _mib_ceil(os.path.getsize(root_img))
    esp_start = MIB
    root_start = esp_start + esp_bytes
    total = root_start + root_bytes + MIB           # room for the backup GPT
    if os.path.exists(raw_path):
        os.unlink(raw_path)
    with open(raw_path, "wb") as fh:
        fh.truncate(total)
    script = (f"label: gpt\nlabel-id: {_guid(seed, 'disk')}\nunit: sectors\n"
              f"first-lba: {esp_start // SECTOR}\n"
              f"start={esp_start // SECTOR}, size={esp_bytes // SECTOR}, type={ESP_TYPE}, "
              f"uuid={_guid(seed, 'esp')}, name=\"EFI System Partition\"\n"
              f"start={root_start // SECTOR}, size={root_bytes // SECTOR}, "
              f"type={ROOT_TYPE_X86_64}, uuid={_guid(seed, 'root')}, name=\"root\"\n")
    tools.run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", raw_path], input=script,
              log_path=log_path, env=env)
    _copy_into(esp_img, raw_path, esp_start)
    _copy_into(root_img, raw_path, root_start)
    for f in (esp_img, root_img):
        os.unlink(f)
    return {"kver": kver, "initrd_modules": info["modules"], "root_label": root_label,
            "root_partuuid": _guid(seed, "root").lower(), "root_fs_uuid": fs_uuid,
            "esp_size": esp_bytes, "root_size": root_bytes, "disk_size": total}


def make_tarball(root_dir, tar_path, *, source_date_epoch=None, log_path=None):
    """The root filesystem as a gzip tarball (GNU tar; sorted, numeric owners)."""
    cmd = ["tar", "--sort=name", "--numeric-owner", "--xattrs", "-C", root_dir]
    if source_date_epoch is not None:
        cmd += [f"--mtime=@{int(source_date_epoch)}", "--clamp-mtime"]
    cmd += ["-I", "gzip -n -6", "-cf", tar_path, "."]
    tools.run(cmd, log_path=log_path)
    return tar_path


def build_disk_image(kickstart_path, repos, *, arch, name, version, release, workdir,
                     formats=FORMATS, source_date_epoch=None, keep_repos=False, ks_files=None,
                     ksversion=None, keep_root=False):
    """Build disk images from a kickstart; everything goes under ``workdir``.

    ``formats``: any of ``raw``, ``raw-xz``, ``qcow2``, ``tar-gz``.  Returns a dict like
    :func:`pungi_like.buildsvc.builder.livecd.build_livecd`'s, with ``images`` ({format:
    imageinfo}) instead of ``image``, plus ``disk`` (the partition layout).
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ImageBuildError(f"image formats {', '.join(unknown)} are not supported "
                              f"(supported: {', '.join(FORMATS)})")
    if arch != "x86_64":
        raise ImageBuildError(f"disk images: arch {arch} is not supported (x86_64 UEFI only)")
    if source_date_epoch is None and os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        source_date_epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    workdir = os.path.abspath(workdir)
    log_dir = os.path.join(workdir, "logs")
    out_dir = os.path.join(workdir, "output")
    root_dir = os.path.join(workdir, "root")
    tmp_dir = os.path.join(workdir, "tmp")
    for d in (root_dir, tmp_dir):
        if os.path.exists(d):
            shutil.rmtree(d)
    for d in (log_dir, out_dir, tmp_dir):
        os.makedirs(d, exist_ok=True)
    nvr = f"{name}-{version}-{release}"
    log_path = os.path.join(log_dir, "image.log")
    ks, ks_orig, ks_flat = prepare_kickstart(kickstart_path, out_dir, repos=repos,
                                             keep_repos=keep_repos, files=ks_files,
                                             version=ksversion, name=nvr)
    use_repos = repos if not keep_repos else [(r.name, r.url) for r in ks.repos]
    populated = populate_root(ks, use_repos, arch, root_dir, log_dir=log_dir)
    seconds = dict(populated["seconds"])
    root_label = next((p["label"] for p in ks.partitions if p["mountpoint"] == "/"
                       and p["label"]), None) or "root"
    images, files, disk = {}, [], None
    base = os.path.join(out_dir, f"{nvr}.{arch}")
    seed = f"{nvr}.{arch}/{source_date_epoch}"
    if {"raw", "raw-xz", "qcow2"} & set(formats):
        t0 = time.monotonic()
        raw = base + ".raw"
        disk = make_raw_disk(root_dir, raw, work_dir=tmp_dir, seed=seed, root_label=root_label,
                             root_size_mib=ks.root_size_mib(), title=f"{name} {version}",
                             append=ks.bootloader.get("append", ""),
                             source_date_epoch=source_date_epoch, log_path=log_path)
        seconds["raw"] = round(time.monotonic() - t0, 2)
        if "qcow2" in formats:
            t0 = time.monotonic()
            qcow2 = base + ".qcow2"
            tools.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2],
                      log_path=log_path)
            images["qcow2"] = file_info(qcow2, arch=arch, media_type="qcow2", format="qcow2",
                                        boot="uefi", **_disk_meta(disk))
            files.append(qcow2)
            seconds["qcow2"] = round(time.monotonic() - t0, 2)
        if "raw-xz" in formats:
            t0 = time.monotonic()
            tools.run(["xz", "--threads=1", "--keep", "--force", raw], log_path=log_path)
            images["raw-xz"] = file_info(raw + ".xz", arch=arch, media_type="raw-xz",
                                         format="raw-xz", boot="uefi", **_disk_meta(disk))
            files.append(raw + ".xz")
            seconds["raw-xz"] = round(time.monotonic() - t0, 2)
        if "raw" in formats:
            images["raw"] = file_info(raw, arch=arch, media_type="raw", format="raw",
                                      boot="uefi", **_disk_meta(disk))
            files.append(raw)
        else:
            os.unlink(raw)
    if "tar-gz" in formats:
        t0 = time.monotonic()
        tar_path = make_tarball(root_dir, base + ".tar.gz", source_date_epoch=source_date_epoch,
                                log_path=log_path)
        images["tar-gz"] = file_info(tar_path, arch=arch, media_type="tar", format="tar-gz")
        files.append(tar_path)
        seconds["tar-gz"] = round(time.monotonic() - t0, 2)
    if not keep_root:
        shutil.rmtree(root_dir)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    return {
        "name": name, "version": version, "release": release, "arch": arch,
        "files": sorted(files) + [ks_orig, ks_flat],
        "images": images, "disk": disk,
        "kickstart": ks_orig, "kickstart_flat": ks_flat,
        "included_files": ks.included_files,
        "rpmlist": populated["rpms"], "post": populated["post"],
        "logs": sorted(os.path.join(log_dir, f) for f in os.listdir(log_dir)
                       if f.endswith(".log")),
        "seconds": seconds,
    }


def _disk_meta(disk):
    return {"root_label": disk["root_label"], "root_partuuid": disk["root_partuuid"],
            "disk_size": disk["disk_size"]}
