#!/usr/bin/env python3
"""ISO writing: pungi_like.media.iso.write_iso against ``xorriso -as mkisofs`` on the same tree.

    .venv/bin/python bench/bench_iso.py --shape many|large|mixed [--runs 3] [--bootable]
                                        [--files 10000] [--size-mb 1024]

Shapes of tree (random bytes, the same for every run; seeded):

* ``many``: ``--files`` (10,000) files of 2-40 KiB in ``Packages/<first letter>/`` with
  RPM-like names, plus a ``repodata/`` of six files: the shape of a 10,000-RPM compose's DVD.
* ``large``: ``--size-mb`` (1,024) MiB in four large images (50/25/15/10 %) plus a few small
  files: the shape of an installer or live tree.
* ``mixed``: ``--size-mb`` (300) MiB, 80 % in three images, the rest in ~4-64 KiB files in 30
  directories, plus the demo universe's RPMs and repodata (the bench's first shape).

Both writers make a Rock Ridge + Joliet image (xorriso with ``-joliet-long``); ``--bootable``
adds El Torito BIOS (isolinux) + UEFI (images/efiboot.img) and isohybrid MBR + GPT to both.
Runs are interleaved (ours, xorriso, xorriso, ours, ours, ...: the order alternates), each
writes a fresh file (deleted after) and is timed until the file is on disk (fsync); the page
cache is warm for the tree.  Printed:
median wall seconds of ``--runs`` runs, MiB/s, CPU seconds (user + system, with child
processes), and the ratio ours/xorriso (<= 1.00: ours is not slower).  ``--writer pycdlib|xorriso`` forces one of our writers (``auto``: the measured rule of
``media.iso.choose_writer``, whose constants come from these runs).

``--writer native`` (media.iso_native: xorriso's bytes written without xorriso) is timed
against ``write_iso(writer="xorriso")`` as well - the compose's xorriso path, with the epoch
and the file dates set, whose image it reproduces - and the ratios native/that (wall, CPU)
are printed; both write with ``--epoch``.  ``--tree DIR`` times the writers on an existing
tree (a compose's DVD tree: ``<compose>/work/.../os`` or the variant's ``os`` directory)
instead of a generated one.
"""

import argparse
import os
import random
import resource
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pungi_like.media import efiboot, iso  # noqa: E402

OURS = "pungi_like write_iso"
PEER = "xorriso -as mkisofs"
XORRISO_PATH = "write_iso writer=xorriso"


def _random_file(path, size, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        while size > 0:
            n = min(size, 8 << 20)
            fh.write(rng.randbytes(n))
            size -= n


def make_many(tree, files, rng):
    letters = string.ascii_lowercase
    for i in range(files):
        name = (f"{rng.choice(letters)}{''.join(rng.choices(letters, k=rng.randrange(3, 14)))}"
                f"-{rng.randrange(1, 30)}.{rng.randrange(0, 20)}-{rng.randrange(1, 9)}.fc40."
                f"{rng.choice(('x86_64', 'noarch'))}.rpm")
        _random_file(os.path.join(tree, "Packages", name[0], name), rng.randrange(2048, 40961),
                     rng)
    for i, kind in enumerate(("primary.xml.gz", "filelists.xml.gz", "other.xml.gz",
                              "primary.sqlite.bz2", "comps.xml.gz")):
        _random_file(os.path.join(tree, "repodata", f"{rng.randbytes(32).hex()}-{kind}"),
                     rng.randrange(100_000, 2_000_000), rng)
    _random_file(os.path.join(tree, "repodata", "repomd.xml"), 4000, rng)


def make_large(tree, size_mb, rng):
    total = size_mb << 20
    for rel, share in (("images/install.img", 0.50), ("LiveOS/squashfs.img", 0.25),
                       ("images/pxeboot/initrd.img", 0.15), ("images/pxeboot/vmlinuz", 0.10)):
        _random_file(os.path.join(tree, rel), int(total * share), rng)
    for rel in (".discinfo", ".treeinfo", "media.repo", "EFI/BOOT/grub.cfg"):
        _random_file(os.path.join(tree, rel), 1000, rng)


def make_mixed(tree, size_mb, rng):
    from pungi_like.universe import ensure_universe
    universe = ensure_universe(os.path.join(ROOT, ".cache", "universe"), quiet=True)
    big = size_mb * 1024 * 1024 * 8 // 10
    for i, share in enumerate((0.5, 0.3, 0.2)):
        _random_file(os.path.join(tree, "images", f"image{i}.img"), int(big * share), rng)
    small_total = size_mb * 1024 * 1024 - big
    written = i = 0
    while written < small_total:
        n = rng.randrange(4096, 65536)
        _random_file(os.path.join(tree, "Packages", f"d{i % 30:02d}",
                                  f"generated-package-{i:05d}-1.0-1.x86_64.rpm"), n, rng)
        written += n
        i += 1
    shutil.copytree(universe.repo_dir, os.path.join(tree, "universe"))


def add_boot(tree):
    os.makedirs(os.path.join(tree, "isolinux"), exist_ok=True)
    shutil.copyfile("/usr/lib/ISOLINUX/isolinux.bin", os.path.join(tree, "isolinux",
                                                                     "isolinux.bin"))
    grub = os.path.join(os.path.dirname(tree), "BOOTX64.EFI")
    efiboot.make_grub_efi(grub, "BENCH")
    os.makedirs(os.path.join(tree, "images"), exist_ok=True)
    efiboot.make_efiboot_img(os.path.join(tree, "images", "efiboot.img"),
                             {"EFI/BOOT/BOOTX64.EFI": grub})


def make_tree(tree, shape, files, size_mb, bootable):
    rng = random.Random(42)
    {"many": lambda: make_many(tree, files, rng),
     "large": lambda: make_large(tree, size_mb, rng),
     "mixed": lambda: make_mixed(tree, size_mb, rng)}[shape]()
    if bootable:
        add_boot(tree)
    total = count = 0
    for top, _dirs, names in os.walk(tree):
        for n in names:
            total += os.path.getsize(os.path.join(top, n))
            count += 1
    return total, count


def _sync(path):
    # timed until the image is on disk: xorriso fsyncs as it writes, pycdlib does not, and
    # dirty pages left by one writer would otherwise be written back during the next one's run
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


EPOCH = None


def ours(tree, out, bootable, writer, chosen):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time()
    start = time.monotonic()
    result = iso.write_iso(tree, out, "BENCH", boot="bios+uefi" if bootable else None,
                           writer=writer, source_date_epoch=EPOCH)
    _sync(out)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    chosen.add(result.writer)
    return wall, time.process_time() - cpu + (after.ru_utime + after.ru_stime) - (
        before.ru_utime + before.ru_stime)


def xorriso_path(tree, out, bootable, _writer, _chosen):
    return ours(tree, out, bootable, "xorriso", set())


def xorriso_cmd(tree, out, bootable):
    cmd = ["xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "-V", "BENCH",
           "-o", out]
    if bootable:
        cmd += ["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                "-boot-load-size", "4", "-boot-info-table", "-isohybrid-mbr",
                iso.isohdpfx_path(), "-eltorito-alt-boot", "-e", "images/efiboot.img",
                "-no-emul-boot", "-isohybrid-gpt-basdat"]
    return cmd + [tree]


def xorriso(tree, out, bootable, _writer, _chosen):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(xorriso_cmd(tree, out, bootable), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    _sync(out)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("many", "large", "mixed"), default="many")
    parser.add_argument("--files", type=int, default=10_000, help="files of the many shape")
    parser.add_argument("--size-mb", type=int, default=None,
                        help="MiB of the large (default 1024) and mixed (300) shapes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootable", action="store_true")
    parser.add_argument("--writer", choices=iso.WRITERS, default="auto",
                        help="ours: the rule (auto) or one writer forced")
    parser.add_argument("--workdir", default=None, help="where the tree and ISOs go (tmp)")
    parser.add_argument("--tree", default=None, help="an existing tree instead of --shape's")
    parser.add_argument("--epoch", type=int, default=1700000000,
                        help="SOURCE_DATE_EPOCH of our writers (the native one needs one)")
    args = parser.parse_args()
    global EPOCH
    EPOCH = args.epoch
    if args.runs < 1 or args.files < 1:
        parser.error("--runs and --files must be at least 1")
    size_mb = args.size_mb or (1024 if args.shape == "large" else 300)
    work = tempfile.mkdtemp(prefix="bench-iso-", dir=args.workdir)
    try:
        if args.tree:
            tree = os.path.abspath(args.tree)
            total = files = 0
            for top, _dirs, names in os.walk(tree):
                for n in names:
                    total += os.path.getsize(os.path.join(top, n))
                    files += 1
        else:
            tree = os.path.join(work, "tree")
            os.makedirs(tree)
            total, files = make_tree(tree, args.shape, args.files, size_mb, args.bootable)
        out = os.path.join(work, "out.iso")
        contestants = [(OURS, ours), (PEER, xorriso)]
        if args.writer == "native":
            contestants.append((XORRISO_PATH, xorriso_path))
        times = {name: [] for name, _ in contestants}
        cpu = {name: [] for name, _ in contestants}
        chosen = set()
        for run in range(args.runs):
            # the order alternates (ours first, then xorriso first, ...) so that neither writer
            # always runs just after the other's file was written, synced and deleted
            for name, fn in (contestants if run % 2 == 0 else contestants[::-1]):
                wall, used = fn(tree, out, args.bootable, args.writer, chosen)
                times[name].append(wall)
                cpu[name].append(used)
                os.unlink(out)
        mib = total / (1 << 20)
        print(f"shape={'tree ' + tree if args.tree else args.shape}: {mib:.0f} MiB in {files} files; bootable={args.bootable}; "
              f"median of {args.runs} runs; ours: writer={args.writer} -> "
              f"{'/'.join(sorted(chosen))}")
        print(f"{'writer':<24}{'median s':>10}{'MiB/s':>8}{'cpu s':>8}   runs (s)")
        med = {}
        for name, ts in times.items():
            med[name] = statistics.median(ts)
            print(f"{name:<24}{med[name]:>10.2f}{mib / med[name]:>8.0f}"
                  f"{statistics.median(cpu[name]):>8.2f}   " + ", ".join(f"{t:.2f}" for t in ts))
        print(f"ratio ours/xorriso (time): {med[OURS] / med[PEER]:.2f}")
        if XORRISO_PATH in med:
            cpu_ratio = statistics.median(cpu[OURS]) / statistics.median(cpu[XORRISO_PATH])
            print(f"ratio native/write_iso xorriso: time {med[OURS] / med[XORRISO_PATH]:.2f}, "
                  f"cpu {cpu_ratio:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
