"""A package set's headers handed over by two units (pkgset.global, pkgset.<arch>): their
records hold the same text as json.dumps of the encoded value, each header encoded once."""

import json
import os
import types

import pytest

from phases.pkgset import PackageSet
from pungi_like import reuse
from pungi_like.rpmtools.depsolve import GatheredPackage, GatherResult
from pungi_like.rpmtools.headers import RpmHeader

pytestmark = pytest.mark.unit


def _plain(value, names):
    return json.dumps(reuse.encode(value, names), default=str, separators=(",", ":"))


def _headers(top, count=5):
    download = os.path.join(top, "work", "global", "download")
    headers = {}
    for i in range(count):
        name = f"p{i}-1-1.{'src' if i % 4 == 0 else 'x86_64'}.rpm"
        headers[name] = RpmHeader(path=os.path.join(download, name), name=f"p{i}", epoch=i % 2,
                                  version="1", release="1\u00e9" if i == 3 else "1",
                                  arch="src" if i % 4 == 0 else "x86_64",
                                  sourcerpm="" if i % 4 == 0 else f"p{i}-1-1.src.rpm",
                                  sigkey=None if i % 3 else "abcd1234",
                                  excludearch=["s390x"] if i == 0 else [],
                                  buildtime=1700000000 + i)
    return headers


@pytest.fixture
def names(tmp_path):
    return reuse.Names(str(tmp_path / "T-1-20260101.n.0"), "T-1-20260101.n.0")


def test_the_text_is_jsons_of_the_encoded_value(names):
    headers = _headers(names.topdir)
    shared = reuse.SharedTexts(names)
    pkgset = PackageSet("x86_64", os.path.join(names.topdir, "work", "x86_64", "repo"),
                        os.path.join(names.topdir, "work", "global", "download"),
                        dict(list(headers.items())[1:]))
    for value in (headers, pkgset, {}, [], list(headers.values()), {"a": 1, "b": [headers["p1-1-1.x86_64.rpm"]]},
                  PackageSet("x86_64", "/r", "/p"), {("pkgset", "x86_64"): pkgset},
                  GatherResult(binary={"x-0:1-1.noarch": GatheredPackage(
                      "x", 0, "1", "1", "noarch", "/p/x.rpm", "x.src.rpm", "pkgset", {"dep"})}),
                  "a " + names.topdir, None, 3):
        assert reuse.put_json_text(value, names, shared) == _plain(value, names)
        assert reuse.put_json_text(value, names) == _plain(value, names)
    back = reuse.decode(json.loads(reuse.put_json_text(pkgset, names, shared)), names)
    assert back == pkgset


def test_two_units_handing_the_same_headers_over_encode_each_once(names, monkeypatch):
    """The records of pkgset.global (the headers) and pkgset.x86_64 (a PackageSet of the same
    header objects) built with one SharedTexts: each header encoded once, the same journal
    texts as without it."""
    headers = _headers(names.topdir, 8)
    pkgset = PackageSet("x86_64", os.path.join(names.topdir, "work", "x86_64", "repo"),
                        os.path.join(names.topdir, "work", "global", "download"), dict(headers))
    os.makedirs(names.topdir)
    compose = types.SimpleNamespace(topdir=names.topdir, compose_id=names.compose_id)

    def record(name, value, shared):
        capture = reuse.Capture(names.topdir)
        capture.journal.append(("put", ("pkgset", name), value))
        unit = types.SimpleNamespace(name=f"pkgset.{name}", variant=None, arch=None)
        return reuse.build_record(compose, unit, capture, {}, {}, shared=shared)["journal"]

    encoded = []
    encode_text = reuse.encode_text

    def counting(value, names_):
        if type(value) is RpmHeader:
            encoded.append(value.name)
        return encode_text(value, names_)

    plain = [record("global", headers, None), record("x86_64", pkgset, None)]
    monkeypatch.setattr(reuse, "encode_text", counting)   # a header's text made (encode_text)
    shared = reuse.SharedTexts(names)
    assert [record("global", headers, shared), record("x86_64", pkgset, shared)] == plain
    assert sorted(encoded) == sorted(h.name for h in headers.values())
    assert len(shared) == len(headers)
    # the record of a unit of another phase (a gather's, after the package set's): the texts
    # are let go
    capture = reuse.Capture(names.topdir)
    unit = types.SimpleNamespace(name="gather.Server.x86_64", variant=None, arch="x86_64")
    reuse.build_record(compose, unit, capture, {}, {}, shared=shared)
    assert len(shared) == 0
