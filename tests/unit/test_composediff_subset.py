"""The compose diff compares only the packages under source RPMs whose entries differ: the
result equals the comparison of every package (a no-op re-run compares nothing)."""

import types

import pytest

from pungi_like import composediff

pytestmark = pytest.mark.unit


def _compose(tree):
    return types.SimpleNamespace(rpms=types.SimpleNamespace(rpms={"Server": {"x86_64": tree}}))


def _entry(path, category="binary"):
    return {"path": path, "sigkey": None, "category": category}


BASE = {
    "a-0:1-1.src": {"a-0:1-1.x86_64": _entry("a"), "a-libs-0:1-1.x86_64": _entry("al"),
                    "a-0:1-1.src": _entry("as", "source")},
    "b-0:2-1.src": {"b-0:2-1.noarch": _entry("b")},
    "c-0:3-1.src": {"c-tools-0:3-1.x86_64": _entry("c")},
}


def _variants():
    yield "same", BASE
    up = {k: v for k, v in BASE.items() if k != "a-0:1-1.src"}
    up["a-0:1-2.src"] = {"a-0:1-2.x86_64": _entry("a2"), "a-libs-0:1-2.x86_64": _entry("al2"),
                         "a-0:1-2.src": _entry("as2", "source")}
    yield "upgraded", up
    moved = dict(BASE)   # c-tools now built from b's source, c's source gone
    moved["b-0:2-1.src"] = dict(BASE["b-0:2-1.src"], **{"c-tools-0:3-2.x86_64": _entry("c2")})
    del moved["c-0:3-1.src"]
    yield "moved", moved
    added = dict(BASE, **{"d-0:1-1.src": {"d-0:1-1.x86_64": _entry("d")}})
    yield "added", added
    # an older b kept beside the unchanged newest one
    older = dict(BASE, **{"b-0:1-1.src": {"b-0:1-1.noarch": _entry("b1")}})
    yield "older kept", older


@pytest.mark.parametrize("name,tree", list(_variants()), ids=[n for n, _ in _variants()])
def test_subset_comparison_equals_the_full_one(name, tree):
    for old, new in ((_compose(BASE), _compose(tree)), (_compose(tree), _compose(BASE))):
        full = composediff._changes(composediff._package_map(old, "Server", "x86_64"),
                                    composediff._package_map(new, "Server", "x86_64"))
        assert composediff._changes(*composediff._package_maps(old, new, "Server",
                                                               "x86_64")) == full
        assert any(full.values()) == (name != "same")


def test_name_is_split_nevras_name():
    for nevra in ("a-libs-0:1-1.x86_64", "p0000-mod1-1.0.0-1.peer.noarch", "x-2:3-4.el9.src"):
        assert composediff._name(nevra) == composediff._split_nevra(nevra)[0]
