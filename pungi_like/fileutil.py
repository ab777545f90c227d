"""Small file helpers shared by every part: atomic writes and linking with fallback."""

import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading


class FileRange:
    """``count`` bytes of the open file ``fd`` from ``offset``: a piece of
    :func:`write_atomic`'s data that the kernel copies (``os.copy_file_range``), without the
    bytes passing through Python (a taken unit's record data keeps megabytes of the old
    one's text)."""

    __slots__ = ("fd", "offset", "count")

    def __init__(self, fd, offset, count):
        self.fd, self.offset, self.count = fd, offset, count


def _copy_range(piece, fh):
    """Append ``piece`` (a :class:`FileRange`) to the file object ``fh`` (flushed first);
    read and written where the kernel refuses to copy (another file system type)."""
    fh.flush()
    out, offset, left = fh.fileno(), piece.offset, piece.count
    try:
        while left > 0:
            done = os.copy_file_range(piece.fd, out, left, offset)
            if done <= 0:
                raise ValueError("the file to copy from ended early")
            offset += done
            left -= done
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        fh.seek(0, os.SEEK_END)
        while left > 0:
            chunk = os.pread(piece.fd, min(left, 1 << 22), offset)
            if not chunk:
                raise ValueError("the file to copy from ended early")
            fh.write(chunk)
            offset += len(chunk)
            left -= len(chunk)
        fh.flush()
    fh.seek(0, os.SEEK_END)   # the buffered writer's position after the kernel's writes


def write_atomic(path, data, mode=0o644, fsync=True):
    """Write ``data`` (str or bytes, or an iterable of them - or of :class:`FileRange` - written
    one after another) to ``path`` via a temp file, fsync and rename. ``fsync`` False: for a
    file rewritten often whose loss in a machine crash costs nothing (a log that the next run
    writes anew); the rename still keeps readers from a half-written file. ``fsync`` a
    :class:`Syncer`: renamed at once, made durable by the syncer's threads (its ``wait``
    before what relies on it)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            for piece in [data] if isinstance(data, (str, bytes, bytearray, memoryview)) \
                    else data:
                if isinstance(piece, FileRange):
                    _copy_range(piece, fh)
                    continue
                fh.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            fh.flush()
            if fsync is True:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if isinstance(fsync, Syncer):
        fsync.add(path)


class Syncer:
    """Files made durable in the background: for files whose durability matters only from a
    later point on - a compose's manifests, from the moment its STATUS says FINISHED (a compose
    that is not is trusted by nobody, so a manifest lost in a crash before costs nothing) - the
    caller writes and renames them at once and goes on while threads fsync them, and
    :meth:`wait` before that point makes sure they are durable (it raises the first error).
    An fsync writes the file's data out and forces a journal commit: at the end of a no-op
    re-run the four manifests' took 6-40 ms (rpms.json is megabytes), which the test units
    and the steps after them waited for. The fsync after the rename also makes the new name
    durable (the commit holds it)."""

    #: fsyncs at once (ext4 commits its journal once for the fsyncs that wait together)
    THREADS = 4

    def __init__(self):
        self._lock = threading.Lock()
        self._pending = []
        self._pool = None

    def add(self, path):
        """Make ``path`` durable in the background."""
        import concurrent.futures

        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.THREADS, thread_name_prefix="fsync")
            self._pending.append(self._pool.submit(fsync_path, path))

    def wait(self):
        """Every file added so far is durable; raises the first error (once)."""
        with self._lock:
            pending, self._pending = self._pending, []
        error = None
        for future in pending:
            try:
                future.result()
            except OSError as exc:
                error = error or exc
        if error is not None:
            raise error


def fsync_path(path):
    """fsync the file at ``path``; nothing when it was removed (nothing to keep: a stage
    file a unit wrote and removed again)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path, obj, fsync=True):
    """Write ``obj`` as sorted, 4-space indented JSON (Pungi's style) atomically."""
    write_atomic(path, json.dumps(obj, indent=4, sort_keys=True, separators=(",", ": ")) + "\n",
                 fsync=fsync)


def link_file(src, dst, link_type="hardlink-or-copy"):
    """Place ``src`` at ``dst`` as Pungi's ``link_type`` asks.

    hardlink-or-copy falls back to a copy across filesystems (EXDEV) or where links are refused.
    A ``src`` that is a symlink (the build service leaves symlinks where it moved task output)
    is resolved first for the hardlink and copy types: ``os.link`` on a symlink links the
    symlink itself, which would leave the compose pointing outside itself.
    """
    if link_type not in ("copy", "symlink", "abspath-symlink", "hardlink", "hardlink-or-copy"):
        raise ValueError(f"unknown link_type {link_type!r}")
    if link_type in ("hardlink", "hardlink-or-copy") and try_hardlink(src, dst):
        return
    if link_type in ("copy", "hardlink", "hardlink-or-copy"):
        resolved = os.path.realpath(src)
        if not os.path.isfile(resolved):
            raise FileNotFoundError(errno.ENOENT, f"cannot link {src}: it is not a file "
                                    f"(resolves to {resolved})", src)
        src = resolved
        if os.path.isfile(dst) and not os.path.islink(dst) and os.path.samefile(src, dst):
            return  # already there (unlinking dst would drop the only copy)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst):
        os.unlink(dst)
    if link_type == "copy":
        shutil.copy2(src, dst)
    elif link_type == "symlink":
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
    elif link_type == "abspath-symlink":
        os.symlink(os.path.abspath(src), dst)
    elif link_type in ("hardlink", "hardlink-or-copy"):
        try:
            os.link(src, dst)
        except OSError as exc:
            if link_type == "hardlink" or exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copy2(src, dst)


def try_hardlink(src, dst):
    """The common case of a hard link in one syscall after one lstat: ``src`` a regular file
    (not a symlink), ``dst`` absent, its directory there, same file system. True when done;
    False leaves every other case (and every error) to ``link_file``'s careful path, which
    does the same thing there (a compose links tens of thousands of files: the careful path's
    realpath, isfile, samefile, makedirs and lexists cost ten times the link itself)."""
    try:
        if not stat.S_ISREG(os.lstat(src).st_mode):
            return False
        os.link(src, dst)
    except OSError:
        return False
    return True


#: fewer pairs than this are not worth an ``ln`` process (:func:`ln_hardlinks`)
LN_MIN = 64


def ln_hardlinks(pairs, batch):
    """Hard links of the ``(src, dest)`` pairs whose ``dest`` keeps ``src``'s base name, made
    by ``ln -L`` runs, one per destination directory and up to ``batch`` files (a command line
    far below ARG_MAX): no Python and no interpreter lock per link (``ln`` takes 0.13-0.15 s of
    CPU for 10,000 links, ``cp --link --dereference`` 0.21 s); ``-L`` links a symlink's target,
    as :func:`link_file` does. Returns ``(tried, rest)``: the pairs given to ``ln`` runs, and the
    pairs left to the caller to link one by one - the others (another name, fewer than
    :data:`LN_MIN` in all) and every pair of a run that failed (a file there already, another
    file system, a file missing), some of which that run may have linked before it failed."""
    by_dir, rest = {}, []
    for src, dest in pairs:
        folder, name = os.path.split(dest)
        if folder and name == os.path.basename(src) and not name.startswith("-"):
            by_dir.setdefault(folder, []).append((src, dest))
        else:
            rest.append((src, dest))
    if sum(len(group) for group in by_dir.values()) < LN_MIN:
        return [], list(pairs)
    tried = []
    for folder, group in by_dir.items():
        os.makedirs(folder, exist_ok=True)
        for at in range(0, len(group), batch):
            part = group[at:at + batch]
            tried += part
            done = subprocess.run(["ln", "-L", "--", *(src for src, _dest in part),
                                   folder + os.sep], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if done.returncode != 0:
                rest += part
    return tried, rest


#: bytes of file names given to one ``ln`` run by :func:`ln_names` (far below ARG_MAX)
LN_ARG_BYTES = 256 << 10


class SizeMtime:
    """The part of a stat :func:`stat_many` answers: ``st_size``, ``st_mtime`` (whole
    seconds) and ``st_mtime_ns`` (those seconds in nanoseconds)."""
    __slots__ = ("st_size", "st_mtime", "st_mtime_ns")

    def __init__(self, size, mtime):
        self.st_size, self.st_mtime, self.st_mtime_ns = size, mtime, mtime * 1_000_000_000


def output_of(cmd, **kwargs):
    """(exit code, stdout bytes) of ``cmd`` run to its end with its stdout in an anonymous file
    (stdin and stderr: /dev/null), read once it ended: through a pipe (64 KiB) a thread read a
    listing of some hundred KiB in many reads, each giving the interpreter lock up and waiting
    to take it back behind the compose's other threads (a DVD tree's ``find`` listing, 0.3 MB:
    0.09-0.12 s beside two threads running Python, 0.02-0.07 s through a file). OSError when
    it cannot be run."""
    with tempfile.TemporaryFile() as out:
        code = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.DEVNULL, **kwargs).returncode
        out.seek(0)
        return code, out.read()


def stat_many(paths, cwd=None):
    """The size and modification time (in whole seconds) of each of ``paths`` (links
    followed, as ``os.stat``) as :class:`SizeMtime` objects, from ``stat`` runs of many files
    each (up to :data:`LN_ARG_BYTES` of names): the stats are made outside this process, so
    that thousands of them do not each give the interpreter lock up and wait to take it back
    behind the compose's other threads (4,500 files beside two threads running Python: 0.24 s
    of wall one by one, 0.06 s by a run). None when a run fails (a file missing, no
    ``stat``) or answers otherwise (a time before 1970): the caller stats them itself then,
    and gets the error. ``cwd``: the directory relative ``paths`` are under (shorter names:
    fewer runs)."""
    found = []
    for batch in arg_batches(paths):
        try:
            code, output = output_of(["stat", "-L", "--printf", "%s %Y\\n", "--", *batch],
                                     cwd=cwd)
        except OSError:
            return None
        lines = output.split(b"\n")[:-1]
        if code != 0 or len(lines) != len(batch):
            return None
        try:
            for line in lines:
                size_text, mtime_text = line.split(b" ")
                if not (size_text.isdigit() and mtime_text.isdigit()):
                    return None
                found.append(SizeMtime(int(size_text), int(mtime_text)))
        except ValueError:
            return None
    return found


class Ident:
    """The part of a stat :func:`stat_idents` answers: ``st_dev``, ``st_ino``, ``st_size``,
    ``st_mtime_ns`` and ``st_mtime`` (in whole seconds, as :class:`SizeMtime`'s)."""
    __slots__ = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_mtime")

    def __init__(self, dev, ino, size, mtime_ns):
        self.st_dev, self.st_ino, self.st_size, self.st_mtime_ns = dev, ino, size, mtime_ns
        self.st_mtime = mtime_ns // 1_000_000_000


def stat_idents(paths):
    """The device, inode, size and modification time in nanoseconds of each of ``paths``
    (links followed, as ``os.stat``) as :class:`Ident` objects, from ``stat`` runs of many
    files each, as :func:`stat_many` makes them (outside this process: thousands of
    ``os.stat`` calls each give the interpreter lock up and wait to take it back behind the
    compose's other threads). Paths under one directory are named relative to it in runs
    started there (:func:`common_dir`): a package set's 10,458 names in one run instead of
    four of absolute paths, each resolved from the root. None when a run fails (a file
    missing, no ``stat``) or answers otherwise (a time before 1970, a ``stat`` without
    sub-second times): the caller stats them itself then, and gets the error."""
    found = []
    top = common_dir(paths)
    names = [path[len(top):] for path in paths] if top else paths
    for batch in arg_batches(names):
        try:
            code, output = output_of(["stat", "-L", "--printf", "%d %i %s %.9Y\\n", "--",
                                      *batch], cwd=top or None)
        except OSError:
            return None
        # checked whole, then read whole (10,458 lines one by one: 0.05 s of CPU)
        if code != 0 or output.count(b"\n") != len(batch) or not _IDENTS.fullmatch(output):
            return None
        fields = list(map(int, output.replace(b".", b"").split()))
        found += map(Ident, fields[0::4], fields[1::4], fields[2::4], fields[3::4])
    return found


def common_dir(paths):
    """The longest directory (with its trailing separator) every one of the absolute
    ``paths`` is under, or "" (relative paths, none, or only the root in common)."""
    if not paths:
        return ""
    first, last = min(paths), max(paths)
    if not first.startswith(os.sep):
        return ""
    at = 0
    for a, b in zip(first, last):
        if a != b:
            break
        at += 1
    top = first[:first.rfind(os.sep, 0, at) + 1]
    return "" if top in ("", os.sep) else top


#: what :func:`stat_idents`' runs print: device, inode, size, mtime with its nanoseconds
_IDENTS = re.compile(rb"(?:[0-9]+ [0-9]+ [0-9]+ [0-9]+\.[0-9]{9}\n)*")


def ln_names(src_dir, names, dst_dir):
    """Hard links ``dst_dir/<name>`` to ``src_dir/<name>`` for each base name of ``names``,
    made by ``ln -L`` runs started in ``src_dir`` (the kernel walks the directories' paths once
    a run, not twice a file): the links are made outside this process, without the
    interpreter lock, so two units' links use both cores while the compose's threads run
    Python (in one process the lock is handed over after each link, and a thread running
    Python meanwhile held each link back up to the switch interval). ``dst_dir`` must exist.
    True when every run succeeded; False when one failed or ``ln`` could not be run - its
    names may be linked in part, and the caller links them one by one (a name there already,
    another file system, a file gone)."""
    return not names or ln_ended(start_ln(src_dir, names, dst_dir))


def start_ln(src_dir, names, dst_dir):
    """:func:`ln_names`' runs started, not waited for: a list of :class:`Spawned`, to be
    waited for by :func:`ln_ended` (none when ``ln`` could not be started: the runs started
    before are waited for first). The caller's thread goes on (other work, more runs) while
    they link on another core. Each run is ``env -C SRC_DIR ln -L -- NAMES DST_DIR/`` made by
    one ``posix_spawn``, which keeps the interpreter lock: ``subprocess.Popen`` gives it up
    while it waits for the child's ``exec``, and beside two threads running Python took it
    back 10-17 ms later (0.2 ms of its CPU)."""
    runs = []
    for batch in arg_batches(names):
        try:
            runs.append(Spawned(["env", "-C", src_dir, "ln", "-L", "--", *batch,
                                 os.path.join(dst_dir, "")]))
        except OSError:
            ln_ended(runs)
            return []
    return runs


def ln_ended(runs):
    """Wait for the runs of :func:`start_ln`; True when there was one and each succeeded."""
    ok = bool(runs)
    for run in runs:
        if run.wait() != 0:
            ok = False
    return ok


class Spawned:
    """A command started by ``os.posix_spawnp`` (found on ``PATH``), its standard streams on
    /dev/null and the signals Python ignores (SIGPIPE, SIGXFSZ) at their defaults, as
    ``subprocess.Popen`` starts one; :meth:`wait` gives its exit code as ``Popen.wait``.
    Raises OSError when it cannot be started."""

    _SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ")
                     if hasattr(signal, name))

    def __init__(self, argv):
        null = os.devnull
        self.returncode = None
        self.pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0)], setsigdef=self._SIGNALS)

    def wait(self):
        if self.returncode is None:
            try:
                _pid, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.returncode = -1    # reaped elsewhere: its outcome unknown
        return self.returncode


def arg_batches(names, limit=None):
    """``names`` (a list) in consecutive slices of up to ``limit`` (default
    :data:`LN_ARG_BYTES`) bytes of arguments each, a name and its separator counted (one name
    longer than that is a slice of its own): the command lines of :func:`ln_names` and
    :func:`stat_many` stay far below ARG_MAX."""
    limit = LN_ARG_BYTES if limit is None else limit
    # all of them in one slice when their bytes fit (a tree's 5,400 packages: summed in C,
    # not 5,400 turns of the loop below in the unit's thread, 0.3 ms of its CPU each run)
    if names and sum(map(len, names)) + len(names) - 1 < limit:
        yield names[:]
        return
    at = 0
    while at < len(names):
        size, end = 0, at
        while end < len(names) and (end == at or size + len(names[end]) < limit):
            size += len(names[end]) + 1
            end += 1
        yield names[at:end]
        at = end
