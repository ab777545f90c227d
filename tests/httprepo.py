"""Serve a directory over HTTP on 127.0.0.1 for tests of remote (external) repos.

``with serve_directory(path) as srv:`` runs Python's ``http.server`` in a thread; ``srv.url``
ends in ``/`` and ``srv.requests`` lists the paths asked for, so a test can check what was
fetched.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # keep pytest output clean; paths go to .requests
        self.server.requests.append(self.path)


@contextlib.contextmanager
def serve_directory(path):
    handler = functools.partial(_Handler, directory=str(path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        server.url = "http://127.0.0.1:%d/" % server.server_address[1]
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
