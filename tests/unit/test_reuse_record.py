"""The reuse record's pieces: what a unit hands over survives JSON with the compose's directory
and id moved; what cannot be recorded says so; files written in a unit's thread are captured."""

import os
import threading

import pytest

from phases.pkgset import PackageSet
from pungi_like import reuse
from pungi_like.rpmtools.depsolve import GatheredPackage, GatherResult
from pungi_like.rpmtools.headers import RpmHeader

pytestmark = pytest.mark.unit


def test_hand_over_round_trips_into_another_compose(tmp_path):
    old = reuse.Names(str(tmp_path / "a" / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    new = reuse.Names(str(tmp_path / "b" / "T-1-20260102.n.3"), "T-1-20260102.n.3")
    header = RpmHeader(path=old.topdir + "/work/global/download/x-1-1.noarch.rpm", name="x",
                       epoch=0, version="1", release="1", arch="noarch", sourcerpm="x-1-1.src.rpm",
                       excludearch=["s390x"])
    pkg = GatheredPackage("x", 0, "1", "1", "noarch", header.path, "x-1-1.src.rpm", "pkgset",
                          flags={"input", "dep"})
    value = {("pkgset", "x86_64"): PackageSet("x86_64", old.topdir + "/work/x86_64/repo",
                                              old.topdir + "/work/global/download",
                                              {"x-1-1.noarch.rpm": header}),
             "gather": GatherResult(binary={"x-0:1-1.noarch": pkg}, broken_deps=[("a", "b")])}
    data = reuse.encode(value, old)
    text = repr(data)
    assert old.topdir not in text and "T-1-20260101.n.0" not in text
    back = reuse.decode(data, new)
    pkgset = back[("pkgset", "x86_64")]
    assert pkgset.repo_path == new.topdir + "/work/x86_64/repo"
    assert pkgset.packages["x-1-1.noarch.rpm"].path.startswith(new.topdir + "/work/global/")
    assert pkgset.packages["x-1-1.noarch.rpm"].excludearch == ["s390x"]
    gathered = back["gather"].binary["x-0:1-1.noarch"]
    assert gathered.flags == {"input", "dep"} and back["gather"].broken_deps == [("a", "b")]


def test_an_unknown_object_makes_the_unit_not_reusable():
    class Solver:
        pass

    with pytest.raises(reuse.NotRecordable):
        reuse.encode({"solver": Solver()}, reuse.Names("/x", "id"))


def test_files_written_in_the_units_thread_are_captured(tmp_path):
    top = tmp_path / "compose"
    (top / "sub").mkdir(parents=True)
    other = []

    def elsewhere():
        with open(top / "other-thread", "w") as fh:
            fh.write("not mine")
        other.append(1)

    with reuse.capturing(str(top)) as cap:
        with open(top / "sub" / "a.txt", "w") as fh:
            fh.write("a")
        os.link(top / "sub" / "a.txt", top / "b.txt")
        staging = top / ".staging"
        staging.mkdir()
        (staging / "c").write_text("c")
        os.rename(staging, top / "dir")
        with open(tmp_path / "outside", "w") as fh:
            fh.write("outside the compose")
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    with open(top / "after", "w") as fh:
        fh.write("after the unit")
    found = {os.path.relpath(p, top) for p in cap.paths() if os.path.isfile(p)}
    assert found == {"sub/a.txt", "b.txt", "dir/c"}
    assert other == [1]
