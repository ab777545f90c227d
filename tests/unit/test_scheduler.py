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


def test_every_source_tree_unit_is_light():
    from pungi_like.scheduler import LIGHT_WEIGHT, unit_weight

    for phase in ("createrepo", "createiso", "extra_isos"):
        assert unit_weight(Unit(f"{phase}.Server.src", None, arch="src")) <= LIGHT_WEIGHT
    assert unit_weight(Unit("gather.Server.x86_64", None, arch="x86_64")) > LIGHT_WEIGHT
