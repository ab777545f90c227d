"""Boot menus (isolinux for BIOS, GRUB for UEFI) rendered from ``share/templates``.

The volume id is the boot label: installer menus pass ``inst.stage2=hd:LABEL=<volid>``, live
menus ``root=live:CDLABEL=<volid> rd.live.image``, with spaces written ``\\x20`` as Pungi's
``tweak_buildinstall`` does; GRUB finds the medium with ``search --label '<volid>'``.  Both menus
talk on the serial console (ttyS0, 115200) as well as the screen, and the kernel's console is
``ttyS0`` (the last ``console=``), so a headless boot can be followed and tested.
"""

from __future__ import annotations

import os

from ..fileutil import write_atomic
from . import templates
from .efiboot import grub_escape

CONSOLE_ARGS = "console=tty0 console=ttyS0,115200"


def escape_label(volid):
    """The volume id as it appears on a kernel command line (spaces as ``\\x20``)."""
    return volid.replace(" ", "\\x20")


def root_args(volid, kind="installer"):
    """The kernel arguments that point the initramfs at the stage2 on the medium ``volid``."""
    if kind == "installer":
        return f"inst.stage2=hd:LABEL={escape_label(volid)}"
    if kind == "live":
        return f"root=live:CDLABEL={escape_label(volid)} rd.live.image"
    raise ValueError(f"boot menu kind {kind!r} is not installer or live")


def menu_entries(title, volid, kind="installer", extra_args="", check_entry=True, ks=None):
    """The entries of both menus: the default one and a "test this media" one."""
    args = " ".join(a for a in (root_args(volid, kind), f"inst.ks=hd:LABEL={escape_label(volid)}:"
                                f"{ks}" if ks else "", extra_args, CONSOLE_ARGS,
                                "panic=-1 loglevel=4") if a)
    verb = "Install" if kind == "installer" else "Start"
    entries = [dict(id="linux", title=f"{verb} {title}", args=args, cls="fedora")]
    if check_entry:
        entries.append(dict(id="check", title=f"Test this media & {verb.lower()} {title}",
                            args=args.replace(root_args(volid, kind),
                                              root_args(volid, kind) + " rd.live.check"),
                            cls="fedora"))
    for e in entries:
        e["grub_title"] = grub_escape(e["title"])
        # GRUB eats one level of backslashes in unquoted words: keep \x20 for the kernel
        e["grub_args"] = e["args"].replace("\\", "\\\\")
    return entries


def render_isolinux_cfg(title, volid, *, kind="installer", kernel="vmlinuz",
                        initrd="initrd.img", extra_args="", timeout_tenths=10, prompt=False,
                        ks=None):
    """isolinux.cfg text (paths relative to isolinux/, where isolinux looks first)."""
    return templates.render("isolinux.cfg.j2", entries=menu_entries(title, volid, kind,
                                                                    extra_args, ks=ks),
                            kernel=kernel, initrd=initrd, timeout_tenths=int(timeout_tenths),
                            prompt=prompt)


def render_grub_cfg(title, volid, *, kind="installer", kernel="/images/pxeboot/vmlinuz",
                    initrd="/images/pxeboot/initrd.img", extra_args="", timeout_seconds=1,
                    ks=None):
    """EFI/BOOT/grub.cfg text."""
    return templates.render("grub.cfg.j2", entries=menu_entries(title, volid, kind, extra_args,
                                                                ks=ks),
                            kernel=kernel, initrd=initrd, timeout_seconds=int(timeout_seconds),
                            grub_label=grub_escape(volid))


def write_boot_menus(tree_dir, title, volid, *, kind="installer", extra_args="",
                     grub_kernel="/images/pxeboot/vmlinuz", grub_initrd="/images/pxeboot/initrd.img",
                     ks=None):
    """Write ``isolinux/isolinux.cfg`` and ``EFI/BOOT/grub.cfg`` under ``tree_dir``; returns
    their paths."""
    iso_cfg = os.path.join(tree_dir, "isolinux", "isolinux.cfg")
    grub_cfg = os.path.join(tree_dir, "EFI", "BOOT", "grub.cfg")
    write_atomic(iso_cfg, render_isolinux_cfg(title, volid, kind=kind, extra_args=extra_args,
                                              ks=ks))
    write_atomic(grub_cfg, render_grub_cfg(title, volid, kind=kind, extra_args=extra_args,
                                           kernel=grub_kernel, initrd=grub_initrd, ks=ks))
    return iso_cfg, grub_cfg
