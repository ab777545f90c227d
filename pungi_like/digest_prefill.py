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

With ``tags`` (a cold package set from repos) the child first reads what the package set's
headers need of each RPM besides its repodata (:func:`pungi_like.rpmtools.headers.read_raw_tags`:
the signing key, for a source package ExcludeArch/ExclusiveArch), then hashes the files; and
:meth:`Prefill.raw_tags` hands the tags to the unit as soon as that first pass ended, which
would otherwise open and parse the 10,000+ headers under the interpreter lock beside the
package set repo's writing.

    python -I -S digest_prefill.py NEEDLE_HEX...   # stdin: paths, NUL-terminated
    # stdout: "dev ino size mtime_ns sha256 flags" a file, flags one 0/1 a needle
    python -I -S digest_prefill.py --tags FD DONE_FD NEEDLE_HEX...   # stdin: a flag byte,
    # the path, NUL (flag "-": no tags, "s": the key, "a": the key and the arch tags); FD: one
    # JSON line a flagged path, in their order: [key or null, ExcludeArch, ExclusiveArch] or
    # null; DONE_FD closed once they are all written, before the digests

The child hashes at a lower CPU priority (:func:`lower_priority`) once its tags pass ended (at
once without one): no unit waits for the digests, only the records built later, so on a
compose's two cores they take what the units leave (the package set repo's writing, the
gathers) instead of a share of it.
"""

import functools
import hashlib
import os
import stat
import sys
import threading

#: bytes read at a time from a file larger than this (the search then spans reads)
READ = 1 << 20

#: how much nicer than the compose a helper process runs whose work no unit waits for (this
#: child's digests, a record child's records: ``scheduler.record_child``);
#: ``PUNGI_LIKE_HELPER_NICE`` in the environment sets it (0: the compose's own priority)
HELPER_NICE = 10


def lower_priority():
    """Make this process ``HELPER_NICE`` (or ``$PUNGI_LIKE_HELPER_NICE``) nicer than it is: the
    kernel then runs it when the compose's units and tools leave a core free, and gives it a
    small share otherwise. A process can lower its own priority, never raise it again, so
    only a helper calls this, in itself. Nothing happens when it cannot."""
    try:
        nice = int(os.environ.get("PUNGI_LIKE_HELPER_NICE", HELPER_NICE))
    except ValueError:
        nice = HELPER_NICE
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:
            pass


@functools.lru_cache(maxsize=16)
def holders(needles):
    """``(order, inner)`` for :func:`search_needles` of the tuple ``needles``: their indexes
    shortest first, and for each the indexes of the shorter needles it holds (made once for
    the few sets of needles a process searches for)."""
    order = tuple(sorted(range(len(needles)), key=lambda i: len(needles[i])))
    inner = tuple(tuple(j for j in order if len(needles[j]) < len(needles[i])
                        and needles[j] in needles[i]) for i in range(len(needles)))
    return order, inner


def search_needles(window, needles, found, order, inner):
    """Set ``found[i]`` for each needle not found yet that occurs in ``window`` (bytes, or an
    object with ``in``), shortest first; a needle holding a shorter one that has not been found
    so far is not looked for: the shorter one was looked for in this window before it and is
    not there, so neither is the needle. The compose's directory holds its id, so bytes naming
    neither (a package, a DVD) are scanned once, not once a needle."""
    for i in order:
        if not found[i]:
            for j in inner[i]:
                if not found[j]:
                    break
            else:
                if needles[i] in window:
                    found[i] = True


class NeedleSearch:
    """Which of ``needles`` (bytes) occur in bytes fed in pieces, as ``reuse_keys.file_digest``
    searches a file: a needle that spans two pieces is found. ``found``: a list, one bool a
    needle."""

    def __init__(self, needles):
        self.needles = list(needles)
        self.found = [False] * len(self.needles)
        self._order, self._inner = holders(tuple(self.needles))
        self._keep = max((len(n) for n in self.needles), default=1)
        self._tail = b""

    def feed(self, chunk):
        window = self._tail + chunk
        search_needles(window, self.needles, self.found, self._order, self._inner)
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
        first = os.read(fd, min(st.st_size + 1, READ))
        h = hashlib.sha256(first)
        total = len(first)
        if first and total == st.st_size:
            # the whole file in one read (a package): searched as it is, no window kept
            found = [False] * len(needles)
            search_needles(first, needles, found, *holders(tuple(needles)))
        else:
            search = NeedleSearch(needles)
            if first:
                search.feed(first)
            found = search.found
            while first:
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
    return st, h.hexdigest(), found


def raw_tags(path, arch_tags):
    """``[key, ExcludeArch, ExclusiveArch]`` of the RPM at ``path``
    (``headers.read_raw_tags``), or None when it is not one or cannot be read (the unit reads
    it then, and says why)."""
    try:
        found = _headers().read_raw_tags(os.fsdecode(path), arch_tags)
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
    """The child: the needles (hex) in ``argv``, the paths on stdin, the answers on stdout;
    with ``--tags TAGS_FD DONE_FD`` first the tags of the flagged paths (:func:`tags_pass`)."""
    out = sys.stdout.buffer
    inp = sys.stdin.buffer
    if argv[:1] == ["--tags"]:
        items = inp.read().split(b"\0")[:-1]
        tags_pass(items, int(argv[1]), int(argv[2]))
        lower_priority()    # the unit waited for the tags, not for what follows
        chunks, argv = [b"\0".join(item[1:] for item in items) + b"\0"], argv[3:]
    else:
        lower_priority()
        chunks = iter(lambda: inp.read1(1 << 16), b"")
    needles = [bytes.fromhex(n) for n in argv]
    pending = b""
    lines = []
    for data in chunks:
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


def tags_pass(items, tags_fd, done_fd):
    """The tags of each flagged item (a flag byte and a path: ``-`` none, ``s`` the key, ``a``
    the key and the arch tags) as JSON lines to ``tags_fd``, in their order, before any digest:
    the unit waits for these (the end of this pass, when ``done_fd`` is closed), not for the
    digests, which the records need only later."""
    import json

    with os.fdopen(tags_fd, "w", encoding="utf-8") as tag_out:
        for item in items:
            flag, path = item[:1], item[1:]
            if flag != b"-":
                tag_out.write(json.dumps(raw_tags(path, flag == b"a")) + "\n")
    os.close(done_fd)


def parse_tags(lines):
    """The :class:`~pungi_like.rpmtools.headers.RawTags` (or None) of each of the tags pass's
    JSON ``lines`` (bytes), in order, up to a line that is not JSON (cut short by a kill: the
    rest is read by the unit). The lines are parsed by one ``json.loads`` (one a line cost
    the compose's process 0.02 s at 10,000 RPMs, before pkgset.global could go on); one a line
    only when that fails."""
    import json

    from .rpmtools.headers import RawTags

    try:
        values = json.loads(b"[" + b",".join(lines) + b"]")
        if len(values) != len(lines):
            raise ValueError("not one value a line")
    except ValueError:
        values = []
        for line in lines:
            try:
                values.append(json.loads(line))
            except ValueError:
                break
    return [RawTags(sigkey=found[0], excludearch=found[1], exclusivearch=found[2])
            if (type(found) is list and len(found) == 3
                and (found[0] is None or type(found[0]) is str)
                and type(found[1]) is list and type(found[2]) is list) else None
            for found in values]


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
        self._tags_out, self._tags, self._tags_done, args, fds = None, None, None, [], ()
        if tags is not None:
            self._tag_paths = [p for p, t in zip(paths, tags) if t is not None]
            self._tags_lock = threading.Lock()
            self._tags_out = tempfile.TemporaryFile()
            # the end of the child's tags pass: the write end closed (by the child, or as it
            # ends)
            self._tags_done, done = os.pipe()
            fds = (self._tags_out.fileno(), done)
            args = ["--tags", str(fds[0]), str(done)]
            names = (b"-" if t is None else b"a" if t else b"s" for t in tags)
        with tempfile.TemporaryFile() as inp:
            if tags is None:
                inp.write(b"".join(os.fsencode(p) + b"\0" for p in paths))
            else:
                inp.write(b"".join(f + os.fsencode(p) + b"\0" for f, p in zip(names, paths)))
            inp.seek(0)
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__)] + args
                + [n.hex() for n in self.needles],
                stdin=inp, stdout=self._out, stderr=subprocess.DEVNULL, pass_fds=fds)
        if tags is not None:
            os.close(done)
        reuse_keys.add_prefill(self)

    def raw_tags(self, path):
        """The :class:`~pungi_like.rpmtools.headers.RawTags` the child read of ``path`` (one
        of the paths given tags), or None (read it then: the child could not, or died); the
        first call waits for the child's tags pass (not for its digests)."""
        with self._tags_lock:
            if self._tags is None:
                self._tags = {}
                try:
                    while os.read(self._tags_done, 1 << 12):
                        pass    # nothing is written: only the end counts
                    self._tags_out.seek(0)
                    lines = self._tags_out.read().splitlines()
                except (OSError, ValueError):
                    lines = []
                finally:
                    self._close_tags()
                for p, found in zip(self._tag_paths, parse_tags(lines)):
                    if found is not None:
                        self._tags[p] = found
        return self._tags.get(path)

    def _close_tags(self):
        if self._tags_done is not None:
            os.close(self._tags_done)
            self._tags_done = None
            self._tags_out.close()

    def wait(self, timeout=None):
        """Wait for the child (killed after ``timeout`` s: what it answered by then is taken)
        and put its answers into the cache, once; True."""
        import subprocess

        from . import reuse_keys

        if self._tags_done is not None:
            with self._tags_lock:
                if self._tags is None:
                    self._tags = {}     # never asked for: nothing to read any more
                self._close_tags()
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
