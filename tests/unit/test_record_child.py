"""The records of the package set's and the gathers' units built by a forked child
(``scheduler.record_child``) are those the record thread builds: the same record datas, keys and
output hashes; a child that fails leaves them to the record thread."""

import json
import logging
import os

import pytest

from phases.pkgset import PackageSet
from pungi_like import reuse, scheduler as scheduler_mod
from pungi_like.paths import Paths
from pungi_like.rpmtools.headers import RpmHeader
from pungi_like.scheduler import Scheduler, Unit

pytestmark = pytest.mark.unit

COMPOSE_ID = "T-1.0-20260101.n.0"
BUILD_RECORD = reuse.build_record


class FakeCompose:
    """The recorder surface the scheduler uses, and the results the units hand over."""

    def __init__(self, topdir):
        self.topdir = str(topdir)
        self.paths = Paths(topdir)
        self.compose_id = COMPOSE_ID
        self.log = logging.getLogger("test.record_child")
        self.values = {}

    def notify(self, message, **extra):
        pass

    def attempt_deliverable(self, *d):
        pass

    def write_traceback(self, detail, text):
        pass


def units(compose, sources):
    """A package set linking ``sources`` and handing their headers over (global, then the
    arch's set of the same header objects), a gather with a result hash made before its
    record, and a unit after them."""
    download = os.path.join(compose.topdir, "work", "global", "download")

    def pkgset_global(unit):
        os.makedirs(download, exist_ok=True)
        headers = {}
        for src in sources:
            name = os.path.basename(src)
            os.link(src, os.path.join(download, name))
            headers[name] = RpmHeader(path=os.path.join(download, name), name=name[:-4],
                                      epoch=0, version="1", release="1", arch="noarch",
                                      sourcerpm=name[:-4] + "-1-1.src.rpm")
        repo = os.path.join(compose.topdir, "work", "global", "repo")
        os.makedirs(repo)
        with open(os.path.join(repo, "list"), "w") as fh:   # names the compose's directory
            fh.write("".join(f"{compose.topdir}/{n}\n" for n in sorted(headers)))
        compose.values["headers"] = headers
        reuse.note_journal("put", ("pkgset", "global"), headers)
        return {"packages": len(headers)}

    def pkgset_arch(unit):
        headers = compose.values["headers"]
        compose.values["set"] = PackageSet("x86_64", os.path.join(compose.topdir, "repo"),
                                           download, dict(headers))
        reuse.note_journal("put", ("pkgset", "x86_64"), compose.values["set"])
        return {"packages": len(headers)}

    def gather(unit):
        tree = os.path.join(compose.topdir, "compose", "A", "x86_64", "os", "Packages")
        os.makedirs(tree)
        for name in sorted(compose.values["headers"])[:3]:
            os.link(os.path.join(download, name), os.path.join(tree, name))
        unit.delta = {"inputs": "i"}
        reuse.note_journal("put", ("gather", "A", "x86_64"), {"binary": sorted(os.listdir(tree))})

        def note():
            unit.delta["result"] = "r-" + ",".join(sorted(os.listdir(tree)))
        unit.before_record = note
        return {"rpm": 3}

    return [Unit("pkgset.global", pkgset_global, inputs={"repos": 1}),
            Unit("pkgset.x86_64", pkgset_arch, needs=["pkgset.global"]),
            Unit("gather.A.x86_64", gather, needs=["pkgset.x86_64"]),
            Unit("createrepo.A.x86_64", lambda u: {}, needs=["gather.A.x86_64"])]


def run(topdir, sources, monkeypatch, child):
    monkeypatch.setenv("PUNGI_LIKE_RECORD_CHILD", "1" if child else "0")
    compose = FakeCompose(topdir)
    built = []
    parent = os.getpid()

    def counted(compose_, unit, *args, **kwargs):
        if os.getpid() == parent:
            built.append(unit.name)
        return BUILD_RECORD(compose_, unit, *args, **kwargs)
    monkeypatch.setattr(reuse, "build_record", counted)
    Scheduler(units(compose, sources), compose, 2).run()
    records, datas = {}, {}
    for name in sorted(os.listdir(compose.paths.units_dir())):
        record = json.load(open(os.path.join(compose.paths.units_dir(), name)))
        for key in ("start", "end"):
            record.pop(key)
        records[name] = record
        path = reuse.data_path(compose.topdir, record["unit"])
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                data = reuse.parse_data(fh.read())
            for entry in data["files"].values():
                entry.pop("stat")      # the unit's own files: other inodes in each compose
            datas[name] = data
    return records, datas, built


@pytest.fixture
def sources(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(5):
        path = src / f"p{i}-1-1.noarch.rpm"
        path.write_bytes(b"rpm %d " % i * 100)
        paths.append(str(path))
    return paths


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_record_child_builds_the_same_records(tmp_path, sources, monkeypatch):
    # one directory (a file naming it has the same bytes), moved away between the two
    records, datas, built = run(tmp_path / "top", sources, monkeypatch, child=True)
    os.rename(tmp_path / "top", tmp_path / "child")
    plain_records, plain_datas, plain_built = run(tmp_path / "top", sources, monkeypatch,
                                                  child=False)
    assert records == plain_records
    assert datas == plain_datas
    assert set(datas) >= {"pkgset.global.json", "pkgset.x86_64.json", "gather.A.x86_64.json"}
    assert records["gather.A.x86_64.json"]["delta"]["result"].startswith("r-p0")
    # built by the child, not by this process's record thread
    assert "pkgset.global" in plain_built and "gather.A.x86_64" in plain_built
    assert not {"pkgset.global", "pkgset.x86_64", "gather.A.x86_64"} & set(built)
    assert "createrepo.A.x86_64" in built


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_failed_record_child_leaves_the_records_to_this_process(tmp_path, sources,
                                                                 monkeypatch):
    parent = os.getpid()
    real = scheduler_mod._write_data

    def dies_in_the_child(*args, **kwargs):
        if os.getpid() != parent:
            os._exit(3)
        return real(*args, **kwargs)
    monkeypatch.setattr(scheduler_mod, "_write_data", dies_in_the_child)
    records, datas, built = run(tmp_path / "top", sources, monkeypatch, child=True)
    os.rename(tmp_path / "top", tmp_path / "child")
    monkeypatch.setattr(scheduler_mod, "_write_data", real)
    plain_records, plain_datas, _built = run(tmp_path / "top", sources, monkeypatch,
                                             child=False)
    assert records == plain_records and datas == plain_datas
    assert {"pkgset.global", "pkgset.x86_64", "gather.A.x86_64"} <= set(built)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_record_children_run_at_a_lower_priority_one_a_phase_at_once(tmp_path, sources,
                                                                    monkeypatch):
    """Each record child writes its record datas at the helpers' lower priority, and the
    gathers' child does not wait for the package set's: here the package set's child writes
    nothing until the gathers' child has written its data (with one child at a time it would
    wait out its 30 s, and the mark would be missing)."""
    from pungi_like.digest_prefill import HELPER_NICE

    monkeypatch.delenv("PUNGI_LIKE_HELPER_NICE", raising=False)
    parent = os.getpid()
    real = scheduler_mod._write_data
    marks = tmp_path / "marks"
    marks.mkdir()
    gathered = marks / "gather-written"

    def noted(path, *args, **kwargs):
        if os.getpid() != parent:
            name = os.path.basename(path)
            if name.startswith("pkgset."):
                import time
                waited = 0
                while not gathered.exists() and waited < 300:
                    time.sleep(0.1)
                    waited += 1
                (marks / f"{name}.saw-gather").write_text(str(gathered.exists()))
            (marks / f"{name}.nice").write_text(str(os.nice(0)))
            result = real(path, *args, **kwargs)
            if name.startswith("gather."):
                gathered.write_text("1")
            return result
        return real(path, *args, **kwargs)
    monkeypatch.setattr(scheduler_mod, "_write_data", noted)
    records, datas, built = run(tmp_path / "top", sources, monkeypatch, child=True)
    lower = str(min(os.nice(0) + HELPER_NICE, 19))
    nices = {p.name[:-len(".nice")]: p.read_text() for p in marks.glob("*.nice")}
    assert {n.split(".json")[0] for n in nices} >= {"pkgset.global", "pkgset.x86_64",
                                                    "gather.A.x86_64"}
    assert set(nices.values()) == {lower}
    assert {p.read_text() for p in marks.glob("*.saw-gather")} == {"True"}
    assert not {"pkgset.global", "pkgset.x86_64", "gather.A.x86_64"} & set(built)
