"""The hub's HTTP(S) transport: a cheroot server that idle or slow clients cannot stall.

The model:

* One selector thread (cheroot's ConnectionManager) accepts connections and watches every idle
  one. It never blocks on a client: stock cheroot runs the TLS handshake right after ``accept()``
  in that thread, so one silent TCP connection held accepting for the whole socket timeout (five
  of them froze the hub for 50 s). Here ``accept()`` only wraps the socket for TLS without the
  handshake, and the new connection goes to the selector like an idle keep-alive one.
* A worker thread is taken only when a connection has bytes to read. For a new TLS connection
  the worker runs the handshake with a deadline of ``handshake_timeout`` seconds in total (a
  client trickling its ClientHello cannot keep it longer), then hands the connection back to the
  selector unless a request is already waiting: an open but quiet TLS connection holds no worker.
* While reading a request or writing a reply, each socket operation waits at most ``timeout``
  seconds; a connection idle for longer than ``timeout`` is closed by the selector.
* A request's line and headers must arrive within ``header_timeout`` seconds in total: a
  watchdog thread shuts down a connection that trickles its headers (one byte every few seconds
  never trips ``timeout``), which frees its worker. Bodies are not bounded in time (an upload
  of many megabytes on a slow link is legitimate); their size is (``server.MAX_BODY``). The
  request line and headers together are bounded in size too (:data:`MAX_HEADER_BYTES`).
* At most ``max_connections`` connections are open at once; beyond that a new one is closed at
  once (logged), so a flood of idle sockets cannot use up the process's file descriptors.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import sys
import threading
import time
import weakref

from cheroot import connections, errors, server as cheroot_server, wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from ...errors import PungiLikeError

log = logging.getLogger("pungi_like.buildsvc.hub")

#: defaults of ``pungi-like-hub serve`` (seconds; connections)
DEFAULT_TIMEOUT = 10.0
DEFAULT_HANDSHAKE_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_HEADER_TIMEOUT = 30.0
#: Upper bound of a request's line and headers together (bytes): cheroot's default is no bound,
#: so one client could make the hub hold gigabytes within ``header_timeout``. Koji's clients and
#: browsers send well under 8 KiB. Beyond it: 414 (request line) or 413 (headers).
MAX_HEADER_BYTES = 64 * 1024


class LazyTLSAdapter(BuiltinSSLAdapter):
    """TLS whose handshake is left to the worker that first reads from the connection."""

    def wrap(self, sock):
        try:
            tls = self.context.wrap_socket(sock, server_side=True,
                                           do_handshake_on_connect=False)
        except OSError as exc:
            raise errors.FatalSSLAlert(*exc.args) from exc
        return tls, {}


class HubRequest(cheroot_server.HTTPRequest):
    """A request whose line and headers must arrive before the connection's head deadline."""

    def parse_request(self):
        self.conn.head_deadline = time.monotonic() + self.server.header_timeout
        try:
            super().parse_request()
        finally:
            self.conn.head_deadline = None


#: a plain-HTTP request refused on the TLS port: how long and how much of what the client
#: still sends is read before its connection is closed (``_plain_http_refusal``)
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20


class HubConnection(cheroot_server.HTTPConnection):
    """An HTTP connection that finishes its TLS handshake (if any) before its first request."""

    RequestHandlerClass = HubRequest
    handshake_pending = False
    #: monotonic time by which the request head being read must be complete, or None
    head_deadline = None

    def __init__(self, server, sock, makefile=cheroot_server.MakeFile):
        super().__init__(server, sock, makefile)
        server.track(self)

    def cut_off(self):
        """Shut the socket down under a worker blocked reading from it (watchdog)."""
        try:
            # the plain socket's shutdown: SSLSocket.shutdown would also drop its TLS state
            # while the worker thread may still be inside a TLS read
            socket.socket.shutdown(self.socket, socket.SHUT_RDWR)
        except OSError:
            pass

    def communicate(self):
        if self.handshake_pending:
            self.handshake_pending = False
            if not self._handshake():
                return False
            if not self._request_waiting():
                return True  # back to the selector until the client sends its request
        return super().communicate()

    def _handshake(self):
        sock = self.socket
        try:
            # CPython applies a socket timeout to the whole handshake, not to each read.
            sock.settimeout(self.server.handshake_timeout)
            sock.do_handshake()
            sock.settimeout(self.server.timeout)
        except (OSError, ValueError) as exc:
            if isinstance(exc, ssl.SSLError) and "http request" in str(exc).lower():
                self._plain_http_refusal()
            log.info("TLS handshake with %s:%s failed: %s", self.remote_addr, self.remote_port,
                     exc)
            return False
        self.ssl_env = self.server.ssl_adapter.get_environ(sock)
        return True

    def _request_waiting(self):
        if self.socket.pending():
            return True
        try:
            readable, _, _ = select.select([self.socket], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def _plain_http_refusal(self):
        """Answer a plain-HTTP request on the TLS port in plain text, as stock cheroot does,
        then close it lingering: what the client still sends (a request body goes out after
        its head) is read and dropped for up to :data:`LINGER_SECONDS` and
        :data:`LINGER_BYTES`, or until it closes its side. A socket closed with unread data
        answers the client's next bytes with a reset: the client then fails writing its body
        (a broken pipe) or loses the 400 before it reads it."""
        msg = b"The client sent a plain HTTP request, but this server only speaks HTTPS.\n"
        head = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" \
               b"Connection: close\r\n\r\n" % len(msg)
        raw = socket.socket   # the SSLSocket's own calls would try TLS: the plain socket's
        try:
            raw.sendall(self.socket, head + msg)
            raw.shutdown(self.socket, socket.SHUT_WR)
            deadline = time.monotonic() + min(LINGER_SECONDS, self.server.handshake_timeout)
            left = LINGER_BYTES
            while left > 0:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                raw.settimeout(self.socket, wait)
                data = raw.recv(self.socket, min(65536, left))
                if not data:
                    break
                left -= len(data)
        except OSError:
            pass


class HubConnectionManager(connections.ConnectionManager):
    """Accepts without blocking on the client; new connections wait in the selector."""

    def _from_server_socket(self, server_socket):
        conn = super()._from_server_socket(server_socket)
        if conn is None:
            return None
        if self._num_connections >= self.server.max_connections:
            log.warning("refusing a connection from %s: %d connections open (max_connections)",
                        conn.remote_addr, self._num_connections)
            conn.close()
            return None
        conn.handshake_pending = self.server.ssl_adapter is not None
        self.put(conn)
        return None


#: exceptions that mean the client closed its end, not that the hub failed
_CLIENT_GONE = (ssl.SSLEOFError, ssl.SSLZeroReturnError, BrokenPipeError, ConnectionResetError,
                ConnectionAbortedError, TimeoutError)


class HubServer(wsgi.Server):
    """cheroot's WSGI server with :class:`HubConnectionManager` and :class:`HubConnection`."""

    ConnectionClass = HubConnection
    handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT
    header_timeout = DEFAULT_HEADER_TIMEOUT
    max_connections = DEFAULT_MAX_CONNECTIONS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._tracked = weakref.WeakSet()
        self._tracked_lock = threading.Lock()

    def error_log(self, msg="", level=20, traceback=False):
        """cheroot's error reports go to the hub's log, not raw to stderr: a client that went
        away mid-reply (EOF, reset, broken pipe, timeout) is routine and logged at DEBUG; any
        other error keeps its traceback, at ERROR."""
        exc = sys.exc_info()[1]
        if isinstance(exc, _CLIENT_GONE):
            log.debug("connection ended by the client: %s (%s)", exc, msg)
            return
        log.log(max(level, logging.WARNING) if traceback else level, "%s", msg,
                exc_info=traceback)

    def track(self, conn):
        with self._tracked_lock:
            self._tracked.add(conn)

    def prepare(self):
        super().prepare()
        stock = self._connections
        self._connections = HubConnectionManager(self)
        stock._selector.close()
        threading.Thread(target=self._watch_heads, name="hub-head-watchdog", daemon=True).start()

    def _watch_heads(self):
        """Cut off connections whose request head is overdue (see the module docstring)."""
        while self.ready:
            time.sleep(min(1.0, self.header_timeout / 4))
            now = time.monotonic()
            with self._tracked_lock:
                conns = list(self._tracked)
            for conn in conns:
                deadline = conn.head_deadline
                if deadline is not None and now > deadline:
                    conn.head_deadline = None
                    log.info("closing %s:%s: request headers not complete after %.0f s",
                             conn.remote_addr, conn.remote_port, self.header_timeout)
                    conn.cut_off()


def make_server(app, host, port, tls_cert=None, tls_key=None, client_ca=None, threads=16,
                timeout=DEFAULT_TIMEOUT, handshake_timeout=DEFAULT_HANDSHAKE_TIMEOUT,
                max_connections=DEFAULT_MAX_CONNECTIONS, header_timeout=DEFAULT_HEADER_TIMEOUT):
    """A server for the WSGI ``app``; HTTPS with optional client certificates when given."""
    for name, value in (("timeout", timeout), ("handshake_timeout", handshake_timeout),
                        ("header_timeout", header_timeout),
                        ("max_connections", max_connections), ("threads", threads)):
        if not value or value <= 0:
            raise PungiLikeError("hub server setting %s must be positive, not %r"
                                 % (name, value))
    server = HubServer((host, port), app, numthreads=threads, server_name="pungi-like-hub",
                       request_queue_size=64, timeout=timeout)
    server.handshake_timeout = handshake_timeout
    server.header_timeout = header_timeout
    server.max_connections = max_connections
    server.max_request_header_size = MAX_HEADER_BYTES
    # Idle keep-alive connections wait in the selector, not in a worker: they are cheap, so
    # keep-alive is allowed for every connection the server accepts.
    server.keep_alive_conn_limit = max_connections
    if tls_cert:
        adapter = LazyTLSAdapter(tls_cert, tls_key, certificate_chain=client_ca)
        if client_ca:
            # Every call may carry a certificate; only sslLogin insists on one.
            adapter.context.verify_mode = ssl.CERT_OPTIONAL
        server.ssl_adapter = adapter
    return server

