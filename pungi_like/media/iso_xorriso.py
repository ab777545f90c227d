"""The ISO writer for trees of many files: ``xorriso -as mkisofs`` fed our collected tree.

pycdlib spends about 100 us of Python per file (two directory records, Rock Ridge entries,
dates); xorriso does the same work in C.  On a tree of many small files (a DVD of 10,000 RPMs)
xorriso is faster, on a few large files pycdlib is (xorriso syncs its output every 16 MiB);
``media.iso.choose_writer`` picks one by the measured rule written there.

What this writer keeps from the pycdlib one (``media.iso.write_iso``):

* the same file set: every path of ``collect_tree`` (tree + graft points - excludes) is given
  to xorriso as a graft point in a path list, so excludes, graft points winning over the tree
  and resolved outside symlinks mean the same; empty directories are grafted from an empty
  stand-in directory with the entry's mode;
* Rock Ridge with the real names, modes and symlinks, owner 0:0; Joliet; ISO level 3; the
  volume, system, application, publisher and preparer ids;
* boot: El Torito BIOS ``isolinux/isolinux.bin`` (no emulation, load size 4, boot info
  table, catalog ``isolinux/boot.cat``), UEFI ``images/efiboot.img`` (platform 0xEF), isohybrid
  MBR with syslinux's ``isohdpfx.bin`` and, with UEFI, the GPT;
* reproducibility: with an epoch, ``SOURCE_DATE_EPOCH`` is set for xorriso (volume dates and
  uuid, GPT GUIDs derive from it) and ``--set_all_file_dates`` puts every file date at it, so
  the same tree gives the same bytes.

What differs: ISO 9660 names are xorriso's mangling (Rock Ridge and Joliet readers never see
them), and Joliet names may have 103 characters (``-joliet-long``) instead of pycdlib's 64;
longer ones are cut by xorriso.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from .. import tools
from ..errors import PungiLikeError

JOLIET_LONG_MAX = 103


def available():
    """True when xorriso is on PATH."""
    return shutil.which("xorriso") is not None


def _escape(path):
    # mkisofs path lists: "=" separates the ISO path from the disk path, "\" escapes
    return path.replace("\\", "\\\\").replace("=", "\\=")


def graftable(entries):
    """True when every path can be written to a path list (one path per line)."""
    return not any("\n" in rel or "\n" in (e.source or "") for rel, e in entries.items())


def write(entries, iso_path, volid, *, bios, uefi, epoch, isohdpfx, application_id="",
          publisher="", preparer="", log_path=None):
    """Write ``entries`` ({relative path: media.iso._Entry}) to ``iso_path`` with xorriso.

    Returns {relative path: None} for files whose Joliet name xorriso had to shorten."""
    if not graftable(entries):
        raise PungiLikeError("xorriso writer: a path contains a newline; use writer='pycdlib'")
    with tempfile.TemporaryDirectory(prefix="xorriso-", dir=os.path.dirname(
            os.path.abspath(iso_path))) as work:
        lines = []
        children = {rel.rpartition("/")[0] for rel in entries}
        for rel in sorted(entries):
            entry = entries[rel]
            if entry.kind == "dir":
                if rel in children:
                    continue    # made as the parent of what it holds, with its disk attributes
                empty = os.path.join(work, f"empty-{len(lines)}")
                os.mkdir(empty)
                os.chmod(empty, entry.mode or 0o755)
                source = empty
            else:
                source = entry.source
            lines.append(f"{_escape('/' + rel)}={_escape(source)}\n")
        path_list = os.path.join(work, "path-list")
        with open(path_list, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.writelines(lines)
        # xorriso's main thread looks whether the write has ended once per pacifier interval,
        # by default once a wall-clock second (at .2 s past it for -as mkisofs): 0.5 s on
        # average, up to 1 s, after the image is complete.  At 0.1 s (the least it takes)
        # the image's bytes are the same (checked by tests/integration/test_media_iso_xorriso).
        cmd = ["xorriso", "-pacifier", "interval=0.1",
               "-as", "mkisofs", "-iso-level", "3", "-R", "-uid", "0", "-gid", "0",
               "-J", "-joliet-long", "-V", volid, "-sysid", "LINUX"]
        for option, value in (("-p", preparer), ("-publisher", publisher),
                              ("-A", application_id)):
            if value:
                cmd += [option, value[:128]]
        if bios:
            cmd += ["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                    "-boot-load-size", "4", "-boot-info-table", "-isohybrid-mbr", isohdpfx]
        if uefi:
            if bios:
                cmd += ["-eltorito-alt-boot"]
            else:
                cmd += ["-c", "images/boot.cat"]
            cmd += ["-e", "images/efiboot.img", "-no-emul-boot"]
            if bios:
                cmd += ["-isohybrid-gpt-basdat"]
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        if epoch is not None:
            env["SOURCE_DATE_EPOCH"] = str(epoch)
            cmd += ["--set_all_file_dates", f"={epoch}"]
        cmd += ["-graft-points", "-path-list", path_list, "-o", iso_path]
        tools.run(cmd, log_path=log_path, env=env)
    return {rel: None for rel, e in entries.items()
            if len(rel) > JOLIET_LONG_MAX and e.kind != "symlink"
            and len(rel.rpartition("/")[2]) > JOLIET_LONG_MAX}
