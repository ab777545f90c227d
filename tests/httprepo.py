"""Serve a directory over HTTP on 127.0.0.1 for tests of remote (external) repos.

``with serve_directory(path) as srv:`` runs Python's ``http.server`` in a thread; ``srv.url``
ends in ``/`` and ``srv.requests`` lists the paths asked for, so a test can check what was
fetched.  :func:`primary_records` reads back what a (merged) repo lists.
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


def primary_records(repo_dir):
    """(name, version, xml:base or "") of every package record of a repo's primary.xml,
    duplicates included, sorted: what a merged repo offers and where from."""
    import createrepo_c as cr

    from pungi_like.rpmtools.repodata import repomd_locations

    out = []
    cr.xml_parse_primary(repomd_locations(str(repo_dir))["primary"], do_files=False,
                         pkgcb=lambda p: out.append((p.name, p.version, p.location_base or "")))
    return sorted(out)
