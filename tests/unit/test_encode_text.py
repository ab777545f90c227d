"""reuse.encode_text: the record's JSON text of a handed-over value written without encode's
intermediate dicts - the same text as json.dumps of the encoded value, for every kind of
value a unit hands over, and no encode call for a header of a class met before."""

import json
import math
import os
import random

import pytest

from phases.pkgset import PackageSet
from pungi_like import reuse
from pungi_like.rpmtools.depsolve import GatheredPackage, GatherResult, Repo
from pungi_like.rpmtools.headers import RpmHeader

pytestmark = pytest.mark.unit

TOP = "/srv/composes/T-1-20260101.n.0"
CID = "T-1-20260101.n.0"


def _plain(value, names):
    return json.dumps(reuse.encode(value, names), default=str, separators=(",", ":"))


def _string(rng, names):
    return rng.choice([
        "", "plain", "a/b", names.topdir + "/pool/x.rpm", "built " + names.compose_id,
        "caf\u00e9 \u2603", "tab\tquote\"back\\slash\nnl\x01", "{TOPDIR}", "lone \ud800",
        names.topdir, "x" * rng.randint(0, 40)])


def _value(rng, names, depth=0):
    kinds = ["str", "int", "bool", "none", "float"]
    if depth < 3:
        kinds += ["list", "dict", "tuple", "set", "header", "gathered", "result", "repo",
                  "pkgset", "mixedset", "frozenset", "subclass"]
    kind = rng.choice(kinds)
    if kind == "str":
        return _string(rng, names)
    if kind == "int":
        return rng.choice([0, -1, 7, 2 ** 70, -(2 ** 65)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "float":
        return rng.choice([0.5, -2.0, 1e300, math.inf, -math.inf, math.nan, 3.0])
    if kind == "list":
        return [_value(rng, names, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "tuple":
        return tuple(_value(rng, names, depth + 1) for _ in range(rng.randint(0, 3)))
    if kind == "dict":
        keys = [_string(rng, names), rng.randint(0, 9), ("a", names.topdir), None, True]
        return {rng.choice(keys): _value(rng, names, depth + 1) for _ in range(rng.randint(0, 4))}
    if kind in ("set", "frozenset"):
        items = {_string(rng, names) for _ in range(rng.randint(0, 4))}
        return items if kind == "set" else frozenset(items)
    if kind == "mixedset":
        return {1, "a", (2, "b")} if rng.random() < 0.5 else {3, 1, 2}
    if kind == "subclass":
        import collections
        return collections.OrderedDict([("k", _value(rng, names, depth + 1))])
    if kind == "header":
        return RpmHeader(path=_string(rng, names), name="p", epoch=rng.choice([0, 1, None]),
                         version="1", release=_string(rng, names), arch="x86_64",
                         sourcerpm="p-1-1.src.rpm", sigkey=rng.choice([None, "abcd1234"]),
                         excludearch=rng.choice([[], ["s390x", names.compose_id]]),
                         exclusivearch=[], buildtime=rng.choice([0, 1700000000, 1.5]))
    if kind == "gathered":
        return GatheredPackage("x", 0, "1", "1", "noarch", names.topdir + "/p/x.rpm",
                               "x.src.rpm", "pkgset",
                               rng.choice([set(), {"dep", "input"}, {"a/" + names.topdir}]))
    if kind == "result":
        return GatherResult(binary={"x-0:1-1.noarch": _value(rng, names, 3)},
                            missing=[_string(rng, names)], broken_deps=[("a", "b")])
    if kind == "repo":
        return Repo("r", names.topdir + "/pool/repo", rng.random() < 0.5)
    return PackageSet("x86_64", names.topdir + "/pool/x86_64/repo", "/p",
                      {"a.rpm": _value(rng, names, 3)})


def test_the_text_is_jsons_of_the_encoded_value():
    names = reuse.Names(TOP, CID)
    rng = random.Random(13)
    for _ in range(3000):
        value = _value(rng, names)
        assert reuse.encode_text(value, names) == _plain(value, names), repr(value)


def test_a_header_of_a_known_class_is_written_without_encode(monkeypatch):
    names = reuse.Names(TOP, CID)
    header = RpmHeader(path=os.path.join(TOP, "work", "p.rpm"), name="p", epoch=0, version="1",
                       release="1", arch="x86_64", sourcerpm="p-1-1.src.rpm",
                       excludearch=["s390x"], buildtime=3)
    expected = _plain(header, names)    # the class met once (encode registers its fields)
    calls = []
    real = reuse.encode
    monkeypatch.setattr(reuse, "encode", lambda *a: calls.append(a) or real(*a))
    assert reuse.encode_text(header, names) == expected
    assert calls == []
    shared = reuse.SharedTexts(names)
    assert shared.text(header) == expected and calls == []


def test_a_class_met_first_is_written_without_encode(monkeypatch):
    """A record child forked before the compose's process encoded a gather's result: its
    classes are met there first."""
    names = reuse.Names(TOP, CID)
    result = GatherResult(binary={"x-0:1-1.noarch": GatheredPackage(
        "x", 0, "1", "1", "noarch", TOP + "/p/x.rpm", "x.src.rpm", "pkgset", {"dep", "input"})},
        broken_deps=[("a", "b")])
    expected = _plain(result, names)
    monkeypatch.setattr(reuse, "_fields", {})
    monkeypatch.setattr(reuse, "_field_texts", reuse._FieldTexts())
    calls = []
    real = reuse.encode
    monkeypatch.setattr(reuse, "encode", lambda *a: calls.append(a) or real(*a))
    assert reuse.encode_text(result, names) == expected
    assert calls == []
    # a dataclass that is not recordable: encode's error
    import dataclasses

    @dataclasses.dataclass
    class Other:
        a: int = 1

    with pytest.raises(reuse.NotRecordable):
        reuse.encode_text(Other(), names)
    with pytest.raises(reuse.NotRecordable):
        real(Other(), names)
