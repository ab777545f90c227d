"""lazy_module: the module is imported at the first attribute read through the stand-in, and
the name then names the module itself in the namespace that bound it."""

import sys
import threading

import pytest

from pungi_like.lazyimport import lazy_module

pytestmark = pytest.mark.unit


def test_first_use_imports_and_rebinds(monkeypatch):
    monkeypatch.delitem(sys.modules, "json.tool", raising=False)
    namespace = {}
    namespace["tool"] = stand_in = lazy_module("json.tool", namespace, "tool")
    assert "json.tool" not in sys.modules
    assert callable(namespace["tool"].main)
    assert namespace["tool"] is sys.modules["json.tool"] and namespace["tool"] is not stand_in
    assert stand_in.main is sys.modules["json.tool"].main


def test_submodules_come_with_it_and_threads_agree():
    namespace = {}
    namespace["xml"] = lazy_module("xml", namespace, "xml", submodules=("dom.minidom",))
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(namespace["xml"].dom.minidom))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(m is sys.modules["xml.dom.minidom"] for m in seen)
    assert namespace["xml"] is sys.modules["xml"]
