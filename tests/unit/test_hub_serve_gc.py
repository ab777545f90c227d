"""pungi-like-hub serve keeps what it made at start-up out of the cyclic GC's collections."""

from __future__ import annotations

import gc
import signal
import types

from pungi_like.buildsvc.hub import server as hub_server
from pungi_like.cli import hub as hub_cli


def test_serve_freezes_the_start_up_objects_before_serving(monkeypatch):
    seen = {}

    class FakeServer:
        bind_addr = ("127.0.0.1", 0)

        def prepare(self):
            pass

        def serve(self):
            seen["frozen"] = gc.get_freeze_count()

    class FakeApp:
        def __init__(self, config):
            self.db = types.SimpleNamespace(dispose=lambda: None)

    monkeypatch.setattr(hub_server.HubConfig, "load",
                        classmethod(lambda cls, topdir: types.SimpleNamespace(topdir=topdir)))
    monkeypatch.setattr(hub_server, "HubApp", FakeApp)
    monkeypatch.setattr(hub_server, "make_server", lambda *a, **k: FakeServer())
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    args = types.SimpleNamespace(
        log_level="warning", tls_cert=None, tls_key=None, client_ca=None, topdir="/nowhere",
        hub_conf=None, listen=("127.0.0.1", 0), threads=2, timeout=10, handshake_timeout=10,
        header_timeout=10, max_connections=10, files_listen=None)
    gc.unfreeze()
    try:
        assert hub_cli.cmd_serve(args) == 0
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert seen["frozen"] > 1000
