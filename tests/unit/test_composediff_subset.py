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


def test_a_compose_diffed_from_memory_equals_one_read_back(tmp_path):
    """The driver diffs the compose it made from what its rpms.json was written from
    (RpmsRecorder.payload, compose_in_memory): payload equals the file's payload.rpms, and the
    diff equals the one of the manifests read back."""
    import json

    from pungi_like import metadata

    rows = {"old": [("a-1-1.src", "a-1-1.x86_64", "Server/a-1.rpm", "ABCD", "binary"),
                    ("b-1-1.src", "b-1-1.noarch", "Server/b.rpm", None, "binary")],
            "new": [("a-1-2.src", "a-1-2.x86_64", "Server/a-2.rpm", "ABCD", "binary"),
                    ("b-1-1.src", "b-1-1.noarch", "Server/b.rpm", None, "binary"),
                    ("c-1-1.src", "c-1-1.x86_64", "Server/c.rpm", None, "binary"),
                    ("c-1-1.src", None, "Server/c.src.rpm", None, "source")]}
    tops, recorders = {}, {}
    for n, (name, entries) in enumerate(sorted(rows.items())):
        cid = f"T-1-20260101.n.{n}"
        tops[name] = tmp_path / cid
        recorders[name] = rec = metadata.RpmsRecorder()
        rec.add_many("Server", "x86_64", entries)
        path = tops[name] / "compose" / "metadata" / "rpms.json"
        path.parent.mkdir(parents=True)
        rec.write(str(path), metadata.ComposeInfo(id=cid, type="nightly", date="20260101",
                                                  respin=n))
        with open(path) as fh:
            assert json.load(fh)["payload"]["rpms"] == rec.payload()
    in_memory = composediff.compose_in_memory(str(tops["old"]), "T-1-20260101.n.1",
                                              recorders["old"].payload())
    read_back = composediff.diff_composes(str(tops["new"]), str(tops["old"]))
    assert composediff.diff_composes(str(tops["new"]), in_memory) == read_back
    assert read_back["packages"]["Server"]["x86_64"]["removed"] == [
        {"nevra": "c-0:1-1.src", "category": "source"},
        {"nevra": "c-0:1-1.x86_64", "category": "binary"}]
