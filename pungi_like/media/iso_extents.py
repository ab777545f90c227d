"""Where each file's data lies in an image the native writer wrote, so the next compose's
writer copies unchanged files' data from that image in long runs instead of opening each
source (a DVD of 5,400 RPMs: 5,400 opens, copies and closes against a few copies).

The record (JSON, written by the native writer's child beside the compose's work files, for
the next compose to find) holds the image's identity after its last write (device, inode,
size, modification time) and, for each file with data, the identity its source had when it
was stat'ed for the image and the block its data starts at.  The data of a source is taken
from an old image only when both identities hold now - the image has not been written since
(it is the file the record describes) and the source is the same file, unchanged by the rule
the reuse code uses for "the same file" (device, inode, size and modification time).  The
bytes between two files (the rest of a file's last sector) are zeros in both images (the
writer leaves them unwritten), so two files adjacent in both images are one run.

Only the standard library: the native ISO writer's child (``media.iso_native``, run with
``python -I -S``) loads this file from beside its own.
"""

import json
import os

SECTOR = 2048
VERSION = 1


def identity(st):
    """The identity of a file by its ``os.stat_result``."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def write_record(path, image_fd, files):
    """Write the record of the image open at ``image_fd`` (its last write done) to ``path``
    (atomically); ``files``: ``(source identity, data block)`` of each file with data."""
    rec = {"version": VERSION, "image": identity(os.fstat(image_fd)),
           "files": [list(ident) + [block] for ident, block in files]}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        # one string by json's C encoder: ``json.dump`` takes its pure-Python one (5,400 files'
        # entries: 11 ms against 3 ms, in the DVD writer's child on the image's path)
        fh.write(json.dumps(rec, separators=(",", ":")))
    os.replace(tmp, path)


class OldImage:
    """An old image whose record holds: :meth:`place` answers where a source's data is in
    it. ``fd``: the image, open for reading."""

    def __init__(self, fd, blocks):
        self.fd = fd
        self._blocks = blocks   # (device, inode) -> (size, mtime_ns, block)

    def place(self, ident):
        """The byte offset of the data of a source of identity ``ident`` in the old image,
        or None when the record does not have this very file."""
        found = self._blocks.get((ident[0], ident[1]))
        if found is None or found[0] != ident[2] or found[1] != ident[3]:
            return None
        return found[2] * SECTOR

    def close(self):
        os.close(self.fd)


def open_old(candidates):
    """The first :class:`OldImage` of ``candidates`` (``[record path, directory of the
    image]``, in order) whose image is found in its directory with the record's identity, or
    None."""
    for record_path, image_dir in candidates:
        try:
            with open(record_path, encoding="utf-8") as fh:
                rec = json.load(fh)
            if rec.get("version") != VERSION:
                continue
            want = rec["image"]
            with os.scandir(image_dir) as it:
                names = [e.path for e in it if e.name.endswith(".iso")
                         and identity(e.stat(follow_symlinks=False)) == want]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for path in names:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                if identity(os.fstat(fd)) == want:
                    return OldImage(fd, _blocks(rec["files"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass
            os.close(fd)
    return None


def _blocks(rows):
    """``{(device, inode): (size, mtime_ns, block)}`` of a record's rows; ValueError for a
    row that is not five whole numbers with a block at 0 or after."""
    blocks = {}
    for row in rows:
        dev, ino, size, mtime_ns, block = row
        if not all(type(v) is int for v in row) or block < 0 or size < 0:
            raise ValueError(f"a record row of another form: {row!r}")
        blocks[(dev, ino)] = (size, mtime_ns, block)
    return blocks


def copy_data(nodes, out_fd, old, copy_one, kernel_copy, written=None):
    """Each node's data (``source``, ``size``, ``data_block``, ``ident``; in layout order,
    sizes above 0) into ``out_fd``: from ``old`` (an :class:`OldImage`) in runs where it has
    the very source, else by ``copy_one(source, out_fd, offset, size)``. ``written(offset)``
    after each copy: every byte below ``offset`` is final. Returns the files taken from the
    old image."""
    taken = 0
    run = []            # nodes adjacent here and in the old image, at one distance
    start = delta = None

    def flush():
        nonlocal run
        if not run:
            return 0
        first, last = run[0], run[-1]
        new_start = first.data_block * SECTOR
        length = last.data_block * SECTOR + last.size - new_start
        done = len(run)
        if sum(kernel_copy(old.fd, out_fd, new_start + delta, new_start, length)) != length:
            # the old image is shorter than its record says: each file from its source
            for node in run:
                copy_one(node.source, out_fd, node.data_block * SECTOR, node.size)
            done = 0
        run = []
        if written is not None:
            written(new_start + length)
        return done

    for node in nodes:
        offset = node.data_block * SECTOR
        at = old.place(node.ident) if old is not None else None
        if at is not None and run and at - offset == delta and offset == start:
            run.append(node)
        else:
            taken += flush()
            if at is not None:
                run, delta = [node], at - offset
            else:
                copy_one(node.source, out_fd, offset, node.size)
                if written is not None:
                    written(offset + node.size)
        start = offset + -(-node.size // SECTOR) * SECTOR
    taken += flush()
    return taken
