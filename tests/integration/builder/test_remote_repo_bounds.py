"""Remote repo fetching (pungi_like/rpmtools/remoterepo.py) against a hostile mirror served over
real HTTP: one trickling bytes, which never trips the per-read timeout, meets the total one."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from pungi_like.rpmtools.remoterepo import RemoteRepoError, fetch_repodata

pytestmark = pytest.mark.integration


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_trickling_mirror_hits_the_total_timeout(tmp_path):
    stop = threading.Event()

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100000):    # a byte every 0.05 s: each read well within timeout
                if stop.is_set():
                    return
                self.wfile.write(b"<")
                self.wfile.flush()
                time.sleep(0.05)

        def log_message(self, *args):
            pass

    server = _serve(Trickle)
    try:
        url = "http://127.0.0.1:%d/r/" % server.server_address[1]
        with pytest.raises(RemoteRepoError, match="did not finish in time"):
            fetch_repodata(url, str(tmp_path / "f"), timeout=5, total_timeout=1)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
