"""A gather unit's solving and linking in a process of its own.

The compose runs its units in threads of one Python process, so two gather units (pure Python
over libsolv) take turns on the interpreter lock, and each of the tens of thousands of
``lstat``/``link`` calls of the linking waits for the lock again after its syscall. A
:class:`GatherWorker` (``python -m pungi_like.rpmtools.gather_worker``) loads the package set
into its own libsolv pool, runs :func:`pungi_like.rpmtools.gathering.gather` and makes the links
the unit asks for; the unit's thread keeps everything that touches the compose's shared state
(inputs, other variants' results, rpms.json, records), so the result is the very same.

Requests and answers are length-prefixed pickles on the worker's stdin and stdout (the worker's
own fd 1 is pointed at stderr, so nothing else can reach the channel). Log records the worker
emits travel back with each answer and are handled by the parent's loggers.
"""

import logging
import os
import pickle
import struct
import subprocess
import sys
import traceback

from ..errors import PungiLikeError
from ..fileutil import link_file, try_hardlink

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


def link_packages(pairs, link_type):
    for src, dest in pairs:
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


def serve(inp, out):
    """Answer requests until the channel closes: ``("load", repos, arch)`` -> the
    system-release providers; ``("gather", kwargs)`` -> a GatherResult; ``("link", pairs,
    link_type)`` -> None."""
    from .comps import Comps
    from .depsolve import Depsolver
    from .gathering import gather

    collect = _Collect()
    top = logging.getLogger("pungi_like")
    top.addHandler(collect)
    top.setLevel(logging.DEBUG)
    top.propagate = False
    solver = None
    while True:
        try:
            request = _recv(inp)
        except EOFError:
            return
        op = request[0]
        try:
            if op == "load":
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


class GatherWorker:
    """One worker process serving one gather unit (see the module docstring). Requests are
    answered in order; :meth:`send` may run ahead of :meth:`receive`."""

    def __init__(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
            os.pathsep) if p])
        self.proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, close_fds=True)
        self.pending = 0

    def send(self, *request):
        _send(self.proc.stdin, request)
        self.pending += 1

    def receive(self):
        try:
            answer = _recv(self.proc.stdout)
        except EOFError:
            code = self.proc.wait()
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
        if self.pending:
            self.proc.kill()    # an answer nobody will read (the unit failed meanwhile)
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def main():
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)     # stray prints go to stderr, never into the channel
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    serve(inp, out)


if __name__ == "__main__":
    main()
