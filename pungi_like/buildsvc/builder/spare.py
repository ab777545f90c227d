"""A spare task process: forked by the builder daemon before it is needed, with its TLS
connection to the hub already open, and handed the next task over a pipe.

Why: a task process forked when its task is taken starts 4-9 ms later (the fork, the child's
first run) and its first hub call opens a new TLS connection with the host's client
certificate (12-17 ms under load, about 4 ms of CPU on the two ends). A tag change to a READY
repo pays both twice on its critical path (newRepo, then its createrepo subtask). A spare pays
them while the daemon is idle.

The model:

* The daemon keeps two spares (:class:`SpareKeeper`; a tag change takes two tasks in a row).
  They are forked after its first cycle and then after an idle sleep that no wake cut short
  (``ensure``), not right after a take, where a fork and a TLS handshake would take CPU from
  the task starting; when none is left, a task's process is forked at its take as before. A
  spare is in its own process group, gets SIGTERM when the daemon dies (as a task process
  does) and names itself ``task-spare`` (``ps``, /proc/PID/comm) while it waits.
* The spare makes its own, unauthenticated client session and opens one connection of that
  session's pool (the TCP connect and the TLS handshake with the host's certificate; no HTTP
  request, so the hub sees no call). It then waits for the pipe and watches the socket: a socket
  that turns readable while idle means the hub closed it (its idle ``--timeout``), and a new one
  is opened at once, so a task handed over later does not meet a dead connection. A connection
  that cannot be opened is not retried while idle: the task's first call opens one as before.
* Hand-off (``hand``): the daemon has opened the task and made its subsession (the take's
  multicall, as for a fork); it writes the task's id, method, request, openTask's answer, the
  subsession and its own map of task processes to the pipe. The spare takes the subsession as
  its session and runs the task exactly as a freshly forked task process would (the caller's
  ``run`` callback). To the hub nothing differs: one subsession per task, made by the host's
  session; the task process's process group is its pid, which the daemon kills on cancel; the
  daemon reaps it and expires its subsession (logoutChild) as for any task process.
* A spare that died, or whose pipe is broken, is reaped; the task is then forked as before. A
  spare idle for longer than ``IDLE_LIFE`` is replaced (its copy of the daemon's state is that
  of its fork).
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import select
import ssl
import struct
import time

log = logging.getLogger("pungi_like.buildsvc.builder")

#: what a waiting spare calls itself (/proc/PID/comm, at most 15 bytes)
SPARE_COMM = b"task-spare"
PR_SET_NAME = 15
_HEADER = struct.Struct("!I")


class SpareKeeper:
    """The daemon's spare task processes (see the module's doc)."""

    #: seconds after which an unused spare is replaced
    IDLE_LIFE = 600.0
    #: spares kept: a tag change takes two tasks in a row (newRepo, then createrepo)
    COUNT = 2

    def __init__(self, prepare, run, count=COUNT):
        """``prepare()`` runs first in a new spare (the daemon's die-with-parent set-up);
        ``run(msg, session)`` runs the handed task in the spare."""
        self.prepare, self.run, self.count = prepare, run, count
        self.session = None
        self.spares = []   # [(pid, write end of its pipe, monotonic time of its fork)], oldest first

    @property
    def pids(self):
        return [pid for pid, _wfd, _t in self.spares]

    def ensure(self, session):
        """Have ``count`` spares: reap those that died, replace those older than IDLE_LIFE,
        fork the missing ones. The daemon calls it when it is idle (not while a task it
        just took starts: a fork and a TLS handshake then take CPU from that task).
        ``session`` is its host session (a spare makes a client session of its own with that
        one's URL and options)."""
        self.session = session
        now = time.monotonic()
        for spare in list(self.spares):
            if _ended(spare[0]):
                self._forget(spare)
            elif now - spare[2] > self.IDLE_LIFE:
                self._forget(spare)
                _kill_and_reap(spare[0])
        while len(self.spares) < self.count:
            self._fork()

    def reap(self):
        """Reap spares that ended on their own (a SIGCHLD in the daemon); True when one was."""
        reaped = False
        for spare in list(self.spares):
            if _ended(spare[0]):
                self._forget(spare)
                reaped = True
        return reaped

    def hand(self, msg):
        """Give ``msg`` (a task, see TaskManager.forkTask) to a spare; the pid that now runs
        the task, or None when there was no spare, the message cannot be pickled or no spare
        could be reached."""
        if not self.spares:
            return None
        try:
            data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            log.info("task not handed to a spare task process (%s); forking", exc)
            return None
        data = _HEADER.pack(len(data)) + data
        while self.spares:
            pid, wfd, _t = self.spares.pop(0)
            try:
                _write_all(wfd, data)
            except OSError as exc:   # it died: EPIPE
                log.warning("spare task process %d unreachable (%s)", pid, exc)
                os.close(wfd)
                _kill_and_reap(pid)
                continue
            os.close(wfd)
            return pid
        return None

    def stop(self):
        """Kill and reap the spares (the daemon stops or restarts)."""
        for spare in list(self.spares):
            self._forget(spare)
            _kill_and_reap(spare[0])

    def _forget(self, spare):
        self.spares.remove(spare)
        if spare[1] is not None:
            try:
                os.close(spare[1])
            except OSError:
                pass

    def _fork(self):
        rfd, wfd = os.pipe()
        os.set_inheritable(rfd, False)
        os.set_inheritable(wfd, False)
        pid = os.fork()
        if pid:
            os.close(rfd)
            self.spares.append((pid, wfd, time.monotonic()))
            return
        # in no circumstance return after the fork (as the daemon's forkTask); a task that
        # was handed over ends with status 0 whatever happened, as a forked task process does
        msg = None
        try:
            os.close(wfd)
            for _pid, other, _t in self.spares:
                os.close(other)
            self.spares = []
            os.setpgrp()
            self.prepare()
            comm = _comm()
            _set_comm(SPARE_COMM)
            daemon = self.session
            session = type(daemon)(daemon.baseurl, opts=daemon.opts, sinfo=None,
                                   auth_method=daemon.auth_method)
            daemon._forget()
            msg = _wait_for_task(rfd, session)
            if msg is not None:
                os.close(rfd)
                _set_comm(comm)
                self.run(msg, session)
        except BaseException:
            if msg is None:
                log.exception("spare task process failed")
                os._exit(1)
        finally:
            os._exit(0)


def _ended(pid):
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return bool(done)


def _wait_for_task(rfd, session):
    """In the spare: keep a connection of ``session`` open until a task comes on ``rfd``; the
    task's message, or None at EOF (the daemon closed the pipe)."""
    sock = _open_connection(session)
    opened = time.monotonic()
    while True:
        watched = [rfd] + ([sock] if sock is not None else [])
        try:
            readable, _, _ = select.select(watched, [], [])
        except InterruptedError:
            continue
        if rfd in readable:
            return _read_msg(rfd)
        if _alive(sock):
            continue   # TLS records the hub sends after the handshake (session tickets)
        # the hub closed the idle connection (or sent what no idle connection gets): open
        # another, unless that one too was closed at once (then the task's call opens one)
        _drop_connections(session)
        if time.monotonic() - opened < 0.25:
            log.info("spare task process: the hub closed its connection at once; "
                     "not opened ahead again")
            sock = None
            continue
        sock = _open_connection(session)
        opened = time.monotonic()
        log.debug("spare task process: the hub closed its idle connection; opened another")


def _alive(sock):
    """After the idle TLS socket ``sock`` turned readable: True when what came was TLS records
    without application data (TLS 1.3 session tickets, which the read takes in), so the
    connection is still good; False at EOF, an error or unexpected data. Reading the
    tickets here also keeps urllib3 from taking a readable socket for a dropped one when the
    task's first call takes the connection."""
    timeout = sock.gettimeout()
    try:
        sock.setblocking(False)
        sock.recv(1)
        return False
    except ssl.SSLWantReadError:
        return True
    except OSError:
        return False
    finally:
        try:
            sock.settimeout(timeout)
        except OSError:
            pass


def _pool(session):
    """The urllib3 pool that ``session``'s calls to the hub use: requests' own choice for a
    POST to the hub's URL with the session's TLS options (koji's _sendOneCall); None when
    requests would go through a proxy (not warmed)."""
    import requests

    url = session.baseurl
    if requests.utils.get_environ_proxies(url):
        return None
    verify = session.opts.get("serverca") or not session.opts.get("no_ssl_verify")
    request = requests.Request("POST", url).prepare()
    adapter = session.rsession.get_adapter(url)
    return adapter.get_connection_with_tls_context(request, verify,
                                                   cert=session.opts.get("cert"))


def _open_connection(session):
    """Open one connection of ``session``'s pool (TCP and TLS, no request) and leave it in the
    pool for the first call; its socket, or None when it could not be opened."""
    try:
        pool = _pool(session)
        if pool is None:
            return None
        conn = pool._get_conn()
        try:
            conn.connect()
        except BaseException:
            conn.close()
            pool._put_conn(conn)
            raise
        sock = conn.sock
        pool._put_conn(conn)
        return sock
    except Exception as exc:
        log.info("spare task process: no connection to the hub opened ahead (%s)", exc)
        return None


def _drop_connections(session):
    """Close ``session``'s pooled connections (a new requests session: koji's own reaction to
    a connection error)."""
    session.new_session()


def _read_msg(rfd):
    head = _read_exactly(rfd, _HEADER.size)
    if head is None:
        return None
    body = _read_exactly(rfd, _HEADER.unpack(head)[0])
    if body is None:
        return None
    return pickle.loads(body)


def _read_exactly(fd, n):
    parts = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _kill_and_reap(pid):
    """SIGKILL the spare's process group (the process alone when it has none yet) and reap it."""
    from .daemon import kill_and_reap

    kill_and_reap(pid, os.killpg)


def _comm():
    try:
        with open("/proc/self/comm", "rb") as f:
            return f.read().rstrip(b"\n")
    except OSError:
        return b"python3"


def _set_comm(name):
    # the C library's symbols through the program's own (dlopen(NULL)): no library search
    ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)
