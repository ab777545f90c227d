"""What a running unit leaves behind, captured in its own thread (see ``pungi_like.reuse``).

Python's audit events report every open-for-write, rename, link, symlink and copy; the hook
notes those under the compose directory of the unit running in the calling thread. Tools run
by ``tools.run`` report the files they made through ``note_tool_outputs``; the compose's
recorders report what a unit hands over through ``note_journal``.
"""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

_local = threading.local()
_hook_installed = False
_hook_lock = threading.Lock()


class Capture:
    """What one running unit leaves behind (see the module docstring)."""

    def __init__(self, topdir):
        self.topdir = topdir
        self.written = set()
        self.dirs = set()
        # ("put", key, value) | ("rpm", args) | ("rpms", variant, arch, rows) |
        # ("epoch", value, origin) | ("image_add", variant, arch, image)
        self.journal = []

    def note_dir(self, path):
        try:
            self.dirs.add(os.path.abspath(os.fsdecode(path)))
        except (TypeError, ValueError):
            pass

    def paths(self):
        """The files written: those noted, and those below directories renamed into place."""
        found = set(self.written)
        for directory in self.dirs:
            if directory.startswith(self.topdir + os.sep):
                for base, _dirs, files in os.walk(directory):
                    found.update(os.path.join(base, f) for f in files)
        return found

    def note(self, path):
        try:
            path = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        if path.startswith(self.topdir + os.sep):
            self.written.add(path)


def current():
    """The capture of the unit running in this thread, or None."""
    return getattr(_local, "capture", None)


def _audit(event, args):
    cap = getattr(_local, "capture", None)
    if cap is None:
        return
    if event == "open":
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        if mode:
            if any(c in mode for c in "wax+"):
                cap.note(path)
        elif flags and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND):
            cap.note(path)
    elif event in ("os.rename", "os.link", "os.symlink", "shutil.copyfile"):
        if len(args) > 1 and not isinstance(args[1], int):
            cap.note(args[1])
            if event == "os.rename" and not isinstance(args[0], int) and os.path.isdir(args[0]):
                cap.note_dir(args[1])   # a directory made elsewhere and moved in


def _install_hook():
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


class capturing:
    """Context manager: capture what the code run in this thread writes under ``topdir``."""

    def __init__(self, topdir):
        _install_hook()
        self.capture = Capture(os.path.abspath(topdir))

    def __enter__(self):
        self.saved = getattr(_local, "capture", None)
        _local.capture = self.capture
        return self.capture

    def __exit__(self, *exc):
        _local.capture = self.saved
        return False


def carry(fn):
    """``fn`` wrapped to run with the capture of the calling thread: work a unit hands to
    threads of its own (a pool writing a repo beside other work) is the unit's, and what it
    writes must be in the unit's record like the rest."""
    cap = current()
    if cap is None:
        return fn

    def run(*args, **kwargs):
        saved = getattr(_local, "capture", None)
        _local.capture = cap
        try:
            return fn(*args, **kwargs)
        finally:
            _local.capture = saved
    return run


class ThreadPool(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose jobs (``submit`` and ``map``) run with the capture of
    the thread that handed them over (:func:`carry`)."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(carry(fn), *args, **kwargs)


def note_journal(*op):
    cap = current()
    if cap is not None:
        cap.journal.append(op)


def note_tool_outputs(cmd, started_ns):
    """After a tool ran: the files under the compose named on its command line (or below a
    directory named there) whose change time is not older than the run."""
    cap = current()
    if cap is None:
        return
    for arg in cmd:
        arg = str(arg)
        if "=" in arg and not arg.startswith("/"):
            arg = arg.split("=", 1)[1]
        if not arg.startswith(cap.topdir + os.sep):
            continue
        if os.path.isdir(arg):
            for base, _dirs, files in os.walk(arg):
                for name in files:
                    path = os.path.join(base, name)
                    try:
                        if os.lstat(path).st_ctime_ns >= started_ns:
                            cap.written.add(path)
                    except OSError:
                        pass
        elif os.path.lexists(arg):
            try:
                if os.lstat(arg).st_ctime_ns >= started_ns:
                    cap.written.add(arg)
            except OSError:
                pass
