"""pungi-like-hub serve has malloc serve its threads from one arena (hub's big answers)."""

from __future__ import annotations

import platform
import signal
import types

import pytest

from pungi_like.buildsvc.hub import server as hub_server
from pungi_like.cli import hub as hub_cli


def test_serve_sets_one_malloc_arena_before_its_threads_start(monkeypatch):
    order = []

    class FakeServer:
        bind_addr = ("127.0.0.1", 0)

        def prepare(self):  # (cheroot starts its worker threads here)
            order.append("prepare")

        def serve(self):
            pass

    class FakeApp:
        def __init__(self, config):
            order.append("app")
            self.db = types.SimpleNamespace(dispose=lambda: None)

    monkeypatch.setattr(hub_cli, "one_malloc_arena", lambda: order.append("arena"))
    monkeypatch.setattr(hub_server.HubConfig, "load",
                        classmethod(lambda cls, topdir: types.SimpleNamespace(topdir=topdir)))
    monkeypatch.setattr(hub_server, "HubApp", FakeApp)
    monkeypatch.setattr(hub_server, "make_server", lambda *a, **k: FakeServer())
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    args = types.SimpleNamespace(
        log_level="warning", tls_cert=None, tls_key=None, client_ca=None, topdir="/nowhere",
        hub_conf=None, listen=("127.0.0.1", 0), threads=2, timeout=10, handshake_timeout=10,
        header_timeout=10, max_connections=10, files_listen=None)
    try:
        assert hub_cli.cmd_serve(args) == 0
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert order == ["arena", "app", "prepare"]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's M_ARENA_MAX is glibc's")
def test_one_malloc_arena_is_set_on_glibc():
    assert hub_cli.one_malloc_arena() is True
