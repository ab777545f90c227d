"""The bootable installer tree (what lorax makes for Pungi's buildinstall phase), without lorax.

:func:`build_installer_tree` resolves the runtime package set with libsolv, installs it into a
root with rpm, and writes into ``outdir``::

    images/install.img          squashfs of the runtime root (stage2)
    images/pxeboot/vmlinuz      the runtime's kernel
    images/pxeboot/initrd.img   boot initramfs (media/initramfs.py)
    isolinux/                   isolinux.bin, ldlinux.c32, vmlinuz, initrd.img, isolinux.cfg
    EFI/BOOT/                   BOOTX64.EFI (standalone GRUB), grub.cfg
    images/efiboot.img          FAT image with EFI/BOOT/ (El Torito UEFI entry)
    .treeinfo                   [images-<arch>] kernel/initrd/efiboot.img/boot.iso, [stage2]
    .discinfo                   timestamp, product, arch
    images/boot.iso             BIOS+UEFI bootable, isohybrid, implanted MD5

``lorax_options`` (Pungi's option of that name) are honoured this way:

``volid``        the volume id of boot.iso and the boot label in the menus
``bugurl``       written as ``BugURL`` into the runtime's ``/.buildstamp``
``isfinal``      ``IsFinal`` in ``/.buildstamp``
``version``      the version in ``/.buildstamp``, ``.treeinfo`` and the menus
``installpkgs``  extra packages for the runtime; ``excludepkgs`` packages kept out
``add_template`` / ``add_arch_template``  runtime templates applied to the root before it is
                 squashed; ``add_template_var`` / ``add_arch_template_var`` (``"k=v"``) fill
                 their ``${k}`` placeholders.  Commands: ``mkdir DIR...``, ``remove GLOB...``,
                 ``append FILE TEXT`` (``\\n`` for newlines), ``replace FROM TO FILE...``,
                 ``symlink TARGET LINK``, ``install SRC DEST`` (SRC relative to the template);
                 anything else (lorax's ``runcmd``, ``installpkg`` ...) is an error naming the line
``rootfs_size``  accepted and recorded in ``/.buildstamp``; it sized lorax's ext4 rootfs.img
                 inside install.img, which this tree does not have (stage2 is the squashfs itself)
``nomacboot``, ``noupgrade``, ``squashfs_only``, ``skip_branding``  accepted; what they turn off
                 (Mac boot images, upgrade.img, the ext4 layer, branding packages) is never made
``dracut_args``  refused: the initramfs is not made by dracut
"""

from __future__ import annotations

import glob
import hashlib
import os
import shlex
import shutil
import tempfile
import time

import productmd.treeinfo

from ..errors import PhaseError
from ..fileutil import write_atomic
from ..rpmtools.rootinstall import install_root, resolve_packages
from . import bootmenu, efiboot, initramfs, iso, squashfs

ISOLINUX_FILES = {
    "isolinux.bin": ("/usr/lib/ISOLINUX/isolinux.bin", "/usr/share/syslinux/isolinux.bin",
                     "/usr/lib/syslinux/isolinux.bin"),
    "ldlinux.c32": ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "/usr/share/syslinux/ldlinux.c32",
                    "/usr/lib/syslinux/ldlinux.c32"),
}
KNOWN_LORAX_OPTIONS = {"volid", "bugurl", "nomacboot", "noupgrade", "rootfs_size", "add_template",
                       "add_arch_template", "add_template_var", "add_arch_template_var",
                       "version", "isfinal", "installpkgs", "excludepkgs", "squashfs_only",
                       "skip_branding", "dracut_args", "configuration_file"}
ALWAYS_RUNTIME = ("kernel", "busybox")


def _syslinux_file(name):
    for path in ISOLINUX_FILES[name]:
        if os.path.exists(path):
            return path
    raise PhaseError(f"{name} not found (looked in {', '.join(ISOLINUX_FILES[name])}); install "
                     f"isolinux and syslinux-common (.ci/setup)")


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def apply_template(path, root, variables):
    """Run the runtime template ``path`` against ``root`` (commands in the module docstring)."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()

    def inside(rel):
        full = os.path.normpath(os.path.join(root, rel.lstrip("/")))
        if not (full + "/").startswith(os.path.normpath(root) + "/"):
            raise PhaseError(f"{path}: {rel} is outside the runtime root")
        return full

    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for key, value in variables.items():
            line = line.replace("${%s}" % key, str(value))
        words = shlex.split(line)
        cmd, args = words[0], words[1:]
        where = f"{path}:{lineno}"
        if cmd == "mkdir":
            for d in args:
                os.makedirs(inside(d), exist_ok=True)
        elif cmd == "remove":
            for pattern in args:
                for hit in sorted(glob.glob(inside(pattern)), reverse=True):
                    if os.path.isdir(hit) and not os.path.islink(hit):
                        shutil.rmtree(hit)
                    else:
                        os.unlink(hit)
        elif cmd == "append" and len(args) >= 2:
            with open(inside(args[0]), "a", encoding="utf-8") as fh:
                fh.write(" ".join(args[1:]).replace("\\n", "\n") + "\n")
        elif cmd == "replace" and len(args) >= 3:
            for target in args[2:]:
                for hit in glob.glob(inside(target)):
                    with open(hit, encoding="utf-8") as fh:
                        text = fh.read()
                    with open(hit, "w", encoding="utf-8") as fh:
                        fh.write(text.replace(args[0], args[1]))
        elif cmd == "symlink" and len(args) == 2:
            link = inside(args[1])
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(args[0], link)
        elif cmd == "install" and len(args) == 2:
            dest = inside(args[1])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(base, args[0]), dest)
        else:
            raise PhaseError(f"{where}: unsupported runtime template command {raw.strip()!r} "
                             f"(supported: mkdir, remove, append, replace, symlink, install)")


def _treeinfo(outdir, *, product, short, version, variant, arch, timestamp, images, stage2):
    ti = productmd.treeinfo.TreeInfo()
    ti.release.name = product
    ti.release.short = short
    ti.release.version = version
    ti.release.type = "ga"
    ti.tree.arch = arch
    ti.tree.build_timestamp = int(timestamp)
    ti.tree.platforms.add(arch)
    var = productmd.treeinfo.Variant(ti)
    var.id = var.uid = variant
    var.name = variant
    var.type = "variant"
    var.paths.packages = "Packages"
    var.paths.repository = "."
    ti.variants.add(var)
    for name, rel in sorted(images.items()):
        ti.images.images.setdefault(arch, {})[name] = rel
        ti.checksums.add(rel, "sha256", root_dir=outdir)
    ti.stage2.mainimage = stage2
    ti.checksums.add(stage2, "sha256", root_dir=outdir)
    path = os.path.join(outdir, ".treeinfo")
    ti.dump(path + ".tmp", main_variant=variant)
    os.replace(path + ".tmp", path)
    return path


def build_installer_tree(repo_dir, outdir, *, product, version, release, variant, volid,
                         arch="x86_64", packages=("demo-installer",), lorax_options=None,
                         source_date_epoch=None, log_dir=None, release_short=None,
                         squashfs_compression="zstd", bootable_iso=True) -> dict:
    """Make the installer tree in ``outdir`` (emptied first) from the packages of ``repo_dir``
    (a repo directory or a list of them); see the module docstring for the layout and
    ``lorax_options``.  Returns a JSON-able dict of what was made and how long each step took.
    """
    opts = dict(lorax_options or {})
    unknown = sorted(set(opts) - KNOWN_LORAX_OPTIONS)
    if unknown:
        raise PhaseError(f"lorax_options: unknown option(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(KNOWN_LORAX_OPTIONS))}")
    if opts.get("dracut_args"):
        raise PhaseError("lorax_options: dracut_args cannot be honoured: the initramfs is "
                         "written by pungi_like.media.initramfs, not dracut")
    volid = opts.get("volid") or volid
    version = str(opts.get("version") or version)
    if source_date_epoch is None and os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        source_date_epoch = int(os.environ["SOURCE_DATE_EPOCH"])
    timestamp = source_date_epoch if source_date_epoch is not None else int(time.time())
    short = release_short or "".join(product.split())
    title = f"{product} {version}"
    log_dir = log_dir or os.path.join(os.path.dirname(os.path.abspath(outdir)), "logs")
    os.makedirs(log_dir, exist_ok=True)
    log = os.path.join(log_dir, "buildinstall.log")
    timings = {}
    clock = time.monotonic()

    def step(name):
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 3)
        clock = now

    if os.path.exists(outdir):
        shutil.rmtree(outdir)
    os.makedirs(outdir)
    work = tempfile.mkdtemp(prefix=".buildinstall-", dir=os.path.dirname(os.path.abspath(outdir)))
    try:
        names = list(dict.fromkeys(list(packages) + _as_list(opts.get("installpkgs"))
                                   + list(ALWAYS_RUNTIME)))
        rpms = resolve_packages(repo_dir, names, arch=arch,
                                exclude=_as_list(opts.get("excludepkgs")))
        step("resolve")
        root = os.path.join(work, "root")
        installed = install_root(root, rpms, log_path=log, excludedocs=True,
                                 source_date_epoch=source_date_epoch)
        # rpm's lock and sqlite's shared-memory index are run-time files, not content
        for leftover in ("var/lib/rpm/.rpm.lock", "var/lib/rpm/rpmdb.sqlite-shm"):
            if os.path.exists(os.path.join(root, leftover)):
                os.unlink(os.path.join(root, leftover))
        write_atomic(os.path.join(log_dir, f"buildinstall-RPMs.{arch}.log"),
                     "".join(n + "\n" for n in installed))
        step("install")
        buildstamp = (f"[Main]\nProduct={product}\nVersion={version}\nRelease={release}\n"
                      f"BugURL={opts.get('bugurl') or 'your distribution provided bug reporting tool'}\n"
                      f"IsFinal={bool(opts.get('isfinal', False))}\nVariant={variant}\n"
                      f"UUID={timestamp}.{arch}\n")
        if opts.get("rootfs_size"):
            buildstamp += f"RootfsSize={opts['rootfs_size']}\n"
        write_atomic(os.path.join(root, ".buildstamp"), buildstamp)
        tvars = dict(product=product, version=version, release=release, arch=arch,
                     basearch=arch, variant=variant, volid=volid, root=root)
        for item in _as_list(opts.get("add_template_var")) + _as_list(
                opts.get("add_arch_template_var")):
            key, _, value = item.partition("=")
            tvars[key.strip()] = value.strip()
        for tmpl in _as_list(opts.get("add_template")) + _as_list(opts.get("add_arch_template")):
            apply_template(tmpl, root, tvars)
        step("templates")

        kver, vmlinuz = initramfs.find_kernel(root)
        pxe = os.path.join(outdir, "images", "pxeboot")
        isolinux_dir = os.path.join(outdir, "isolinux")
        os.makedirs(pxe)
        os.makedirs(isolinux_dir)
        shutil.copyfile(vmlinuz, os.path.join(pxe, "vmlinuz"))
        irfs = initramfs.make_initramfs(os.path.join(pxe, "initrd.img"), root, kver=kver,
                                        source_date_epoch=source_date_epoch)
        step("initramfs")
        squashfs.make_squashfs(root, os.path.join(outdir, "images", "install.img"),
                               compression=squashfs_compression,
                               source_date_epoch=source_date_epoch, log_path=log)
        step("squashfs")
        for name in ("vmlinuz", "initrd.img"):
            shutil.copyfile(os.path.join(pxe, name), os.path.join(isolinux_dir, name))
        for name in ISOLINUX_FILES:
            shutil.copyfile(_syslinux_file(name), os.path.join(isolinux_dir, name))
        bootmenu.write_boot_menus(outdir, title, volid, kind="installer")
        efi_dir = os.path.join(outdir, "EFI", "BOOT")
        bootx64 = efiboot.make_grub_efi(os.path.join(efi_dir, "BOOTX64.EFI"), volid,
                                        log_path=log, source_date_epoch=source_date_epoch)
        efiboot_img = efiboot.make_efiboot_img(
            os.path.join(outdir, "images", "efiboot.img"),
            {"EFI/BOOT/BOOTX64.EFI": bootx64,
             "EFI/BOOT/grub.cfg": os.path.join(efi_dir, "grub.cfg")},
            label="ANACONDA", source_date_epoch=source_date_epoch, log_path=log)
        step("bootloaders")
        images = {"kernel": "images/pxeboot/vmlinuz", "initrd": "images/pxeboot/initrd.img",
                  "efiboot.img": "images/efiboot.img"}
        tinfo = dict(product=product, short=short, version=version, variant=variant, arch=arch,
                     timestamp=timestamp, stage2="images/install.img")
        _treeinfo(outdir, images=images, **tinfo)
        write_atomic(os.path.join(outdir, ".discinfo"), f"{timestamp}\n{title}\n{arch}\n")
        result = {"tree": outdir, "volid": volid, "kver": kver, "arch": arch,
                  "kernel": os.path.join(pxe, "vmlinuz"),
                  "initrd": os.path.join(pxe, "initrd.img"),
                  "install_img": os.path.join(outdir, "images", "install.img"),
                  "efiboot_img": efiboot_img, "initramfs_modules": irfs["modules"],
                  "packages": installed, "lorax_options": opts, "log": log}
        if bootable_iso:
            boot_iso = os.path.join(outdir, "images", "boot.iso")
            info = iso.write_iso(outdir, boot_iso, volid, boot="bios+uefi",
                                 source_date_epoch=source_date_epoch,
                                 excludes=("images/boot.iso",), log_path=log,
                                 application_id=title)
            result["implant_md5"] = iso.implant_md5(boot_iso, log_path=log)
            step("boot.iso")
            images["boot.iso"] = "images/boot.iso"
            _treeinfo(outdir, images=images, **tinfo)
            result.update(boot_iso=boot_iso, boot_iso_size=info.size)
        result["treeinfo"] = os.path.join(outdir, ".treeinfo")
        result["seconds"] = timings
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def retarget_boot_files(outdir, title, volid, *, log_path=None, source_date_epoch=None):
    """The boot files of an installer tree made for another volume id (what Pungi's
    ``tweak_configs`` does for extra ISOs): both boot menus, the standalone GRUB (its embedded
    config finds the medium by label) and ``images/efiboot.img``, written under ``outdir``.
    Returns ``{path on the ISO: file}`` to graft over the installer tree's own."""
    iso_cfg, grub_cfg = bootmenu.write_boot_menus(outdir, title, volid, kind="installer")
    bootx64 = efiboot.make_grub_efi(os.path.join(outdir, "EFI", "BOOT", "BOOTX64.EFI"), volid,
                                    log_path=log_path, source_date_epoch=source_date_epoch)
    efiboot_img = efiboot.make_efiboot_img(
        os.path.join(outdir, "images", "efiboot.img"),
        {"EFI/BOOT/BOOTX64.EFI": bootx64, "EFI/BOOT/grub.cfg": grub_cfg},
        label="ANACONDA", source_date_epoch=source_date_epoch, log_path=log_path)
    return {"isolinux/isolinux.cfg": iso_cfg, "EFI/BOOT/grub.cfg": grub_cfg,
            "EFI/BOOT/BOOTX64.EFI": bootx64, "images/efiboot.img": efiboot_img}


def tree_digest(outdir):
    """sha256 over every file of the tree (paths and contents): equal trees, equal digests."""
    h = hashlib.sha256()
    for top, dirs, files in os.walk(outdir):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(top, f)
            h.update(os.path.relpath(path, outdir).encode() + b"\0")
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()

