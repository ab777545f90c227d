"""A gather unit's solving and linking in a process of its own.

The compose runs its units in threads of one Python process, so two gather units (pure Python
over libsolv) take turns on the interpreter lock, and each of the tens of thousands of
``lstat``/``link`` calls of the linking waits for the lock again after its syscall. A
:class:`GatherWorker` runs :func:`pungi_like.rpmtools.gathering.gather` on a loaded package set
and makes the links the unit asks for in another process; the unit's thread keeps everything
that touches the compose's shared state (inputs, other variants' results, rpms.json, records),
so the result is the very same.

A :class:`SolverHost` (``python -m pungi_like.rpmtools.gather_worker --host FD``) loads one
package set (an arch's repos) into a libsolv pool once and forks a worker for each gather unit
of that arch, so the units share the load as the threads shared one :class:`Depsolver`
(:meth:`GatherWorker.spawn` starts a worker that loads by itself instead).

Requests and answers are length-prefixed pickles on a socket (a spawned worker: its stdin and
stdout, its own fd 1 pointed at stderr so nothing else reaches the channel). Log records the
worker emits travel back with each answer and are handled by the parent's loggers.
"""

import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback

from .. import childproc
from ..errors import PungiLikeError
from ..fileutil import link_file, ln_hardlinks, try_hardlink

_HEAD = struct.Struct("<Q")


def link_package(src, dest, link_type):
    """Link ``src`` to ``dest``; SRPMs are shared by the arches of a variant, so a file that is
    already there (another arch linked it) is left alone."""
    if link_type in ("hardlink", "hardlink-or-copy") and try_hardlink(src, dest):
        return
    if os.path.exists(dest):
        try:
            if os.path.samefile(src, dest) or os.path.getsize(src) == os.path.getsize(dest):
                return
        except OSError:
            pass
    try:
        link_file(src, dest, link_type)
    except FileExistsError:
        pass


#: files per ``ln`` run of :func:`link_packages` (its command line stays far below ARG_MAX)
LINK_BATCH = 2000
#: fewer pairs than this are linked one by one here (an ``ln`` run costs ~2 ms)
LINK_BATCH_MIN = 64


def link_packages(pairs, link_type):
    """:func:`link_package` for each ``(src, dest)``; hard links (``hardlink``,
    ``hardlink-or-copy``) of a file under its own name are made by ``ln`` runs of up to
    :data:`LINK_BATCH` files (:func:`~pungi_like.fileutil.ln_hardlinks`): each link costs this
    process no Python and no interpreter lock, which the other gather units wait for. What a run
    refused is left to :func:`link_package`, which does what it always did. Links made by ``ln``
    are not seen by Python's audit hook: the caller notes them (see ``phases.gather``)."""
    pairs = list(pairs)
    rest = pairs
    if link_type in ("hardlink", "hardlink-or-copy") and len(pairs) >= LINK_BATCH_MIN:
        _tried, rest = ln_hardlinks(pairs, LINK_BATCH)
    for src, dest in rest:
        link_package(src, dest, link_type)


def release_providers(solver):
    """Names of the package set's (not lookaside) providers of ``system-release``, sorted."""
    return sorted({p.name for p in solver.providers("system-release") if not p.lookaside})


def _send(fh, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEAD.pack(len(data)))
    fh.write(data)
    fh.flush()


def _recv(fh):
    head = fh.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise EOFError("gather worker channel closed")
    size = _HEAD.unpack(head)[0]
    data = fh.read(size)
    if len(data) < size:
        raise EOFError("gather worker channel closed")
    return pickle.loads(data)


class _Collect(logging.Handler):
    """Keeps the worker's log records to send them back with the next answer."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        record.msg = record.getMessage()
        record.args = None
        record.exc_info = None
        self.records.append(record)

    def take(self):
        records, self.records = self.records, []
        return records


def _picklable(exc):
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return PungiLikeError(f"{type(exc).__name__}: {exc}")


def _collect_logs():
    collect = _Collect()
    top = logging.getLogger("pungi_like")
    top.addHandler(collect)
    top.setLevel(logging.DEBUG)
    top.propagate = False
    return collect


def serve(inp, out, collect, solver=None):
    """Answer requests until the channel closes: ``("load", repos, arch)`` -> the
    system-release providers (a worker forked by a :class:`SolverHost` has its solver, or the
    error that loading it raised, already); ``("gather", kwargs)`` -> a GatherResult;
    ``("link", pairs, link_type)`` -> None."""
    from .comps import Comps
    from .depsolve import Depsolver
    from .gathering import gather

    while True:
        try:
            request = _recv(inp)
        except EOFError:
            return
        op = request[0]
        try:
            if isinstance(solver, BaseException):
                raise solver
            if op == "load":
                if solver is None:
                    solver = Depsolver(request[1], request[2])
                value = release_providers(solver)
            elif op == "gather":
                kwargs = dict(request[1])
                comps_path = kwargs.pop("comps_path", None)
                kwargs["comps"] = Comps.from_file(comps_path) if comps_path else None
                value = gather(None, solver.arch, solver=solver, **kwargs)
            elif op == "link":
                link_packages(request[1], request[2])
                value = None
            else:
                raise PungiLikeError(f"gather worker: unknown request {op!r}")
            answer = ("ok", value, collect.take())
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
            answer = ("error", _picklable(exc), traceback.format_exc(), collect.take())
        _send(out, answer)


def _env():
    """This process's environment with this pungi_like first on the path (so a worker runs
    the very same code, also from an export run with PYTHONPATH)."""
    return childproc.module_env()


class GatherWorker:
    """The unit's end of one worker (see the module docstring). Requests are answered in
    order; :meth:`send` may run ahead of :meth:`receive`."""

    def __init__(self, rfile, wfile, proc=None, sock=None):
        self.rfile, self.wfile, self.proc, self.sock = rfile, wfile, proc, sock
        self.pending = 0

    @classmethod
    def spawn(cls):
        """A worker in a new process of its own, which loads its package set itself."""
        proc = subprocess.Popen(childproc.module_command(__name__), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=_env(), close_fds=True)
        return cls(proc.stdout, proc.stdin, proc=proc)

    def send(self, *request):
        _send(self.wfile, request)
        self.pending += 1

    def receive(self):
        try:
            answer = _recv(self.rfile)
        except (EOFError, OSError):
            code = self.proc.wait() if self.proc is not None else "unknown"
            raise PungiLikeError(f"gather worker ended (exit status {code}) before answering")
        self.pending -= 1
        for record in answer[-1]:
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        if answer[0] == "error":
            exc = answer[1]
            if not isinstance(exc, Exception):
                exc = PungiLikeError(f"gather worker: {answer[2].strip().splitlines()[-1]}")
            raise exc
        return answer[1]

    def call(self, *request):
        self.send(*request)
        return self.receive()

    def close(self):
        if self.pending and self.proc is not None:
            self.proc.kill()    # an answer nobody will read (the unit failed meanwhile)
        for fh in (self.wfile, self.rfile, self.sock):
            try:
                if fh is not None:
                    fh.close()      # a forked worker sees the end of its channel and exits
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SolverHost:
    """A process holding one loaded package set; :meth:`worker` forks a worker from it."""

    def __init__(self, repos, arch):
        self.sock, theirs = socket.socketpair()
        with theirs:
            self.proc = subprocess.Popen(
                childproc.module_command(__name__, "--host", str(theirs.fileno())),
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=_env())
        _send_sock(self.sock, ("load", list(repos), arch))
        self.lock = threading.Lock()

    def worker(self):
        """A :class:`GatherWorker` forked from the host once its package set is loaded."""
        ours, theirs = socket.socketpair()
        with theirs:
            try:
                with self.lock:
                    socket.send_fds(self.sock, [b"w"], [theirs.fileno()])
            except OSError as exc:
                ours.close()
                raise PungiLikeError(f"gather solver host is gone ({exc})")
        return GatherWorker(ours.makefile("rb"), ours.makefile("wb"), sock=ours)

    def close(self):
        self.sock.close()           # the host exits; its workers end with their channels
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _send_sock(sock, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEAD.pack(len(data)) + data)


def _recv_exactly(sock, size):
    """``size`` bytes, not one more (the channels sent next come as ancillary data)."""
    parts = []
    while size:
        part = sock.recv(size)
        if not part:
            raise EOFError("gather solver host channel closed")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def host(fd):
    """The :class:`SolverHost` process: load, then fork a worker for every channel sent."""
    from .depsolve import Depsolver

    ctl = socket.socket(fileno=fd)
    collect = _collect_logs()
    request = pickle.loads(_recv_exactly(ctl, _HEAD.unpack(_recv_exactly(ctl, _HEAD.size))[0]))
    try:
        solver = Depsolver(request[1], request[2])
        solver.unique_latest()      # what every gather starts from, made once for the workers
    except Exception as exc:  # noqa: BLE001 - each worker answers with it
        solver = exc
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)     # workers are reaped by the kernel
    while True:
        msg, fds, _flags, _addr = socket.recv_fds(ctl, 16, 4)
        if not msg:
            return
        for channel in fds:
            if os.fork() == 0:
                code = 0
                try:
                    ctl.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    sock = socket.socket(fileno=channel)
                    serve(sock.makefile("rb"), sock.makefile("wb"), collect, solver)
                except BaseException:  # noqa: BLE001 - the parent sees the channel close
                    code = 1
                finally:
                    os._exit(code)
            os.close(channel)


def main():
    if sys.argv[1:2] == ["--host"]:
        os.dup2(2, 1)
        host(int(sys.argv[2]))
        return
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)     # stray prints go to stderr, never into the channel
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    serve(inp, out, _collect_logs())


if __name__ == "__main__":
    main()
