#!/usr/bin/env python3
"""ISO writing: pungi_like.media.iso (pycdlib) against ``xorriso -as mkisofs`` on the same tree.

    .venv/bin/python bench/bench_iso.py [--size-mb 300] [--runs 3] [--bootable]

The tree: ``--size-mb`` of generated files (three large random files standing in for
install.img-sized images, plus ~1,500 files of 4-64 KiB in 30 directories standing in for
packages and metadata) and the demo universe's RPMs and repodata.  Both writers make a Rock
Ridge + Joliet image of it (xorriso with ``-joliet-long``; ``--bootable`` adds the El Torito
BIOS+UEFI entries and isohybrid to both).  Each run writes a fresh file (deleted after); the page
cache is warm for both.  Medians of ``--runs`` runs; throughput is tree bytes per second.
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pungi_like.media import efiboot, iso  # noqa: E402
from pungi_like.universe import ensure_universe  # noqa: E402


def make_tree(tree, size_mb, universe):
    rng = random.Random(42)
    big = size_mb * 1024 * 1024 * 8 // 10
    os.makedirs(os.path.join(tree, "images"))
    for i, share in enumerate((0.5, 0.3, 0.2)):
        with open(os.path.join(tree, "images", f"image{i}.img"), "wb") as fh:
            left = int(big * share)
            while left > 0:
                n = min(left, 8 << 20)
                fh.write(os.urandom(n))
                left -= n
    small_total = size_mb * 1024 * 1024 - big
    written = i = 0
    while written < small_total:
        d = os.path.join(tree, "Packages", f"d{i % 30:02d}")
        os.makedirs(d, exist_ok=True)
        n = rng.randrange(4096, 65536)
        with open(os.path.join(d, f"generated-package-{i:05d}-1.0-1.x86_64.rpm"), "wb") as fh:
            fh.write(os.urandom(n))
        written += n
        i += 1
    shutil.copytree(universe.repo_dir, os.path.join(tree, "universe"))
    os.makedirs(os.path.join(tree, "isolinux"))
    shutil.copyfile("/usr/lib/ISOLINUX/isolinux.bin", os.path.join(tree, "isolinux",
                                                                     "isolinux.bin"))
    grub = os.path.join(tree, "BOOTX64.EFI")
    efiboot.make_grub_efi(grub, "BENCH")
    efiboot.make_efiboot_img(os.path.join(tree, "images", "efiboot.img"),
                             {"EFI/BOOT/BOOTX64.EFI": grub})
    total = files = 0
    for top, _dirs, names in os.walk(tree):
        for n in names:
            total += os.path.getsize(os.path.join(top, n))
            files += 1
    return total, files


def ours(tree, out, bootable):
    start = time.monotonic()
    iso.write_iso(tree, out, "BENCH", boot="bios+uefi" if bootable else None)
    return time.monotonic() - start


def xorriso(tree, out, bootable):
    cmd = ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "-V", "BENCH",
           "-o", out]
    if bootable:
        cmd += ["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                "-boot-load-size", "4", "-boot-info-table", "-isohybrid-mbr",
                iso.isohdpfx_path(), "-eltorito-alt-boot", "-e", "images/efiboot.img",
                "-no-emul-boot", "-isohybrid-gpt-basdat"]
    start = time.monotonic()
    subprocess.run(cmd + [tree], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootable", action="store_true")
    parser.add_argument("--workdir", default=None, help="where the tree and ISOs go (tmp)")
    args = parser.parse_args()
    universe = ensure_universe(os.path.join(ROOT, ".cache", "universe"), quiet=True)
    work = tempfile.mkdtemp(prefix="bench-iso-", dir=args.workdir)
    try:
        tree = os.path.join(work, "tree")
        total, files = make_tree(tree, args.size_mb, universe)
        out = os.path.join(work, "out.iso")
        times = {"pycdlib (pungi_like)": [], "xorriso -as mkisofs": []}
        for _ in range(args.runs):
            for name, fn in (("pycdlib (pungi_like)", ours), ("xorriso -as mkisofs", xorriso)):
                times[name].append(fn(tree, out, args.bootable))
                os.unlink(out)
        mib = total / (1 << 20)
        print(f"tree: {mib:.0f} MiB in {files} files; bootable={args.bootable}; "
              f"median of {args.runs} runs")
        print(f"{'writer':<24}{'median s':>10}{'MiB/s':>10}   runs (s)")
        med = {}
        for name, ts in times.items():
            med[name] = statistics.median(ts)
            print(f"{name:<24}{med[name]:>10.2f}{mib / med[name]:>10.0f}   "
                  + ", ".join(f"{t:.2f}" for t in ts))
        ratio = med["xorriso -as mkisofs"] / med["pycdlib (pungi_like)"]
        print(f"throughput ratio pycdlib/xorriso: {ratio:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
