"""One thin wrapper for running external tools.

Every invocation logs the exact command, its duration and its output to a log file, so a failed
compose can be debugged from its logs alone.
"""

import logging
import os
import shlex
import subprocess
import time

from .errors import ToolError

log = logging.getLogger("pungi_like.tools")


def run(cmd, log_path=None, cwd=None, env=None, check=True, input=None, timeout=None):
    """Run ``cmd`` (a list), appending command, duration and output to ``log_path``.

    Returns the CompletedProcess (stdout holds text output, stderr merged into it).
    Raises ToolError naming the command and the log when it exits non-zero and ``check`` is set.
    """
    cmd = [str(c) for c in cmd]
    shown = shlex.join(cmd)
    log.debug("running: %s", shown)
    start = time.monotonic()
    # a coarse file-system clock may stamp a new file slightly before this instant
    started_ns = time.time_ns() - 20_000_000
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, input=input, timeout=timeout,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
    except FileNotFoundError as exc:
        raise ToolError(f"{cmd[0]}: program not found ({exc}); run .ci/setup to install it", cmd=cmd)
    duration = time.monotonic() - start
    from . import reuse

    reuse.note_tool_outputs(cmd, started_ns)  # files it made, for the unit's reuse record
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"$ {shown}\n")
            if cwd:
                fh.write(f"# cwd: {cwd}\n")
            fh.write(proc.stdout)
            if proc.stdout and not proc.stdout.endswith("\n"):
                fh.write("\n")
            fh.write(f"# exit code {proc.returncode}, {duration:.2f} s\n")
    if check and proc.returncode != 0:
        where = f"; see {log_path}" if log_path else ""
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise ToolError(
            f"{cmd[0]} exited with {proc.returncode}{where}\n  command: {shown}\n{tail}",
            cmd=cmd, returncode=proc.returncode, log_path=log_path,
        )
    return proc


def _descendants(pid):
    """PIDs of every descendant of ``pid`` (read from /proc), deepest last."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    result, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def kill_children(grace=3.0):
    """Terminate every descendant process of this one (SIGTERM, then SIGKILL after ``grace``)."""
    import signal

    pids = _descendants(os.getpid())
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                 and not _is_zombie(p)]
        if not alive:
            return
        time.sleep(0.1)
    for pid in _descendants(os.getpid()) + pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True
