"""The boot initramfs: a newc cpio archive written in Python (no root, no mknod, no dracut).

It holds ``/dev/console`` (and ``/dev/null``) as device nodes written straight into the archive,
busybox from the installed root, the kernel modules the boot medium needs in their load order,
and an ``/init`` rendered from ``share/templates/initramfs-init.sh.j2`` that finds the medium
by its volume label, loop-mounts the stage2 squashfs from it and switches root into it (see
the template for the command line it reads).

The module order comes from the root's ``modules.dep`` (each module after its dependencies);
without one, from the kernel package's ``demo-load-order`` list.  Archives are reproducible:
entries are sorted, every mtime is the source date epoch (0 without one) and gzip's header
carries no time.
"""

from __future__ import annotations

import gzip
import io
import os
import stat

from ..errors import PungiLikeError
from . import templates

# what a CD/DVD/USB/virtio boot needs to reach a squashfs root with an overlay on top
# (crct10dif_generic: crc-t10dif, under sd_mod, needs a crct10dif provider it only names as a
# softdep)
DEFAULT_MODULES = ("cdrom", "sr_mod", "ata_piix", "crct10dif_generic", "sd_mod", "isofs",
                   "squashfs", "loop", "overlay", "virtio_pci", "virtio_blk", "virtio_scsi")
BUSYBOX_CANDIDATES = ("bin/busybox", "usr/bin/busybox", "sbin/busybox", "usr/sbin/busybox")


def _norm(name):
    return name.replace("-", "_")


class CpioWriter:
    """A newc ("070701") archive; every entry is written with the archive's fixed mtime."""

    def __init__(self, fh, mtime=0):
        self.fh = fh
        self.mtime = int(mtime)
        self.ino = 0
        self.names = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name = name.strip("/") or "."
        if name in self.names:
            raise PungiLikeError(f"cpio: {name} added twice")
        self.names.add(name)
        self.ino += 1
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, self.mtime, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.fh.write(header + encoded)
        self.fh.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self.fh.write(data)
        self.fh.write(b"\0" * (-len(data) % 4))

    def directory(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0, nlink=1)


def _module_index(moddir):
    """{normalised module name: path relative to moddir} of every .ko under moddir."""
    index = {}
    for top, _dirs, files in os.walk(moddir):
        for f in files:
            if f.endswith(".ko"):
                index[_norm(f[:-3])] = os.path.relpath(os.path.join(top, f), moddir)
    return index


def module_load_order(moddir, wanted=DEFAULT_MODULES):
    """Relative paths of ``wanted`` modules and their dependencies, dependencies first.

    Uses ``modules.dep``; modules that are not in ``moddir`` (built in, or not packaged) are
    left out.  Falls back to ``demo-load-order`` when there is no modules.dep.
    """
    index = _module_index(moddir)
    depfile = os.path.join(moddir, "modules.dep")
    if not os.path.exists(depfile):
        order_file = os.path.join(moddir, "demo-load-order")
        if not os.path.exists(order_file):
            raise PungiLikeError(f"{moddir}: neither modules.dep nor demo-load-order")
        with open(order_file, encoding="utf-8") as fh:
            names = [_norm(n.strip()) for n in fh if n.strip()]
        return [index[n] for n in names if n in index]
    deps = {}
    with open(depfile, encoding="utf-8") as fh:
        for line in fh:
            if ":" not in line:
                continue
            mod, _, rest = line.partition(":")
            key = _norm(os.path.basename(mod).split(".ko")[0])
            deps[key] = [_norm(os.path.basename(d).split(".ko")[0]) for d in rest.split()]
    order = []

    def visit(name, stack=()):
        if name in order or name in stack:
            return
        # modules.dep lists a module's dependencies so that the last one loads first
        for dep in reversed(deps.get(name, [])):
            visit(dep, stack + (name,))
        if name in index:
            order.append(name)

    for name in wanted:
        visit(_norm(name))
    return [index[n] for n in order]


def find_kernel(root_dir):
    """(kver, vmlinuz path) of the one kernel installed in ``root_dir``."""
    boot = os.path.join(root_dir, "boot")
    found = sorted(f for f in os.listdir(boot) if f.startswith("vmlinuz-")) \
        if os.path.isdir(boot) else []
    if not found:
        raise PungiLikeError(f"{root_dir}: no /boot/vmlinuz-* (is the kernel package installed?)")
    kver = found[-1][len("vmlinuz-"):]
    return kver, os.path.join(boot, found[-1])


def make_initramfs(output, root_dir, *, kver=None, modules=DEFAULT_MODULES,
                   installer_image="images/install.img", live_image="LiveOS/squashfs.img",
                   installer_init="/usr/libexec/demo-installer/init-hook", live_init="/sbin/init",
                   wait_seconds=30, extra_files=None, source_date_epoch=None, compress=True,
                   init_script=None):
    """Write the initramfs for the kernel installed in ``root_dir`` to ``output``.

    ``modules``: names to load (with their dependencies).  ``extra_files``: {path in the
    archive: bytes}.  ``init_script``: a callable ``(kver, load_order) -> text`` giving
    another ``/init`` than the CD/live one of ``share/templates/initramfs-init.sh.j2`` (disk
    images mount their root by label).  Returns {"kver", "modules" (load order), "size"}.
    """
    kver = kver or find_kernel(root_dir)[0]
    moddir = os.path.join(root_dir, "lib", "modules", kver)
    if not os.path.isdir(moddir):
        raise PungiLikeError(f"{moddir} does not exist: no modules for kernel {kver}")
    busybox = next((os.path.join(root_dir, c) for c in BUSYBOX_CANDIDATES
                    if os.path.isfile(os.path.join(root_dir, c))), None)
    if busybox is None:
        raise PungiLikeError(f"{root_dir}: no busybox binary (install the busybox package)")
    order = module_load_order(moddir, modules)
    if init_script is not None:
        init = init_script(kver, order)
    else:
        init = templates.render("initramfs-init.sh.j2", kver=kver, modules=order,
                                installer_image=installer_image, live_image=live_image,
                                installer_init=installer_init, live_init=live_init,
                                wait_seconds=int(wait_seconds))
    buf = io.BytesIO()
    cpio = CpioWriter(buf, mtime=source_date_epoch or 0)
    dirs = {"bin", "dev", "etc", "lib", "lib/modules", f"lib/modules/{kver}", "proc", "run",
            "sbin", "sys", "sysroot", "tmp", "usr", "usr/bin", "usr/sbin"}
    for rel in order:
        parent = os.path.dirname(f"lib/modules/{kver}/{rel}")
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    for rel in sorted(extra_files or {}):
        parent = os.path.dirname(rel.strip("/"))
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    entries = {}
    for d in dirs:
        entries[d] = ("dir",)
    entries["dev/console"] = ("chr", 5, 1, 0o600)
    entries["dev/null"] = ("chr", 1, 3, 0o666)
    with open(busybox, "rb") as fh:
        entries["bin/busybox"] = ("file", fh.read(), 0o755)
    entries["bin/sh"] = ("link", "busybox")
    entries["init"] = ("file", init.encode(), 0o755)
    for rel in order:
        with open(os.path.join(moddir, rel), "rb") as fh:
            entries[f"lib/modules/{kver}/{rel}"] = ("file", fh.read(), 0o644)
    for rel, data in (extra_files or {}).items():
        entries[rel.strip("/")] = ("file", data if isinstance(data, bytes) else data.encode(),
                                   0o644)
    for name in sorted(entries):
        kind, *args = entries[name]
        if kind == "dir":
            cpio.directory(name)
        elif kind == "chr":
            cpio.chardev(name, *args)
        elif kind == "link":
            cpio.symlink(name, *args)
        else:
            cpio.file(name, *args)
    cpio.close()
    data = buf.getvalue()
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "wb") as fh:
        fh.write(data)
    os.chmod(output, 0o644)
    return {"kver": kver, "modules": order, "size": len(data)}
