"""pkgset.closure_describes: the closure's pool holds the record of each package set file as
the file is (its size, a repomd.xml written in a later second than the file's mtime), so the
gathers may solve over that pool whatever records the package set repo was written from."""

import os
from types import SimpleNamespace

import pytest

from phases import pkgset

pytestmark = pytest.mark.unit


class _Solvable:
    def __init__(self, size):
        self.size = size

    def lookup_num(self, key):
        assert key == pkgset.depsolve.solv.SOLVABLE_DOWNLOADSIZE
        return self.size


class _Solver:
    def __init__(self, packages):
        self.packages = packages     # path -> (size, repo dir)

    def package(self, path):
        found = self.packages.get(path)
        if found is None:
            return None
        size, repo = found
        return SimpleNamespace(solvable=_Solvable(size), repo=SimpleNamespace(path=repo))


def _setup(tmp_path, repomd_at, file_at=1_700_000_000):
    repo = tmp_path / "repo"
    (repo / "repodata").mkdir(parents=True)
    (repo / "repodata" / "repomd.xml").write_text("<repomd/>")
    os.utime(repo / "repodata" / "repomd.xml", (repomd_at, repomd_at))
    files = {}
    for name, data in (("a-1-1.noarch.rpm", b"a" * 10), ("b-1-1.noarch.rpm", b"b" * 20)):
        path = repo / name
        path.write_bytes(data)
        os.utime(path, (file_at, file_at))
        files[name] = str(path)
    return str(repo), files


def _linked(files, solver):
    return {name: (SimpleNamespace(path=path), "/download/" + name, solver)
            for name, path in files.items()}


def test_records_of_the_files_as_they_are(tmp_path):
    repo, files = _setup(tmp_path, repomd_at=1_700_000_100)
    solver = _Solver({files["a-1-1.noarch.rpm"]: (10, repo), files["b-1-1.noarch.rpm"]: (20, repo)})
    assert pkgset.closure_describes(_linked(files, solver))


def test_another_size_a_repomd_of_the_same_second_or_a_missing_package_refuse(tmp_path):
    repo, files = _setup(tmp_path, repomd_at=1_700_000_100)
    other_size = _Solver({files["a-1-1.noarch.rpm"]: (10, repo),
                          files["b-1-1.noarch.rpm"]: (21, repo)})
    assert not pkgset.closure_describes(_linked(files, other_size))
    missing = _Solver({files["a-1-1.noarch.rpm"]: (10, repo)})
    assert not pkgset.closure_describes(_linked(files, missing))

    # a repomd.xml written in the second the files were last changed may predate the change
    same_second, files = _setup(tmp_path / "racy", repomd_at=1_700_000_000)
    racy = _Solver({files["a-1-1.noarch.rpm"]: (10, same_second),
                    files["b-1-1.noarch.rpm"]: (20, same_second)})
    assert not pkgset.closure_describes(_linked(files, racy))

    # a file that is gone
    os.unlink(files["a-1-1.noarch.rpm"])
    assert not pkgset.closure_describes(_linked(files, racy))


def test_the_callers_stats_answer_as_its_own(tmp_path, monkeypatch):
    """pkgset.source_idents: one stat run for the whole set (here two files: the threshold
    lowered), taken by closure_describes as it takes its own stats; None when a file is gone
    (the callers stat the files themselves then)."""
    repo, files = _setup(tmp_path, repomd_at=1_700_000_100)
    solver = _Solver({files["a-1-1.noarch.rpm"]: (10, repo), files["b-1-1.noarch.rpm"]: (20, repo)})
    linked = _linked(files, solver)
    assert pkgset.source_idents(linked) is None          # fewer than STAT_MANY: no run
    monkeypatch.setattr(pkgset, "STAT_MANY", 1)
    idents = pkgset.source_idents(linked)
    assert sorted(idents) == sorted(files.values())
    for path, st in idents.items():
        real = os.stat(path)
        assert (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            real.st_dev, real.st_ino, real.st_size, real.st_mtime_ns)
    assert pkgset.closure_describes(linked, idents)
    other_size = _Solver({files["a-1-1.noarch.rpm"]: (10, repo),
                          files["b-1-1.noarch.rpm"]: (21, repo)})
    assert not pkgset.closure_describes(_linked(files, other_size), idents)
    assert not pkgset.closure_describes(linked, {})          # a file the stats do not hold
    os.unlink(files["a-1-1.noarch.rpm"])
    assert pkgset.source_idents(linked) is None
