"""Composes left STARTED by a driver that is gone (``kill -9``, a crash, a machine restart).

Every driver records who runs the compose in ``work/global/driver.json`` (host, boot id, pid,
the pid's start time). A compose whose STATUS is STARTED is *stale* when its driver ran on this
host and that process is gone: another boot, no such pid, or a pid now used by another process
(its start time differs). Composes of other hosts are left alone: their drivers cannot be seen
from here. The next compose in the same target directory reports stale ones on stderr and in its
log, so a nightly job notices a compose that will never finish instead of waiting for it.
"""

from __future__ import annotations

import json
import os

from .fileutil import write_json_atomic

DRIVER_FILE = os.path.join("work", "global", "driver.json")


def _host():
    """This machine's host name (``socket.gethostname``'s answer, without importing socket:
    2-4 ms of every compose's start)."""
    return os.uname().nodename


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _start_time(pid):
    """The start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ")"
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def record_driver(topdir, pid=None, fsync=True):
    """Write ``work/global/driver.json`` for the current process (or ``pid``; ``fsync``: as
    ``fileutil.write_atomic``'s)."""
    pid = pid or os.getpid()
    write_json_atomic(os.path.join(topdir, DRIVER_FILE), {
        "host": _host(), "boot_id": _boot_id(), "pid": pid,
        "start_time": _start_time(pid)}, fsync=fsync)


def is_stale(topdir):
    """A reason (str) when the compose at ``topdir`` is STARTED but its driver is gone, else
    None (finished, running, or run by another host)."""
    try:
        with open(os.path.join(topdir, "STATUS"), encoding="utf-8") as fh:
            if fh.read().strip() != "STARTED":
                return None
    except OSError:
        return None
    try:
        with open(os.path.join(topdir, DRIVER_FILE), encoding="utf-8") as fh:
            driver = json.load(fh)
    except (OSError, ValueError):
        return None  # made by an older release, or not by us: nothing to judge by
    if driver.get("host") != _host():
        return None
    pid = driver.get("pid")
    if driver.get("boot_id") and driver["boot_id"] != _boot_id():
        return f"the machine restarted since its driver (pid {pid}) started"
    started = _start_time(pid) if isinstance(pid, int) else None
    if started is None:
        return f"its driver (pid {pid}) is gone"
    if driver.get("start_time") is not None and started != driver["start_time"]:
        return f"its driver (pid {pid}) is gone (the pid now belongs to another process)"
    return None


def live_driver(topdir):
    """Why a STARTED compose must not be taken over (its driver still runs here, or it runs on
    another host), or None (finished, or its driver is gone)."""
    try:
        with open(os.path.join(topdir, "STATUS"), encoding="utf-8") as fh:
            if fh.read().strip() != "STARTED":
                return None
        with open(os.path.join(topdir, DRIVER_FILE), encoding="utf-8") as fh:
            driver = json.load(fh)
    except (OSError, ValueError):
        return None
    if driver.get("host") != _host():
        return f"it was started on host {driver.get('host')}, whose driver cannot be seen from here"
    if is_stale(topdir) is None:
        return f"its driver (pid {driver.get('pid')}) is still running"
    return None


def stale_composes(target_dir, skip=None):
    """[(compose directory name, reason)] of stale composes in ``target_dir``, sorted."""
    found = []
    try:
        names = sorted(os.listdir(target_dir))
    except OSError:
        return found
    for name in names:
        path = os.path.join(target_dir, name)
        if os.path.islink(path) or not os.path.isdir(path) or \
                (skip and os.path.abspath(path) == os.path.abspath(skip)):
            continue
        reason = is_stale(path)
        if reason:
            found.append((name, reason))
    return found
