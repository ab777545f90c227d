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
  uuid, GPT GUIDs derive from it) and every file date is put at it, so the same tree gives the
  same bytes: the image ``--set_all_file_dates`` gives, written by :func:`set_all_file_dates`
  over xorriso's output (xorriso's own option walks the tree twice looking each file up by
  path in its directory's list: 0.3 s of CPU for a DVD of 5,400 packages in one directory).

What differs: ISO 9660 names are xorriso's mangling (Rock Ridge and Joliet readers never see
them), and Joliet names may have 103 characters (``-joliet-long``) instead of pycdlib's 64;
longer ones are cut by xorriso.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time

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
        # in reverse order: libisofs keeps a directory's nodes in a list sorted by name and
        # looks for each new node's place from the head, so names given in ascending order
        # walk the whole list each time (quadratic in a directory's size: the DVD of 10,000
        # RPMs has 5,400 files in Packages/p/); in descending order each place is at the
        # head. The image is the same (tests/integration/test_media_iso_xorriso.py)
        for rel in sorted(entries, reverse=True):
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
            # what --set_all_file_dates also sets: dates in GMT (the file dates are then
            # written by set_all_file_dates below)
            cmd[1:1] = ["-compliance", "always_gmt"]
        cmd += ["-graft-points", "-path-list", path_list, "-o", iso_path]
        tools.run(cmd, log_path=log_path, env=env)
        if epoch is not None:
            try:
                set_all_file_dates(iso_path, epoch)
            except ValueError as exc:
                # not the layout this reads: xorriso's own (slower) option does it
                if log_path:
                    with open(log_path, "a", encoding="utf-8") as fh:
                        fh.write(f"# file dates not set in place ({exc}): "
                                 "xorriso --set_all_file_dates\n")
                at = cmd.index("-graft-points")
                tools.run(cmd[:at] + ["--set_all_file_dates", f"={epoch}"] + cmd[at:],
                          log_path=log_path, env=env)
    return {rel: None for rel, e in entries.items()
            if len(rel) > JOLIET_LONG_MAX and e.kind != "symlink"
            and len(rel.rpartition("/")[2]) > JOLIET_LONG_MAX}


# ---- file dates ----------------------------------------------------------------------------

_SECTOR = 2048
_TF_LONG_FORM = 0x80


def set_all_file_dates(iso_path, epoch):
    """Put every file date of the image ``iso_path`` (written by xorriso) at ``epoch``, as
    ``--set_all_file_dates`` does: the recording date of each directory record (the root
    records of the volume descriptors, each directory's entries, "." and "..") of every
    tree (ISO 9660 and Joliet), and each time stamp of the Rock Ridge ``TF`` entries, in the
    records and in their continuation areas (``CE``); in GMT (``always_gmt``).  Nothing else
    changes: the dates are fixed-size fields.  ValueError for anything not laid out as
    xorriso writes it; the image may then be changed in part (:func:`write` has xorriso
    write it again with its own option)."""
    t = time.gmtime(epoch)
    if not 0 <= t.tm_year - 1900 <= 255:
        raise ValueError(f"epoch {epoch} is outside ISO 9660's years")
    date = bytes((t.tm_year - 1900, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0))
    with open(iso_path, "r+b") as fh:
        total = os.fstat(fh.fileno()).st_size

        def read(lba, size):
            if lba * _SECTOR + size > total:
                raise ValueError(f"an extent at sector {lba} ends past the image")
            fh.seek(lba * _SECTOR)
            return bytearray(fh.read(size))

        def write(lba, data):
            fh.seek(lba * _SECTOR)
            fh.write(data)

        roots, lba = [], 16
        while True:
            vd = read(lba, _SECTOR)
            if vd[1:6] != b"CD001":
                raise ValueError(f"no volume descriptor at sector {lba}")
            if vd[0] == 255:
                break
            if vd[0] in (1, 2):     # primary (Rock Ridge in its records), supplementary
                vd[174:181] = date
                write(lba, vd)
                roots.append((struct.unpack_from("<I", vd, 158)[0],
                              struct.unpack_from("<I", vd, 166)[0], vd[0] == 1))
            lba += 1
        seen = set()
        for root in roots:
            todo = [root]
            while todo:
                extent, size, susp = todo.pop()
                if extent in seen:
                    continue
                seen.add(extent)
                data = read(extent, size)
                continued = []
                pos = 0
                while pos < size:
                    length = data[pos]
                    if length == 0:     # the rest of the sector is padding
                        pos = (pos // _SECTOR + 1) * _SECTOR
                        continue
                    name_len = data[pos + 32] if pos + 33 <= size else 0
                    if length < 34 or pos + length > size or 33 + name_len > length:
                        raise ValueError(f"a malformed directory record in sector {extent}")
                    data[pos + 18:pos + 25] = date
                    name = bytes(data[pos + 33:pos + 33 + name_len])
                    if data[pos + 25] & 2 and name not in (b"\x00", b"\x01"):
                        todo.append((struct.unpack_from("<I", data, pos + 2)[0],
                                     struct.unpack_from("<I", data, pos + 10)[0], susp))
                    if susp:
                        start = pos + 33 + name_len + (0 if name_len % 2 else 1)
                        continued += _susp_dates(data, start, pos + length, date)
                    pos += length
                write(extent, data)
                while continued:
                    block, offset, length = area_at = continued.pop()
                    if area_at in seen:
                        raise ValueError(f"a continuation area read twice (sector {block})")
                    seen.add(area_at)
                    area = read(block, offset + length)
                    continued += _susp_dates(area, offset, offset + length, date)
                    write(block, area)


def _susp_dates(buf, pos, end, date):
    """Dates of the ``TF`` entries among the SUSP entries ``buf[pos:end]`` set to ``date``;
    the continuation areas (``CE``) named there as ``[(sector, offset, length)]``."""
    continued = []
    while pos + 4 <= end:
        sig, length = bytes(buf[pos:pos + 2]), buf[pos + 2]
        if length < 4 or pos + length > end:
            raise ValueError("a malformed system use entry")
        if sig == b"TF":
            flags = buf[pos + 4]
            if flags & _TF_LONG_FORM:
                raise ValueError("Rock Ridge time stamps in the long form")
            stamps = bin(flags & 0x7F).count("1")
            if 5 + 7 * stamps > length:
                raise ValueError("a malformed TF entry")
            for i in range(stamps):
                buf[pos + 5 + 7 * i:pos + 12 + 7 * i] = date
        elif sig == b"CE":
            continued.append((struct.unpack_from("<I", buf, pos + 4)[0],
                              struct.unpack_from("<I", buf, pos + 12)[0],
                              struct.unpack_from("<I", buf, pos + 20)[0]))
        elif sig == b"ST":
            break
        pos += length
    return continued
