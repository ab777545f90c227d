"""The check of a unit taken without its files (``ReusePool.check``'s ``defer``): each file is
checked as a placed one is (its inode, size and modification time, else its bytes), so a file
written in place since (a package signed in place keeps its inode and size) sends the unit to
run again instead of failing the unit that needs its files; ``materialise`` checks each file
again before it places them."""

import json
import os
import types

import pytest

from pungi_like import reuse

UNIT = types.SimpleNamespace(name="pkgset.global")
OLD_ID, NEW_ID = "T-1-20260101.n.0", "T-1-20260102.n.0"


class _Compose:
    def __init__(self, topdir, compose_id):
        self.topdir, self.compose_id = str(topdir), compose_id
        self.rpms = None
        self.results = None


def _old_pkgset(tmp_path, count=3):
    """An old compose whose package set record holds ``count`` downloaded packages (hard links
    of files outside it), all under work/."""
    top = tmp_path / "composes" / OLD_ID
    download = top / "work" / "global" / "download"
    download.mkdir(parents=True)
    paths = []
    for i in range(count):
        outside = tmp_path / f"p{i}-1-1.noarch.rpm"
        outside.write_bytes(b"rpm %d" % i)
        os.link(outside, download / outside.name)
        paths.append(str(download / outside.name))
    files = reuse.describe_files(paths, reuse.Names(str(top), OLD_ID))
    data = reuse.data_path(str(top), UNIT.name)
    os.makedirs(os.path.dirname(data))
    with open(data, "w") as fh:
        fh.write(json.dumps({"files": files, "journal": []}, separators=(",", ":")) + "\n")
    record = {"unit": UNIT.name, "key": "k", "reusable": True, "outputs": {}}
    return reuse.OldUnit(str(top), OLD_ID, record), paths


def _pool(tmp_path):
    new_top = tmp_path / "composes" / NEW_ID
    new_top.mkdir()
    return reuse.ReusePool(_Compose(new_top, NEW_ID)), new_top


def _replace(path, data):
    """A new inode at ``path`` (as an editor or a copy leaves it), its time stamps kept."""
    st = os.stat(path)
    os.unlink(path)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_unchanged_files_are_taken_deferred(tmp_path):
    old, _paths = _old_pkgset(tmp_path)
    pool, new_top = _pool(tmp_path)
    plan = pool.check(UNIT, old)
    assert plan.deferred
    pool.place(plan)
    assert not os.path.exists(new_top / "work")


def test_a_replaced_file_with_other_bytes_is_refused(tmp_path):
    old, paths = _old_pkgset(tmp_path)
    _replace(paths[1], b"rpm X")    # the same size and time stamps: only its bytes differ
    pool, _new_top = _pool(tmp_path)
    with pytest.raises(reuse.CannotReuse, match="p1-1-1.noarch.rpm"):
        pool.check(UNIT, old)


def test_a_replaced_file_with_the_same_bytes_is_taken(tmp_path):
    old, paths = _old_pkgset(tmp_path)
    _replace(paths[0], b"rpm 0")
    pool, _new_top = _pool(tmp_path)
    assert pool.check(UNIT, old).deferred


def test_a_missing_file_is_refused(tmp_path):
    old, paths = _old_pkgset(tmp_path)
    os.unlink(paths[2])
    pool, _new_top = _pool(tmp_path)
    with pytest.raises(reuse.CannotReuse):
        pool.check(UNIT, old)


def test_a_file_changed_in_place_is_refused_by_the_check(tmp_path):
    """The same inode and size written in place later (as rpmsign signs a package): the unit
    is not taken, so it runs again (a check by the inodes alone took it, and the unit needing
    its files then failed the compose)."""
    old, paths = _old_pkgset(tmp_path)
    st = os.stat(paths[1])
    with open(paths[1], "r+b") as fh:
        fh.write(b"RPM")
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    pool, new_top = _pool(tmp_path)
    with pytest.raises(reuse.CannotReuse, match="p1-1-1.noarch.rpm"):
        pool.check(UNIT, old)
    assert not os.path.exists(new_top / "work" / "global" / "download")


def test_materialise_places_the_deferred_files(tmp_path):
    old, paths = _old_pkgset(tmp_path)
    pool, new_top = _pool(tmp_path)
    pool.place(pool.check(UNIT, old))
    assert pool.materialise(UNIT.name) == {"data_from": reuse.data_path(old.topdir, UNIT.name)}
    for path in paths:
        placed = new_top / "work" / "global" / "download" / os.path.basename(path)
        assert placed.stat().st_ino == os.stat(path).st_ino
