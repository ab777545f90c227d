"""The scheduler: dependency order, overlap, failure model, timeline and unit records."""

import json
import logging
import os
import threading
import time

import pytest

from pungi_like.errors import PhaseError
from pungi_like.paths import Paths
from pungi_like.scheduler import Scheduler, SchedulerError, Unit, inputs_hash

pytestmark = pytest.mark.unit


class FakeCompose:
    """Just the recorder surface the scheduler uses."""

    def __init__(self, topdir, failable=()):
        self.topdir = str(topdir)
        self.paths = Paths(topdir)
        self.compose_id = "T-1.0-20260101.t.0"
        self.log = logging.getLogger("test.scheduler")
        self.failable = set(failable)
        self.failed = []
        self.attempted = []
        self.messages = []

    def notify(self, message, **extra):
        self.messages.append((message, extra))

    def attempt_deliverable(self, *d):
        self.attempted.append(d)

    def is_failable(self, *d):
        return d in self.failable

    def fail_deliverable(self, *d, error=None, tb=None):
        self.failed.append((d, str(error)))

    def write_traceback(self, detail, text):
        pass


def record_run(order, lock, delay=0.0, fail=None):
    def run(unit):
        with lock:
            order.append(("start", unit.name, time.monotonic()))
        time.sleep(delay)
        if fail:
            raise RuntimeError(fail)
        with lock:
            order.append(("end", unit.name, time.monotonic()))
        return {"name": unit.name}
    return run


def test_needs_are_respected_and_independent_chains_overlap(tmp_path):
    order, lock = [], threading.Lock()
    units = [
        Unit("gather.A.x86_64", record_run(order, lock, 0.3)),
        Unit("gather.B.x86_64", record_run(order, lock, 0.3)),
        Unit("createrepo.A.x86_64", record_run(order, lock, 0.1), needs=["gather.A.x86_64"]),
        Unit("createrepo.B.x86_64", record_run(order, lock, 0.1), needs=["gather.B.x86_64"]),
        Unit("test.all", record_run(order, lock), needs=["createrepo.*"]),
    ]
    compose = FakeCompose(tmp_path)
    timeline = Scheduler(units, compose, max_workers=2).run()
    times = {(kind, name): t for kind, name, t in order}
    assert times[("start", "createrepo.A.x86_64")] >= times[("end", "gather.A.x86_64")]
    assert times[("start", "test.all")] >= max(times[("end", "createrepo.A.x86_64")],
                                               times[("end", "createrepo.B.x86_64")])
    # the two gathers ran at the same time: the pool is not phase-serial
    assert times[("start", "gather.B.x86_64")] < times[("end", "gather.A.x86_64")]
    assert {e["result"] for e in timeline} == {"ok"}
    saved = json.loads(open(compose.paths.timeline_file()).read())
    assert [e["unit"] for e in saved["units"]][0].startswith("gather.")
    assert len(saved["units"]) == 5
    phases = [m for m, extra in compose.messages]
    assert phases.count("phase-start") == 3 and phases.count("phase-stop") == 3


def test_pool_is_bounded(tmp_path):
    running, peak, lock = [0], [0], threading.Lock()

    def run(unit):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    units = [Unit(f"gather.V{i}.x86_64", run) for i in range(8)]
    Scheduler(units, FakeCompose(tmp_path), max_workers=3).run()
    assert peak[0] == 3


def test_failable_failure_skips_dependents_and_goes_on(tmp_path):
    order, lock = [], threading.Lock()
    d = ("iso", "Server", "x86_64", None)
    units = [
        Unit("buildinstall.Server.x86_64", record_run(order, lock, fail="lorax broke"),
             deliverable=("buildinstall", "Server", "x86_64", None)),
        Unit("createiso.Server.x86_64", record_run(order, lock),
             needs=["buildinstall.Server.x86_64"], deliverable=d),
        Unit("gather.Server.x86_64", record_run(order, lock)),
    ]
    compose = FakeCompose(tmp_path, failable={("buildinstall", "Server", "x86_64", None)})
    timeline = Scheduler(units, compose, max_workers=2).run()
    results = {e["unit"]: e["result"] for e in timeline}
    assert results == {"buildinstall.Server.x86_64": "failed-failable",
                       "createiso.Server.x86_64": "skipped",
                       "gather.Server.x86_64": "ok"}
    assert compose.failed == [(("buildinstall", "Server", "x86_64", None), "lorax broke")]


def test_fatal_failure_stops_new_units(tmp_path):
    order, lock = [], threading.Lock()
    units = [
        Unit("gather.A.x86_64", record_run(order, lock, fail="no such package: foo")),
        Unit("createrepo.A.x86_64", record_run(order, lock), needs=["gather.A.x86_64"]),
        Unit("gather.B.x86_64", record_run(order, lock, 0.2)),
    ]
    compose = FakeCompose(tmp_path)
    with pytest.raises(SchedulerError, match="gather.A.x86_64 failed.*no such package: foo"):
        Scheduler(units, compose, max_workers=2).run()
    started = {name for kind, name, _ in order if kind == "start"}
    assert "createrepo.A.x86_64" not in started
    # the unit already running was allowed to finish
    assert ("end", "gather.B.x86_64") in {(k, n) for k, n, _ in order}


def test_cycles_and_unknown_needs_are_reported(tmp_path):
    noop = lambda unit: None  # noqa: E731
    with pytest.raises(PhaseError, match="cycle"):
        Scheduler([Unit("a.1", noop, needs=["b.1"]), Unit("b.1", noop, needs=["a.1"])],
                  FakeCompose(tmp_path), 1)
    with pytest.raises(PhaseError, match="needs a.2, which no phase provides"):
        Scheduler([Unit("a.1", noop), Unit("b.1", noop, needs=["a.2"])], FakeCompose(tmp_path), 1)
    # a need on a skipped phase is satisfied
    Scheduler([Unit("b.1", noop, needs=["buildinstall.Server.x86_64"])], FakeCompose(tmp_path), 1,
              skipped_phases={"buildinstall"}).run()


def test_unit_records_hash_of_inputs_with_outputs(tmp_path):
    compose = FakeCompose(tmp_path)
    inputs = {"packages": ["a", "b"], "arch": "x86_64"}
    Scheduler([Unit("gather.A.x86_64", lambda u: {"count": 2}, inputs=inputs)], compose, 1).run()
    record = json.load(open(os.path.join(compose.paths.units_dir(), "gather.A.x86_64.json")))
    assert record["inputs_hash"] == inputs_hash(
        {"inputs": {"arch": "x86_64", "packages": ["a", "b"]}, "needs": {}, "after": {},
         "content": {}})
    assert record["outputs"] == {"count": 2}
    assert record["inputs"] == inputs


def test_a_change_upstream_changes_the_hash_downstream(tmp_path):
    def hashes(gather_inputs):
        compose = FakeCompose(tmp_path / str(gather_inputs))
        Scheduler([Unit("gather.A.x86_64", lambda u: {"pkgs": gather_inputs},
                        inputs={"pkgs": gather_inputs}),
                   Unit("createrepo.A.x86_64", lambda u: {}, needs=["gather.A.x86_64"],
                        inputs={"checksum": "sha256"})], compose, 1).run()
        path = os.path.join(compose.paths.units_dir(), "createrepo.A.x86_64.json")
        return json.load(open(path))["inputs_hash"]

    assert hashes(["a"]) == hashes(["a"])
    assert hashes(["a"]) != hashes(["a", "b"])


def test_after_orders_without_requiring_success(tmp_path):
    order, lock = [], threading.Lock()
    units = [
        Unit("createiso.S.x86_64", record_run(order, lock, fail="xorriso broke"),
             deliverable=("iso", "S", "x86_64", None)),
        Unit("metadata.write", record_run(order, lock), after=["createiso.*"]),
    ]
    compose = FakeCompose(tmp_path, failable={("iso", "S", "x86_64", None)})
    timeline = Scheduler(units, compose, max_workers=2).run()
    results = {e["unit"]: e["result"] for e in timeline}
    assert results == {"createiso.S.x86_64": "failed-failable", "metadata.write": "ok"}
    starts = [n for kind, n, _ in order if kind == "start"]
    assert starts == ["createiso.S.x86_64", "metadata.write"]


def test_ready_units_start_by_the_longest_remaining_chain(tmp_path):
    """One worker, three ready units: the binary tree's createrepo (an ISO and a repoclosure
    follow it) goes before the source tree's and before a lone unit, whatever their names."""
    order, lock = [], threading.Lock()
    units = [
        Unit("createrepo.A.src", record_run(order, lock), arch="src"),
        Unit("createiso.A.src", record_run(order, lock), arch="src",
             needs=["createrepo.A.src"]),
        Unit("createrepo.A.x86_64", record_run(order, lock), arch="x86_64"),
        Unit("createiso.A.x86_64", record_run(order, lock), arch="x86_64",
             needs=["createrepo.A.x86_64"]),
        Unit("test.repoclosure.A.x86_64", record_run(order, lock), arch="x86_64",
             needs=["createrepo.A.x86_64"]),
        Unit("extra_files.A.x86_64", record_run(order, lock), arch="x86_64"),
    ]
    scheduler = Scheduler(units, FakeCompose(tmp_path), max_workers=1)
    assert scheduler.rank["createrepo.A.x86_64"][0] > scheduler.rank["createrepo.A.src"][0]
    scheduler.run()
    starts = [n for kind, n, _ in order if kind == "start"]
    assert starts[:2] == ["createrepo.A.x86_64", "createiso.A.x86_64"]
    assert starts.index("createrepo.A.src") < starts.index("extra_files.A.x86_64")
    assert sorted(starts) == sorted(u.name for u in units)


def test_records_are_on_disk_when_run_returns(tmp_path):
    """Records are written by the writer thread; run() returns after the last one, and the
    timeline file holds every unit."""
    compose = FakeCompose(tmp_path)
    units = [Unit(f"gather.V{i}.x86_64", lambda u: {"n": 1}, inputs={"i": i}) for i in range(6)]
    units.append(Unit("createrepo.V0.x86_64", lambda u: {}, needs=["gather.*"]))
    Scheduler(units, compose, max_workers=2).run()
    names = sorted(os.listdir(compose.paths.units_dir()))
    assert names == sorted(u.name + ".json" for u in units)
    saved = json.load(open(compose.paths.timeline_file()))
    assert sorted(e["unit"] for e in saved["units"]) == sorted(u.name for u in units)


def test_a_record_that_cannot_be_written_fails_the_run(tmp_path, monkeypatch):
    compose = FakeCompose(tmp_path)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    scheduler = Scheduler([Unit("gather.A.x86_64", lambda u: {})], compose, 1)
    monkeypatch.setattr(scheduler, "_write_record", broken)
    with pytest.raises(OSError, match="disk full"):
        scheduler.run()


def test_light_units_run_beside_a_full_pool(tmp_path):
    """Two workers busy with gathers: a source tree's createrepo (light) starts at once,
    while a third gather (heavy) waits for a worker."""
    order, lock = [], threading.Lock()
    units = [Unit(f"gather.V{i}.x86_64", record_run(order, lock, 0.3), arch="x86_64")
             for i in range(3)]
    units.append(Unit("createrepo.V0.src", record_run(order, lock), arch="src"))
    Scheduler(units, FakeCompose(tmp_path), max_workers=2).run()
    times = {(kind, name): t for kind, name, t in order}
    first_end = min(times[("end", f"gather.V{i}.x86_64")] for i in range(3))
    assert times[("start", "createrepo.V0.src")] < first_end
    assert times[("start", "gather.V2.x86_64")] >= first_end


def test_compact_json_is_json_dumps_in_pieces():
    from pungi_like.scheduler import compact_json

    value = {"files": {f"Packages/{i}.rpm": {"sha256": "0" * 64, "size": i, "stat": [i, 1.5]}
                       for i in range(50)},
             "journal": [["put", ["pkgset", "x"], {"a": [1, None, True]}], ("rpm", ())],
             "odd": {1: "int key", "set": {3}}, "é": "ü", "empty": [{}, []]}
    for chunk in (1, 2, 500):
        assert compact_json(value, chunk) == json.dumps(value, default=str, separators=(",", ":"))
    for other in ({}, [], {"a": {}}, {"a": []}, [1, 2, 3]):
        assert compact_json(other, 1) == json.dumps(other, separators=(",", ":"))


def test_every_source_tree_unit_is_light():
    from pungi_like.scheduler import LIGHT_WEIGHT, unit_weight

    for phase in ("createrepo", "createiso", "extra_isos"):
        assert unit_weight(Unit(f"{phase}.Server.src", None, arch="src")) <= LIGHT_WEIGHT
    assert unit_weight(Unit("gather.Server.x86_64", None, arch="x86_64")) > LIGHT_WEIGHT


class _Old:
    def __init__(self, name):
        self.record = {"reusable": True, "output_hash": "old-" + name}
        self.compose_id = "T-1.0-20251231.t.0"
        self.source = "old"


class _ChainPool:
    """A reuse pool where every unit is taken: ``place`` of the first unit of the chain waits
    until the second unit's files were checked (as the scheduler may check them while the
    first still links)."""

    disabled_phases = ()

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        self.second_checked = threading.Event()

    def candidates(self, name, phase, key):
        return iter([_Old(name)])

    def check(self, unit, old):
        with self.lock:
            self.events.append(("check", unit.name))
        if unit.name == "b.x":
            self.second_checked.set()
        return unit.name

    def place(self, plan):
        if plan == "a.x":
            # no timing: the test fails only if the scheduler never checks b.x before a.x ended
            self.second_checked.wait(10)
        with self.lock:
            self.events.append(("place", plan))

    def finish(self, plan):
        with self.lock:
            self.events.append(("finish", plan))
        return {"taken": plan}, {}


def test_a_reused_units_dependents_are_taken_while_it_still_links(tmp_path):
    ran = []
    units = [Unit("a.x", lambda u: ran.append(u.name)),
             Unit("b.x", lambda u: ran.append(u.name), needs=["a.x"]),
             Unit("c.x", lambda u: ran.append(u.name), needs=["b.x"])]
    sched = Scheduler(units, FakeCompose(tmp_path), 2)
    sched.reuse_pool = pool = _ChainPool()
    sched.run()
    assert ran == []
    events = pool.events
    # b.x was checked before a.x had placed its files ...
    assert events.index(("check", "b.x")) < events.index(("place", "a.x"))
    # ... but its journal replayed only after a.x's (replays may change each other's entries)
    for first, then in (("a.x", "b.x"), ("b.x", "c.x")):
        assert events.index(("finish", first)) < events.index(("finish", then))
    assert {e["unit"]: e.get("reused") for e in sched.timeline} == {
        "a.x": True, "b.x": True, "c.x": True}
    assert sched.output_hashes == {"a.x": "old-a.x", "b.x": "old-b.x", "c.x": "old-c.x"}


def test_an_early_unit_that_is_not_reused_runs_after_its_needs_ended(tmp_path):
    events, lock = [], threading.Lock()
    asked = threading.Event()

    class Pool(_ChainPool):
        def candidates(self, name, phase, key):
            if name == "b.x":
                asked.set()
                return iter([])
            return iter([_Old(name)])

        def place(self, plan):
            asked.wait(10)   # b.x looks for an old unit while a.x still links
            with lock:
                events.append(("place", plan))

        def finish(self, plan):
            with lock:
                events.append(("finish", plan))
            return {"taken": plan}, {}

    def run(unit):
        with lock:
            events.append(("run", unit.name))
        return {}

    units = [Unit("a.x", run), Unit("b.x", run, needs=["a.x"])]
    sched = Scheduler(units, FakeCompose(tmp_path), 2)
    sched.reuse_pool = Pool()
    sched.run()
    assert asked.is_set()
    assert events == [("place", "a.x"), ("finish", "a.x"), ("run", "b.x")]
    # b.x's key holds a.x's old output hash, the one the finished a.x has
    assert sched.output_hashes["a.x"] == "old-a.x"
    assert {e["unit"]: e["result"] for e in sched.timeline} == {"a.x": "ok", "b.x": "ok"}


def test_an_early_unit_does_not_wait_for_a_skipped_unit_it_follows(tmp_path):
    """c.x follows b.x (after), which is skipped because a failable a.x failed; c.x also needs
    d.x, taken from an old compose: c.x starts early, is not reused and must not wait for
    b.x, which never runs."""
    events, lock = [], threading.Lock()
    asked = threading.Event()

    class Pool(_ChainPool):
        def candidates(self, name, phase, key):
            if name == "c.x":
                asked.set()
            return iter([_Old(name)] if name == "d.x" else [])

        def place(self, plan):
            asked.wait(10)

        def finish(self, plan):
            return {}, {}

    def fail(unit):
        raise RuntimeError("boom")

    def run(unit):
        with lock:
            events.append(unit.name)
        return {}

    units = [Unit("a.x", fail, deliverable=("iso", "V", "x", None)),
             Unit("b.x", run, needs=["a.x"]),
             Unit("d.x", run),
             Unit("c.x", run, needs=["d.x"], after=["b.x"])]
    compose = FakeCompose(tmp_path, failable=[("iso", "V", "x", None)])
    sched = Scheduler(units, compose, 2)
    sched.reuse_pool = Pool()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (sched.run(), done.set()), daemon=True)
    worker.start()
    assert done.wait(60), "the scheduler hung"
    assert events == ["c.x"]
    assert {e["unit"]: e["result"] for e in sched.timeline} == {
        "a.x": "failed-failable", "b.x": "skipped", "d.x": "ok", "c.x": "ok"}


def test_json_digest_is_the_digest_of_the_whole_text(monkeypatch):
    from pungi_like import reuse, scheduler

    monkeypatch.setattr(scheduler, "_BIG", 40)    # pieces of a few characters
    top = "/srv/composes/T-1.0-20260101.n.0"
    names = reuse.Names(top, "T-1.0-20260101.n.0")
    long_text = json.dumps({"__dict__": [[f"{top}/work/p{i}.rpm", {"a": [i, "é", '"q"']}]
                                         for i in range(30)]})
    journal = [["epoch", 1, "x"]] + [["rpm", ["V", "x86_64", f"p{i}", f"{top}/p{i}"]]
                                     for i in range(1200)]
    journal.insert(600, ["put_json", {"__tuple__": ["pkgset", "global"]}, long_text])
    value = {"key": None, "outputs": {"path": top + "/x", "n": 3},
             "files": {f"compose/p{i}": "0" * 64 for i in range(50)}, "journal": journal,
             "plain": long_text + ",," + top}
    whole = reuse.digest_text(names.norm(json.dumps(value, sort_keys=True, default=str)))
    assert scheduler.json_digest(value, names) == whole
    for odd in ("/srv/a,b/T-1", "/srv/[x]/T-1", "/srv/a: b/T-1"):   # in one piece
        other = reuse.Names(odd, "T-1")
        assert scheduler.json_digest(value, other) == reuse.digest_text(
            other.norm(json.dumps(value, sort_keys=True, default=str)))


def test_a_unit_without_an_old_record_starts_before_the_records_it_needs(tmp_path, monkeypatch):
    """b.x needs a.x and no old compose has a record of it: it runs while a.x's record is
    still being built, and its key, made with its own record, holds a.x's output hash."""
    from pungi_like import reuse

    ran = threading.Event()
    seen = []
    build_record = reuse.build_record

    def slow(compose, unit, *args, **kwargs):
        if unit.name == "a.x":
            seen.append(ran.wait(30))   # True only if b.x ran meanwhile
        return build_record(compose, unit, *args, **kwargs)

    monkeypatch.setattr(reuse, "build_record", slow)
    units = [Unit("a.x", lambda u: {"n": 1}), Unit("b.x", lambda u: ran.set(), needs=["a.x"])]
    compose = FakeCompose(tmp_path)
    Scheduler(units, compose, max_workers=2).run()
    assert seen == [True]
    records = {name: json.load(open(os.path.join(compose.paths.units_dir(), name + ".json")))
               for name in ("a.x", "b.x")}
    assert records["b.x"]["needs"] == {"a.x": records["a.x"]["output_hash"]}
    assert records["a.x"]["output_hash"]


def test_full_collections_are_rarer_while_units_run(tmp_path, monkeypatch):
    import gc

    from pungi_like.scheduler import GC_FULL_AFTER

    monkeypatch.setenv("PUNGI_LIKE_GC_UNITS", "1")
    before = gc.get_threshold()
    seen = []
    Scheduler([Unit("a.x", lambda u: seen.append((gc.get_threshold(), gc.isenabled())))],
              FakeCompose(tmp_path), 1).run()
    assert seen == [((before[0], before[1], max(before[2], GC_FULL_AFTER)), gc.isenabled())]
    assert gc.get_threshold() == before


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cyclic_gc_is_paused_while_units_run_and_given_back(tmp_path, monkeypatch, enabled):
    """The units' data lives to the compose's end: no collection walks it while they run
    (PUNGI_LIKE_GC_UNITS=1: as before); a GC the caller had paused stays paused."""
    import gc

    monkeypatch.delenv("PUNGI_LIKE_GC_UNITS", raising=False)
    was = gc.isenabled()
    seen = []
    frozen = gc.get_freeze_count()
    try:
        if not enabled:
            gc.disable()
        Scheduler([Unit("a.x", lambda u: seen.append(gc.isenabled())),
                   Unit("b.x", lambda u: seen.append(gc.isenabled()), needs=["a.x"])],
                  FakeCompose(tmp_path), 2).run()
        assert seen == [False, False]
        assert gc.isenabled() is enabled
        # what the units made is frozen rather than walked once the GC is back
        assert (gc.get_freeze_count() > frozen) is enabled
        # a failing unit gives it back too
        with pytest.raises(SchedulerError):
            Scheduler([Unit("c.x", lambda u: 1 / 0)], FakeCompose(tmp_path / "2"), 1).run()
        assert gc.isenabled() is enabled
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()


def test_the_paused_gc_still_collects_the_cycles_of_a_long_run(tmp_path, monkeypatch):
    """The pause is bounded: a long-running compose (the embedded hub's threads answering its
    builders meanwhile) has its garbage cycles collected from the scheduler's loop, not kept to
    the units' end. The unit waits for its own cycle to be collected; without the bound it
    never is while the unit runs."""
    import gc
    import weakref

    import pungi_like.scheduler as scheduler_module

    monkeypatch.delenv("PUNGI_LIKE_GC_UNITS", raising=False)
    monkeypatch.setattr(scheduler_module, "GC_PAUSED_COLLECT_EVERY", 0.0)
    was = gc.isenabled()
    collected = threading.Event()
    seen = []

    class Node:
        pass

    def unit(u):
        seen.append(gc.isenabled())
        node = Node()
        node.self = node   # a cycle: freed only by the cyclic GC
        weakref.finalize(node, collected.set)
        del node
        # an upper bound only: the loop collects within its next wake (0.5 s)
        seen.append(collected.wait(60))

    try:
        gc.enable()
        Scheduler([Unit("a.x", unit)], FakeCompose(tmp_path), 1).run()
        assert seen == [False, True]
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()


def test_the_paused_collections_come_every_interval_and_a_full_one_every_tenth(monkeypatch):
    """No collection before GC_PAUSED_COLLECT_EVERY seconds (a 10,000-RPM compose's units end
    sooner and make none); then the young and middle generations, and all of them every
    GC_PAUSED_FULL_EVERY-th time."""
    import pungi_like.scheduler as scheduler_module

    clock = [1000.0]
    made = []
    monkeypatch.setattr(scheduler_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(scheduler_module.gc, "collect", lambda generation=2: made.append(generation))
    collector = scheduler_module._PausedCollector()
    every = scheduler_module.GC_PAUSED_COLLECT_EVERY
    assert every >= 10
    for step in (0.0, every / 2, every - 0.01):
        clock[0] = 1000.0 + step
        collector.maybe()
    assert made == []
    for n in range(1, 2 * scheduler_module.GC_PAUSED_FULL_EVERY + 1):
        clock[0] += every
        collector.maybe()
        collector.maybe()   # at once again: nothing more
    full = scheduler_module.GC_PAUSED_FULL_EVERY
    assert made == ([1] * (full - 1) + [2]) * 2


def test_before_record_runs_in_the_record_thread_before_the_record(tmp_path, monkeypatch):
    """A unit's ``before_record`` (work only its record needs, e.g. a gather's result hash) is
    run by the record thread before the unit's record is built: what it sets on the unit is
    in the record written; a failing one costs only a warning. (A gather's record built by a
    record child: test_record_child.)"""
    monkeypatch.setenv("PUNGI_LIKE_RECORD_CHILD", "0")
    compose = FakeCompose(tmp_path)
    seen = {}

    def run(unit):
        def finish():
            seen["thread"] = threading.current_thread().name
            unit.delta = {"inputs": "i", "result": "computed after the unit"}
        unit.before_record = finish
        return {}

    def failing(unit):
        unit.before_record = lambda: 1 / 0
        return {}

    Scheduler([Unit("gather.A.x86_64", run), Unit("gather.B.x86_64", failing)], compose,
              1).run()
    assert seen["thread"].startswith("build")     # the record thread, not the unit's
    record = json.load(open(os.path.join(compose.paths.units_dir(), "gather.A.x86_64.json")))
    assert record["delta"] == {"inputs": "i", "result": "computed after the unit"}
    assert os.path.exists(os.path.join(compose.paths.units_dir(), "gather.B.x86_64.json"))


def _build_times(monkeypatch):
    """{unit name: time.monotonic() when the record thread began building its record}."""
    from pungi_like import reuse

    began = {}
    build_record = reuse.build_record

    def timed(compose, unit, *args, **kwargs):
        began[unit.name] = time.monotonic()
        return build_record(compose, unit, *args, **kwargs)

    monkeypatch.setattr(reuse, "build_record", timed)
    return began


def test_records_wait_while_a_gather_may_still_run(tmp_path, monkeypatch):
    """The record thread builds no record while a unit of RECORDS_WAIT_FOR (a package set or
    a gather: they hold the interpreter lock) may still run: the package set's record is
    built after both gathers ended, and every record is on disk when run returns. (Without
    a record child, which builds the package set's records beside the gathers.)"""
    monkeypatch.setenv("PUNGI_LIKE_RECORD_CHILD", "0")
    began = _build_times(monkeypatch)
    ended = {}

    def gather(unit):
        time.sleep(0.3)
        ended[unit.name] = time.monotonic()
        return {}

    units = [Unit("pkgset.global", lambda u: {"n": 1}),
             Unit("gather.A.x86_64", gather, needs=["pkgset.global"]),
             Unit("gather.B.x86_64", gather, needs=["pkgset.global"]),
             Unit("createiso.A.x86_64", lambda u: {}, needs=["gather.A.x86_64"])]
    compose = FakeCompose(tmp_path)
    Scheduler(units, compose, max_workers=2).run()
    assert began["pkgset.global"] >= max(ended.values())
    for unit in units:
        assert os.path.exists(os.path.join(compose.paths.units_dir(), unit.name + ".json"))


def test_records_are_built_when_a_unit_waits_for_a_hash(tmp_path, monkeypatch):
    """A unit that needs an output hash (here: the key of a unit an old compose may hold,
    made before it runs) makes the record thread build records at once, while a gather still
    runs; with PUNGI_LIKE_RECORDS_WAIT=0 records never wait; a gather run in a child process
    (``Unit.in_child``) is not waited for. Without a record child first (these are the
    record thread's waits); with one, the unit's wait starts the child at once."""
    monkeypatch.setenv("PUNGI_LIKE_RECORD_CHILD", "0")
    began = _build_times(monkeypatch)
    release = threading.Event()

    def gather(unit):
        release.wait(10)
        return {}

    scheduler_box = []

    def asks(unit):
        value = scheduler_box[0].output_hash("pkgset.global")
        release.set()
        return {"hash": value}

    units = [Unit("pkgset.global", lambda u: {"n": 1}),
             Unit("gather.A.x86_64", gather, needs=["pkgset.global"]),
             Unit("test.x", asks, needs=["pkgset.global"])]
    compose = FakeCompose(tmp_path)
    scheduler = Scheduler(units, compose, max_workers=2)
    scheduler_box.append(scheduler)
    start = time.monotonic()
    scheduler.run()
    assert release.is_set()     # the hash came while the gather waited (it would time out)
    assert began["pkgset.global"] - start < 5

    def runs_in_child(unit):
        unit.in_child = True
        time.sleep(0.5)
        return {}

    began.clear()
    units = [Unit("pkgset.global", lambda u: {"n": 1}),
             Unit("gather.A.x86_64", runs_in_child, needs=["pkgset.global"])]
    start = time.monotonic()
    Scheduler(units, FakeCompose(tmp_path / "child"), max_workers=2).run()
    assert began["pkgset.global"] - start < 0.4

    began.clear()
    monkeypatch.setenv("PUNGI_LIKE_RECORDS_WAIT", "0")
    units = [Unit("pkgset.global", lambda u: {"n": 1}),
             Unit("gather.A.x86_64", lambda u: time.sleep(0.5), needs=["pkgset.global"])]
    start = time.monotonic()
    Scheduler(units, FakeCompose(tmp_path / "off"), max_workers=2).run()
    assert began["pkgset.global"] - start < 0.4

    # a record child: the package set's phase is not waited for once a unit waits for its hash
    monkeypatch.delenv("PUNGI_LIKE_RECORDS_WAIT")
    monkeypatch.setenv("PUNGI_LIKE_RECORD_CHILD", "1")
    release.clear()
    units = [Unit("pkgset.global", lambda u: {"n": 1}),
             Unit("pkgset.x86_64", gather, needs=["pkgset.global"]),
             Unit("test.x", asks, needs=["pkgset.global"])]
    scheduler = Scheduler(units, FakeCompose(tmp_path / "record-child"), max_workers=2)
    scheduler_box[:] = [scheduler]
    scheduler.run()
    assert release.is_set()     # the hash came while pkgset.x86_64 waited


def test_a_unit_needing_metadata_write_runs_without_waiting_for_its_key(tmp_path):
    """metadata.write always runs and its output hash is no old compose's (its manifests hold
    the compose's respin and date): a unit needing it is not keyed before it runs, even with
    old units of its name, so it does not wait for metadata.write's record; a unit needing
    any other unit is."""
    class Old:
        record = {"unit": "x", "needs": {}}

    class Pool:
        def _units(self, name):
            return iter([Old()])

    units = [Unit("metadata.write", lambda u: {}), Unit("gather.x", lambda u: {}),
             Unit("test.images", lambda u: {}, needs=["metadata.write"]),
             Unit("createrepo.x", lambda u: {}, needs=["gather.x"])]
    sched = Scheduler(units, FakeCompose(tmp_path), 2)
    sched.reuse_pool = Pool()
    assert sched.key_needed_first(sched.units["test.images"]) is False
    assert sched.key_needed_first(sched.units["createrepo.x"]) is True


def test_a_units_result_is_known_when_its_end_is(tmp_path):
    """A unit taken early after another reads whether it ended well as soon as its end is
    set (``_wait_for_needs``): the result is there first, so a waiter that wakes at once does
    not take a unit that ended well for a failed one."""
    seen = {}

    units = [Unit("a.x", lambda unit: {}), Unit("b.x", lambda unit: 1 / 0)]
    sched = Scheduler(units, FakeCompose(tmp_path, failable=()), 2)

    class Watched(threading.Event):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def set(self):
            seen[self.name] = sched._ended_ok.get(self.name)
            super().set()

    sched._ended = {name: Watched(name) for name in sched._ended}
    for unit in units:
        sched._run_unit_and_signal(unit, False)
    assert seen == {"a.x": True, "b.x": False}


def test_a_phase_end_hook_runs_once_after_the_phases_last_unit(tmp_path):
    # the driver starts rpms.json's payload when the gathers ended (compose_run.rpms_ahead)
    order, lock = [], threading.Lock()
    units = [
        Unit("gather.A.x86_64", record_run(order, lock, 0.2)),
        Unit("gather.B.x86_64", record_run(order, lock, 0.05)),
        Unit("createrepo.A.x86_64", record_run(order, lock, 0.3), needs=["gather.A.x86_64"]),
    ]
    scheduler = Scheduler(units, FakeCompose(tmp_path), max_workers=2)
    calls = []

    def hook():
        with lock:
            calls.append(time.monotonic())
    scheduler.phase_end_hooks["gather"] = [hook]
    scheduler.run()
    times = {(kind, name): t for kind, name, t in order}
    assert len(calls) == 1
    assert calls[0] >= max(times[("end", "gather.A.x86_64")], times[("end", "gather.B.x86_64")])
    assert calls[0] <= times[("end", "createrepo.A.x86_64")]


def test_a_phase_end_hook_runs_after_the_units_the_end_lets_start_were_started(tmp_path):
    """A hook's own start (a thread of the driver's) does not hold back the units that the
    phase's end lets start: they are started first (compose_run.rpms_ahead's threads started
    when the gathers end waited for the interpreter lock before createrepo started)."""
    order, lock = [], threading.Lock()
    units = [
        Unit("gather.A.x86_64", record_run(order, lock, 0.05)),
        Unit("createrepo.A.x86_64", record_run(order, lock, 0.1), needs=["gather.A.x86_64"]),
    ]
    scheduler = Scheduler(units, FakeCompose(tmp_path), max_workers=2)
    states = []
    scheduler.phase_end_hooks["gather"] = [
        lambda: states.append(scheduler.state["createrepo.A.x86_64"])]
    scheduler.run()
    assert states == ["running"]
