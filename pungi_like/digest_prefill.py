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

With ``tags`` (a cold package set from repos) the child also reads what the package set's
headers need of each RPM besides its repodata (:func:`pungi_like.rpmtools.headers.read_raw_tags`:
the signing key, for a source package ExcludeArch/ExclusiveArch) from the bytes it reads anyway,
and :meth:`Prefill.raw_tags` hands them to the unit, which would otherwise open and parse the
10,000+ headers under the interpreter lock beside the package set repo's writing.

    python -S -E digest_prefill.py NEEDLE_HEX...   # stdin: paths, NUL-terminated
    # stdout: "dev ino size mtime_ns sha256 flags" a file, flags one 0/1 a needle
    python -S -E digest_prefill.py --tags FD NEEDLE_HEX...   # stdin: a flag byte, the path,
    # NUL (flag "-": no tags, "s": the key, "a": the key and the arch tags); FD: one JSON line
    # a flagged path, in their order: [key or null, ExcludeArch, ExclusiveArch] or null
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


def digest_file(path, needles, tags=None):
    """``(stat, sha256 hex, [found per needle])`` of the file at ``path``, or None when it is
    not a regular file, cannot be read, is a ``.gz`` file, or changed while it was read.
    ``tags``: a dict given the file's :func:`raw_tags` (``arch_tags=tags["arch"]``) as
    ``tags["raw"]``, from the first bytes read (left out when it cannot be read)."""
    if path.endswith(b".gz") and tags is None:
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
            if tags is not None and total == 0:
                tags["raw"] = raw_tags(fd, st.st_size, chunk, path, tags["arch"])
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
    if path.endswith(b".gz"):
        return None
    if total != st.st_size or (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        return None
    return st, h.hexdigest(), search.found


def raw_tags(fd, size, first, path, arch_tags):
    """``[key, ExcludeArch, ExclusiveArch]`` of the RPM open at ``fd`` whose first bytes are
    ``first`` (``headers.read_raw_tags``, without reading them again), or None when it is not
    one (the unit reads it then, and says why)."""
    headers = _headers()
    buf = headers._Buffer.__new__(headers._Buffer)
    buf.fd, buf.size, buf.data = fd, size, first
    try:
        found = headers._raw_tags(buf, os.fsdecode(path), arch_tags)
    except (OSError, ValueError):
        return None
    return [found.sigkey, found.excludearch, found.exclusivearch]


def _headers():
    """:mod:`pungi_like.rpmtools.headers` (the standard library only), imported in the child
    from the tree this file is in."""
    module = sys.modules.get("pungi_like.rpmtools.headers")
    if module is None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if root not in sys.path:
            sys.path.insert(0, root)
        from pungi_like.rpmtools import headers as module
    return module


def child(argv):
    """The child: the needles (hex) in ``argv``, the paths on stdin, the answers on stdout."""
    tag_out = None
    if argv[:1] == ["--tags"]:
        import json
        tag_out = os.fdopen(int(argv[1]), "w", encoding="utf-8")
        argv = argv[2:]
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
            tags = None
            if tag_out is not None:
                flag, path = path[:1], path[1:]
                tags = None if flag == b"-" else {"arch": flag == b"a"}
            answer = digest_file(path, needles, tags)
            if tags is not None:
                tag_out.write(json.dumps(tags.get("raw")) + "\n")
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
    if tag_out is not None:
        tag_out.close()
    return 0


class Prefill:
    """The digests of ``paths`` (with ``needles``, bytes) computed by a child process started
    at once, registered with reuse_keys so that ``file_digest`` waits for it
    (:func:`pungi_like.reuse_keys.wait_prefills`). The paths go to the child and its answers
    come back through anonymous files, and the answers are put into the cache by the first
    :meth:`wait` (the record thread's): no thread of this process spends the interpreter lock
    on them while the units run."""

    def __init__(self, paths, needles, tags=None):
        """``tags``: None, or one item a path: None (no tags), False (its signing key) or
        True (its key, ExcludeArch and ExclusiveArch), for :meth:`raw_tags`."""
        import subprocess
        import tempfile

        from . import reuse_keys

        self.needles = tuple(needles)
        self.answered = 0
        self._lock = threading.Lock()
        self._done = False
        self._out = tempfile.TemporaryFile()
        self._tags_out, self._tags, args, fds = None, None, [], ()
        if tags is not None:
            self._tag_paths = [p for p, t in zip(paths, tags) if t is not None]
            self._tags_lock = threading.Lock()
            self._tags_out = tempfile.TemporaryFile()
            fds = (self._tags_out.fileno(),)
            args = ["--tags", str(fds[0])]
            names = (b"-" if t is None else b"a" if t else b"s" for t in tags)
        with tempfile.TemporaryFile() as inp:
            if tags is None:
                inp.write(b"".join(os.fsencode(p) + b"\0" for p in paths))
            else:
                inp.write(b"".join(f + os.fsencode(p) + b"\0" for f, p in zip(names, paths)))
            inp.seek(0)
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-E", os.path.abspath(__file__)] + args
                + [n.hex() for n in self.needles],
                stdin=inp, stdout=self._out, stderr=subprocess.DEVNULL, pass_fds=fds)
        reuse_keys.add_prefill(self)

    def raw_tags(self, path):
        """The :class:`~pungi_like.rpmtools.headers.RawTags` the child read of ``path`` (one
        of the paths given tags), or None (read it then: the child could not, or died); the
        first call waits for the child."""
        with self._tags_lock:
            if self._tags is None:
                self._tags = {}
                try:
                    self.proc.wait()
                    self._tags_out.seek(0)
                    lines = self._tags_out.read().splitlines()
                    self._tags_out.close()
                except (OSError, ValueError):
                    lines = []
                from .rpmtools.headers import RawTags

                import json
                for p, line in zip(self._tag_paths, lines):
                    try:
                        found = json.loads(line)
                    except ValueError:
                        break   # cut short by a kill: the rest is read by the unit
                    if (type(found) is list and len(found) == 3
                            and (found[0] is None or type(found[0]) is str)
                            and type(found[1]) is list and type(found[2]) is list):
                        self._tags[p] = RawTags(sigkey=found[0], excludearch=found[1],
                                                exclusivearch=found[2])
        return self._tags.get(path)

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
