"""Binary inputs of the demo universe taken from this Debian machine: a kernel and busybox.

The kernel comes from Debian's ``linux-image-<ver>-amd64`` package, fetched with
``apt-get download`` and unpacked with ``dpkg-deb -x`` (no maintainer scripts run). Only the
modules later phases need (to boot an ISO, loop-mount a squashfs and find a disk) are kept, with
their dependencies, in a small cached subset; the full unpacked tree is removed again.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

from ..errors import ToolError

#: Modules the boot media need; their dependencies are added (``modprobe --show-depends``).
KERNEL_MODULES = ("isofs", "squashfs", "loop", "cdrom", "sr_mod", "ata_piix", "sd_mod",
                  "overlay", "virtio_blk", "virtio_pci", "virtio_scsi", "ext4")
_INFO = "kernel.json"


@dataclass
class KernelInput:
    """A Debian kernel unpacked into the cache: ``root`` holds ``boot/`` and ``lib/modules/``."""

    kver: str                       # uname -r, e.g. 6.1.0-56-amd64
    deb_package: str                # linux-image-6.1.0-56-amd64
    deb_version: str                # 6.1.192-2
    root: str
    modules: list[str] = field(default_factory=list)      # paths relative to lib/modules/<kver>
    load_order: list[str] = field(default_factory=list)   # module names in insmod order

    @property
    def vmlinuz(self) -> str:
        return os.path.join(self.root, "boot", f"vmlinuz-{self.kver}")

    @property
    def rpm_version(self) -> tuple[str, str]:
        """(Version, Release) for the kernel RPM from the Debian version (``6.1.192-2``)."""
        upstream, _, debrev = self.deb_version.partition("-")
        return upstream.replace("~", "."), (debrev or "1").replace("-", ".")


def _run(cmd, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise ToolError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stdout[-2000:]}",
                        cmd=cmd, returncode=proc.returncode)
    return proc.stdout


def _candidate_kernel_package() -> str:
    out = _run(["apt-cache", "depends", "linux-image-amd64"])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split()[1]
    raise ToolError("cannot find the kernel package linux-image-amd64 depends on; "
                    "run `apt-get update` (Debian 12 main must be an apt source)")


def _load_cached(cache_dir: str) -> KernelInput | None:
    found = []
    for info_path in glob.glob(os.path.join(cache_dir, "*", _INFO)):
        with open(info_path, encoding="utf-8") as fh:
            data = json.load(fh)
        data["root"] = os.path.join(os.path.dirname(info_path), "root")
        if os.path.exists(os.path.join(data["root"], "boot", f"vmlinuz-{data['kver']}")):
            found.append(KernelInput(**data))
    return sorted(found, key=lambda k: k.kver)[-1] if found else None


def ensure_kernel(cache_dir: str, log=print) -> KernelInput:
    """The cached kernel subset, downloading and unpacking Debian's kernel when none is cached.

    A cached kernel is reused even when apt has a newer one, so a universe stays stable; delete
    ``cache_dir`` to pick up a new kernel.
    """
    cache_dir = os.path.abspath(cache_dir)
    cached = _load_cached(cache_dir)
    if cached:
        return cached
    os.makedirs(cache_dir, exist_ok=True)
    pkg = _candidate_kernel_package()
    kver = pkg[len("linux-image-"):]
    log(f"universe: fetching Debian kernel {pkg} (apt-get download)")
    tmp = tempfile.mkdtemp(prefix=".kernel-", dir=cache_dir)
    try:
        debs = glob.glob(os.path.join(cache_dir, f"{pkg}_*.deb"))
        if not debs:
            _run(["apt-get", "download", pkg], cwd=tmp)
            for deb in glob.glob(os.path.join(tmp, "*.deb")):
                shutil.move(deb, os.path.join(cache_dir, os.path.basename(deb)))
            debs = glob.glob(os.path.join(cache_dir, f"{pkg}_*.deb"))
        deb = sorted(debs)[-1]
        deb_version = _run(["dpkg-deb", "-f", deb, "Version"]).strip()
        full = os.path.join(tmp, "full")
        _run(["dpkg-deb", "-x", deb, full])
        _run(["depmod", "-b", full, kver])
        moddir = os.path.join(full, "lib", "modules", kver)
        order, wanted = [], []
        for mod in KERNEL_MODULES:
            out = _run(["modprobe", "-d", full, "-S", kver, "--show-depends", mod])
            for line in out.splitlines():
                parts = line.split()
                if parts and parts[0] == "insmod":
                    rel = os.path.relpath(parts[1], moddir)
                    name = os.path.basename(rel).split(".ko")[0]
                    if rel not in wanted:
                        wanted.append(rel)
                        order.append(name)
        # The subset: vmlinuz, config, the wanted modules and the module index files.
        dest = os.path.join(tmp, "subset", "root")
        os.makedirs(os.path.join(dest, "boot"))
        for name in (f"vmlinuz-{kver}", f"config-{kver}"):
            shutil.copy2(os.path.join(full, "boot", name), os.path.join(dest, "boot", name))
        for rel in wanted:
            target = os.path.join(dest, "lib", "modules", kver, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(moddir, rel), target)
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):  # for depmod
            src = os.path.join(moddir, name)
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(dest, "lib", "modules", kver, name))
        # A module index for the subset, so busybox modprobe works in the boot images.
        _run(["depmod", "-b", dest, kver])
        info = {"kver": kver, "deb_package": pkg, "deb_version": deb_version,
                "modules": sorted(wanted), "load_order": order}
        with open(os.path.join(tmp, "subset", _INFO), "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2, sort_keys=True)
        final = os.path.join(cache_dir, kver)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(os.path.join(tmp, "subset"), final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    kernel = _load_cached(cache_dir)
    assert kernel is not None
    return kernel


@dataclass
class BusyboxInput:
    path: str
    deb_version: str

    @property
    def rpm_version(self) -> tuple[str, str]:
        ver = self.deb_version.split(":", 1)[-1]
        upstream, _, debrev = ver.partition("-")
        return upstream, (debrev or "1").replace("+", ".").replace("-", ".").replace("~", ".")


def find_busybox() -> BusyboxInput:
    """Debian's statically linked busybox (package busybox-static)."""
    path = "/bin/busybox"
    if not os.path.exists(path):
        raise ToolError("/bin/busybox is missing: install busybox-static (.ci/setup does)")
    try:
        version = _run(["dpkg-query", "-W", "-f", "${Version}", "busybox-static"]).strip()
    except ToolError:
        version = "1.0-1"
    return BusyboxInput(path=os.path.realpath(path), deb_version=version)


#: busybox applets shipped as symlinks (what the init scripts and later boot phases use).
BUSYBOX_APPLETS = {
    "/bin": ["sh", "ash", "cat", "echo", "ls", "mkdir", "mount", "umount", "sleep", "grep", "sed",
             "cp", "mv", "rm", "ln", "dmesg", "uname", "sync", "true", "false", "test", "chmod",
             "chown", "stat", "head", "tail", "awk", "cut", "tr", "find", "xargs", "gzip",
             "cpio", "tar", "mknod", "readlink", "realpath", "touch", "wc", "sort", "env"],
    "/sbin": ["insmod", "modprobe", "lsmod", "rmmod", "switch_root", "poweroff", "reboot",
              "halt", "losetup", "blkid", "mdev", "depmod", "pivot_root"],
}
