"""UEFI boot files: a standalone GRUB (``EFI/BOOT/BOOTX64.EFI``) and the FAT image
``images/efiboot.img`` that El Torito's UEFI entry points at.

The FAT image is made with ``mkfs.vfat -C`` and filled with mtools (``mmd``, ``mcopy``): no
loop mount, no root privileges.  With a source date epoch the image is reproducible: mtools
honours ``SOURCE_DATE_EPOCH``, ``mkfs.fat`` gets ``--invariant``, files are copied with their
mtime set to the epoch (``mcopy -m``), and the volume serial is derived from the label.

The GRUB image (``grub-mkimage``, every module built in) carries a small embedded config that finds the ISO by its volume label and
hands over to ``/EFI/BOOT/grub.cfg`` on it (the menu rendered from
``share/templates/grub.cfg.j2``), so a menu edit needs no new BOOTX64.EFI.
"""

import hashlib
import os
import shutil
import tempfile

from .. import tools
from ..errors import PungiLikeError

# what the standalone image must contain to find the ISO, read it, and boot Linux with a serial
# console; everything else stays out (the default would embed every module, ~5 MB)
GRUB_EFI_MODULES = ("part_gpt", "part_msdos", "iso9660", "fat", "search", "search_label",
                    "search_fs_file", "normal", "configfile", "linux", "echo", "test", "serial",
                    "terminal", "all_video", "gfxterm", "font", "sleep", "reboot", "halt",
                    "chain", "ls", "cat", "regexp", "boot", "efi_gop", "efi_uga", "gzio")


def grub_escape(text):
    """``text`` as a single-quoted GRUB word."""
    return "'" + text.replace("'", "'\\''") + "'"


def embedded_grub_cfg(volid, menu_path="/EFI/BOOT/grub.cfg"):
    """The config built into BOOTX64.EFI: find the volume ``volid``, load its menu."""
    return (f"search --no-floppy --set=root --label {grub_escape(volid)}\n"
            f"set prefix=($root)/EFI/BOOT\n"
            f"configfile ($root){menu_path}\n")


def make_grub_efi(output, volid, *, log_path=None, modules=GRUB_EFI_MODULES,
                  source_date_epoch=None):
    """Write a standalone x86_64 GRUB EFI binary to ``output`` with :func:`embedded_grub_cfg`.

    Made with ``grub-mkimage`` (modules built in, the config embedded with ``-c``) rather than
    ``grub-mkstandalone``: the latter packs its modules into a tar memdisk stamped with the
    build time, so two builds never give the same bytes.  ``source_date_epoch`` is accepted
    for symmetry; the image has no timestamps.
    """
    with tempfile.TemporaryDirectory(prefix="grub-efi-") as tmp:
        cfg = os.path.join(tmp, "embedded.cfg")
        with open(cfg, "w", encoding="utf-8") as fh:
            fh.write(embedded_grub_cfg(volid))
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        tools.run(["grub-mkimage", "-O", "x86_64-efi", "-o", output, "-p", "/EFI/BOOT",
                   "-c", cfg] + list(modules), log_path=log_path)
    return output


def make_efiboot_img(img_path, files, *, label="EFIBOOT", size_kib=None, source_date_epoch=None,
                     log_path=None):
    """Make the FAT image ``img_path`` holding ``files`` ({path in the image: source file}).

    The size is the files' size plus room for FAT metadata, rounded up to 1 MiB, unless
    ``size_kib`` is given.  Returns ``img_path``.
    """
    total = sum(os.path.getsize(src) for src in files.values())
    if size_kib is None:
        size_kib = ((total * 11 // 10 + 512 * 1024) // (1024 * 1024) + 1) * 1024
    if os.path.exists(img_path):
        os.unlink(img_path)
    os.makedirs(os.path.dirname(os.path.abspath(img_path)), exist_ok=True)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    if source_date_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(int(source_date_epoch))
    serial = hashlib.sha256(label.encode()).hexdigest()[:8]
    # mkfs.fat 4.2 ignores SOURCE_DATE_EPOCH; --invariant fixes its time-based fields
    invariant = ["--invariant"] if source_date_epoch is not None else []
    tools.run(["mkfs.vfat"] + invariant + ["-C", "-n", label[:11].upper(), "-i", serial,
                                           img_path, str(size_kib)], log_path=log_path, env=env)
    with tempfile.TemporaryDirectory(prefix="efiboot-") as tmp:
        _fill_fat(img_path, files, tmp, source_date_epoch, env, log_path)
    return img_path


def _fill_fat(img_path, files, tmp, source_date_epoch, env, log_path):
    made = set()
    for dest in sorted(files):
        parts = dest.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                tools.run(["mmd", "-i", img_path, f"::/{d}"], log_path=log_path, env=env)
                made.add(d)
        src = files[dest]
        if not os.path.isfile(src):
            raise PungiLikeError(f"make_efiboot_img: {src} is not a file")
        if source_date_epoch is not None:
            # mcopy -m keeps the source's mtime: give a private copy the fixed time
            copy = os.path.join(tmp, f"{len(made)}-{os.path.basename(src)}")
            shutil.copyfile(src, copy)
            os.utime(copy, (int(source_date_epoch), int(source_date_epoch)))
            src = copy
        tools.run(["mcopy", "-m", "-i", img_path, src, f"::/{'/'.join(parts)}"],
                  log_path=log_path, env=env)
