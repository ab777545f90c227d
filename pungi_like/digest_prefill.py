"""The digests of many files read and hashed by a child process, for the unit records.

A unit's record holds the sha256 of every file the unit wrote, and whether its bytes name the
compose (``reuse.describe_files`` through ``reuse_keys.file_digest``, cached per inode, size and
mtime). For ``pkgset.global`` that is 10,000+ hard links of the package set repos' RPMs (71.5 MB
at 10,000 RPMs), read and hashed by the record thread while the gathers, createrepo and the
ISOs run: about 0.3 s of the thread's CPU, and each of its ~30,000 syscalls gives the
interpreter lock up and waits to take it back behind the units' threads, so that record took
1.8 s of wall and the records of the later units waited behind it, past the last unit's end.

:class:`Prefill` hands the files to a child process (this file run as a script, the standard
library only) as soon as they are known - the package set's sources once its closure is
solved - and puts each answer into ``reuse_keys``' digest cache under the file's identity as
the child saw it (device, inode, size, mtime; a hard link is the same file). The child reads a
file whole, hashes it and searches its bytes for the needles (the compose's directory and id)
as ``file_digest`` does; it answers only for a regular file whose size and mtime did not
change while it read it, and never for a ``.gz`` file (``file_digest`` searches those
decompressed as well). ``file_digest`` waits for a prefill of the same needles that is still
running before it reads a hard-linked file itself (:func:`pungi_like.reuse_keys.wait_prefills`),
so a record never reads what the child is reading; anything the child did not answer is read
as before.

    python -S -E digest_prefill.py NEEDLE_HEX...   # stdin: paths, NUL-terminated
    # stdout: "dev ino size mtime_ns sha256 flags" a file, flags one 0/1 a needle
"""

import hashlib
import os
import stat
import sys
import threading

#: bytes read at a time from a file larger than this (the search then spans reads)
READ = 1 << 20


class NeedleSearch:
    """Which of ``needles`` (bytes) occur in bytes fed in pieces, as ``reuse_keys.file_digest``
    searches a file: a needle that spans two pieces is found. ``found``: a list, one bool a
    needle."""

    def __init__(self, needles):
        self.needles = list(needles)
        self.found = [False] * len(self.needles)
        self._keep = max((len(n) for n in self.needles), default=1)
        self._tail = b""

    def feed(self, chunk):
        window = self._tail + chunk
        for i, needle in enumerate(self.needles):
            if not self.found[i] and needle in window:
                self.found[i] = True
        self._tail = window[-self._keep:]


def digest_file(path, needles):
    """``(stat, sha256 hex, [found per needle])`` of the file at ``path``, or None when it is
    not a regular file, cannot be read, is a ``.gz`` file, or changed while it was read."""
    if path.endswith(b".gz"):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        h = hashlib.sha256()
        search = NeedleSearch(needles)
        total = 0
        while True:
            chunk = os.read(fd, min(st.st_size + 1, READ))
            if not chunk:
                break
            total += len(chunk)
            h.update(chunk)
            search.feed(chunk)
            if total == st.st_size:
                break   # the whole file (a change since shows in the fstat below)
        after = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if total != st.st_size or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        return None
    return st, h.hexdigest(), search.found


def child(argv):
    """The child: the needles (hex) in ``argv``, the paths on stdin, the answers on stdout."""
    needles = [bytes.fromhex(n) for n in argv]
    out = sys.stdout.buffer
    pending = b""
    lines = []
    inp = sys.stdin.buffer
    while True:
        data = inp.read1(1 << 16)
        if not data:
            break
        pending += data
        *paths, pending = pending.split(b"\0")
        for path in paths:
            answer = digest_file(path, needles)
            if answer is None:
                continue
            st, digest, found = answer
            lines.append(b"%d %d %d %d %s %s\n" % (
                st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest.encode(),
                b"".join(b"1" if f else b"0" for f in found)))
        if lines:
            out.write(b"".join(lines))
            out.flush()
            lines = []
    return 0


class Prefill:
    """The digests of ``paths`` (with ``needles``, bytes) computed by a child process started
    at once, registered with reuse_keys so that ``file_digest`` waits for it
    (:func:`pungi_like.reuse_keys.wait_prefills`). The paths go to the child and its answers
    come back through anonymous files, and the answers are put into the cache by the first
    :meth:`wait` (the record thread's): no thread of this process spends the interpreter lock
    on them while the units run."""

    def __init__(self, paths, needles):
        import subprocess
        import tempfile

        from . import reuse_keys

        self.needles = tuple(needles)
        self.answered = 0
        self._lock = threading.Lock()
        self._done = False
        self._out = tempfile.TemporaryFile()
        with tempfile.TemporaryFile() as inp:
            inp.write(b"".join(os.fsencode(p) + b"\0" for p in paths))
            inp.seek(0)
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-E", os.path.abspath(__file__)]
                + [n.hex() for n in self.needles],
                stdin=inp, stdout=self._out, stderr=subprocess.DEVNULL)
        reuse_keys.add_prefill(self)

    def wait(self, timeout=None):
        """Wait for the child (killed after ``timeout`` s: what it answered by then is taken)
        and put its answers into the cache, once; True."""
        import subprocess

        from . import reuse_keys

        with self._lock:
            if self._done:
                return True
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            try:
                self._out.seek(0)
                self._take(self._out.read(), reuse_keys)
            except (OSError, ValueError):
                pass    # what was not taken is read by the records
            finally:
                self._out.close()
                self._done = True
                reuse_keys.remove_prefill(self)
        return True

    def _take(self, data, reuse_keys):
        count = len(self.needles)
        for line in data.splitlines():
            parts = line.split()
            if len(parts) != 6 or len(parts[4]) != 64 or len(parts[5]) != count:
                break   # a line cut short by a kill: the rest is read by the records
            dev, ino, size, mtime = (int(v) for v in parts[:4])
            found = {n: f == 49 for n, f in zip(self.needles, parts[5])}   # b"1"
            reuse_keys.prefilled((dev, ino, size, mtime), self.needles, parts[4].decode(), found)
            self.answered += 1


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
