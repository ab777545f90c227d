"""A unit whose needed unit ran with other outputs than any old one starts without waiting
for that unit's record (pungi_like.reuse_differs); with the same outputs it waits and is
reused as before."""

import json
import os
import threading

import pytest

from pungi_like import reuse, reuse_differs
from pungi_like.reuse import ReusePool
from pungi_like.scheduler import Scheduler, Unit

from test_scheduler import FakeCompose

pytestmark = pytest.mark.unit


class _Rpms:
    def _add_checked(self, *args):
        pass


def _compose(tmp_path, name, index):
    compose = FakeCompose(tmp_path / name)
    compose.rpms = _Rpms()     # a replayed journal's target (these units note no RPM)
    compose.compose_id = f"T-1.0-20260101.t.{index}"
    os.makedirs(compose.topdir, exist_ok=True)
    return compose


def _run(compose, units, old=None):
    sched = Scheduler(units, compose, max_workers=2)
    if old is not None:
        sched.reuse_pool = ReusePool(compose, [(old.compose_id, old.topdir)])
    sched.run()
    return sched, {e["unit"]: e for e in sched.timeline}


def _records(compose):
    return {name[:-5]: json.load(open(os.path.join(compose.paths.units_dir(), name)))
            for name in os.listdir(compose.paths.units_dir())}


@pytest.mark.parametrize("link", ["needs", "after"])
def test_a_unit_runs_at_once_when_what_it_needs_or_follows_changed(tmp_path, monkeypatch, link):
    """``after``: the checksums after a DVD made again."""
    first = _compose(tmp_path, "c0", 0)
    _run(first, [Unit("a.x", lambda u: {"digest": "one"}, inputs={"v": 1}),
                 Unit("b.x", lambda u: {"n": 1}, **{link: ["a.x"]})])

    ran = threading.Event()
    seen = []
    build_record = reuse.build_record

    def slow(compose, unit, *args, **kwargs):
        if unit.name == "a.x" and compose.topdir.endswith("c1"):
            seen.append(ran.wait(30))   # True only if b.x ran while a.x's record was built
        return build_record(compose, unit, *args, **kwargs)

    monkeypatch.setattr(reuse, "build_record", slow)
    second = _compose(tmp_path, "c1", 1)
    _sched, timeline = _run(second, [
        Unit("a.x", lambda u: {"digest": "two"}, inputs={"v": 2}),
        Unit("b.x", lambda u: ran.set() or {"n": 1}, **{link: ["a.x"]})], old=first)
    assert seen == [True]
    assert not timeline["b.x"].get("reused")
    records = _records(second)
    assert records["a.x"]["output_hash"] != _records(first)["a.x"]["output_hash"]
    if link == "needs":
        # its key, made with its record, holds a.x's new output hash
        assert records["b.x"]["needs"] == {"a.x": records["a.x"]["output_hash"]}


@pytest.mark.parametrize("link", ["needs", "after"])
def test_a_unit_whose_need_or_followed_unit_gave_the_same_outputs_is_still_reused(tmp_path,
                                                                                  link):
    first = _compose(tmp_path, "c0", 0)
    _run(first, [Unit("a.x", lambda u: {"digest": "one"}, inputs={"v": 1}),
                 Unit("b.x", lambda u: {"n": 1}, **{link: ["a.x"]})])
    ran = []
    second = _compose(tmp_path, "c1", 1)
    _sched, timeline = _run(second, [
        # other inputs, the same outputs: a.x runs, its output hash is the old one
        Unit("a.x", lambda u: {"digest": "one"}, inputs={"v": 2}),
        Unit("b.x", lambda u: ran.append(u.name) or {"n": 1}, **{link: ["a.x"]})], old=first)
    assert not timeline["a.x"].get("reused")
    assert timeline["b.x"].get("reused")
    assert ran == []


class _Old:
    def __init__(self, name, record, topdir="/old/T-1.0-20260101.t.0",
                 compose_id="T-1.0-20260101.t.0"):
        self.record = dict(record, unit=name)
        self.names = reuse.Names(topdir, compose_id)


class _Pool:
    def __init__(self, units):
        self.units = units

    def _units(self, name):
        return iter(self.units.get(name, []))


NAMES = reuse.Names("/new/T-1.0-20260101.t.1", "T-1.0-20260101.t.1")


@pytest.mark.parametrize("olds, ran, expected", [
    # the old b.x needed a.x with hash h1, whose outputs differ from this run's: no match
    ({"b.x": [{"needs": {"a.x": "h1"}}], "a.x": [{"output_hash": "h1", "outputs": {"d": 1}}]},
     {"a.x": {"d": 2}}, True),
    # the same outputs: the key may match, wait for it
    ({"b.x": [{"needs": {"a.x": "h1"}}], "a.x": [{"output_hash": "h1", "outputs": {"d": 1}}]},
     {"a.x": {"d": 1}}, False),
    # the compose's directory and id are normalised on both sides
    ({"b.x": [{"needs": {"a.x": "h1"}}],
      "a.x": [{"output_hash": "h1", "outputs": {"tree": "/old/T-1.0-20260101.t.0/x"}}]},
     {"a.x": {"tree": "/new/T-1.0-20260101.t.1/x"}}, False),
    # no old record of a.x with that hash: nothing is known, wait
    ({"b.x": [{"needs": {"a.x": "h1"}}], "a.x": [{"output_hash": "h2", "outputs": {"d": 1}}]},
     {"a.x": {"d": 2}}, False),
    # one of two old b.x may match: wait
    ({"b.x": [{"needs": {"a.x": "h1"}}, {"needs": {"a.x": "h2"}}],
      "a.x": [{"output_hash": "h1", "outputs": {"d": 1}},
              {"output_hash": "h2", "outputs": {"d": 2}}]},
     {"a.x": {"d": 2}}, False),
    # an old b.x that did not need a.x had another key
    ({"b.x": [{"needs": {}}]}, {"a.x": {"d": 2}}, True),
    # an old record without its needs: wait
    ({"b.x": [{}]}, {"a.x": {"d": 2}}, False),
    # nothing ran that is still being recorded, or no old b.x at all
    ({"b.x": [{"needs": {"a.x": "h1"}}]}, {}, False),
    ({}, {"a.x": {"d": 2}}, False),
])
def test_cannot_match(olds, ran, expected):
    pool = _Pool({name: [_Old(name, r) for r in records] for name, records in olds.items()})
    assert reuse_differs.cannot_match(pool, "b.x", ran, NAMES) is expected


def test_a_compose_directory_with_json_characters_is_never_judged():
    pool = _Pool({"b.x": [_Old("b.x", {"needs": {}})]})
    names = reuse.Names("/new/a,b/T-1.0-20260101.t.1", "T-1.0-20260101.t.1")
    assert reuse_differs.cannot_match(pool, "b.x", {"a.x": {"d": 2}}, names) is False


def _at(name, record, index):
    old = _Old(name, record, topdir=f"/old/T-1.0-20260101.t.{index}",
               compose_id=f"T-1.0-20260101.t.{index}")
    old.topdir, old.compose_id = f"/old/T-1.0-20260101.t.{index}", f"T-1.0-20260101.t.{index}"
    return old


@pytest.mark.parametrize("olds, follows, expected", [
    # the followed unit's record in the old b.x's own compose gave other outputs: no match
    ({"b.x": [(0, {"needs": {}})], "a.x": [(0, {"output_hash": "h1", "outputs": {"d": 1}})]},
     {"a.x": {"d": 2}}, True),
    # the same outputs: wait
    ({"b.x": [(0, {"needs": {}})], "a.x": [(0, {"output_hash": "h1", "outputs": {"d": 1}})]},
     {"a.x": {"d": 1}}, False),
    # a record of a.x in another compose only says nothing of the old b.x's key: wait
    ({"b.x": [(0, {"needs": {}})], "a.x": [(1, {"output_hash": "h1", "outputs": {"d": 1}})]},
     {"a.x": {"d": 2}}, False),
    # two old b.x, the second's compose had this run's outputs: wait
    ({"b.x": [(0, {"needs": {}}), (1, {"needs": {}})],
      "a.x": [(0, {"output_hash": "h1", "outputs": {"d": 1}}),
              (1, {"output_hash": "h2", "outputs": {"d": 2}})]},
     {"a.x": {"d": 2}}, False),
    # a record without its needs is judged by what it followed
    ({"b.x": [(0, {})], "a.x": [(0, {"output_hash": "h1", "outputs": {"d": 1}})]},
     {"a.x": {"d": 2}}, True),
])
def test_cannot_match_by_followed_units(olds, follows, expected):
    pool = _Pool({name: [_at(name, r, i) for i, r in records]
                  for name, records in olds.items()})
    assert reuse_differs.cannot_match(pool, "b.x", {}, NAMES, follows=follows) is expected
