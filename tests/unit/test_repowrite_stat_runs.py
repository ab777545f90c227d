"""write_repo stats a tree's files by ``stat`` runs of names relative to the tree
(repowrite._stat_runs): the answers of absolute paths, in fewer runs (each run's start and
end give the interpreter lock up and wait to take it back behind the compose's other
threads)."""

import os

from pungi_like import fileutil
from pungi_like.rpmtools import repowrite


def _tree(tmp_path, count):
    root = tmp_path / ("a-long-compose-directory-name-" * 4) / "compose" / "Workstation" / "os"
    folder = root / "Packages" / "p"
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / f"p{i:05d}-common-1.0.{i % 7}-1.peer.noarch.rpm"
        path.write_bytes(b"x" * (i % 13))
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
        paths.append(str(path))
    return str(root), paths


def test_a_trees_files_are_stat_ed_by_fewer_runs_of_relative_names(tmp_path, monkeypatch):
    root, paths = _tree(tmp_path, 3000)
    runs = []
    output_of = fileutil.output_of
    monkeypatch.setattr(fileutil, "output_of",
                        lambda cmd, **kw: (runs.append(kw.get("cwd")), output_of(cmd, **kw))[1])
    absolute = fileutil.stat_many(paths)
    absolute_runs, runs[:] = len(runs), []
    found = repowrite._stat_runs(root, paths)
    assert absolute_runs >= 2 and runs == [root]     # one run, in the tree
    expected = [os.stat(p) for p in paths]
    for got in (found, absolute):
        assert [(s.st_size, s.st_mtime) for s in got] \
            == [(s.st_size, int(s.st_mtime)) for s in expected]


def test_paths_outside_the_root_are_stat_ed_by_their_own_names(tmp_path, monkeypatch):
    root, paths = _tree(tmp_path, 5)
    other = tmp_path / "elsewhere.rpm"
    other.write_bytes(b"12345")
    calls = []
    monkeypatch.setattr(repowrite, "stat_many",
                        lambda names, cwd=None: calls.append((names, cwd)) or None)
    repowrite._stat_runs(root, paths + [str(other)])
    assert calls == [(paths + [str(other)], None)]
    calls[:] = []
    repowrite._stat_runs(root, paths)
    assert calls == [([os.path.relpath(p, root) for p in paths], root)]
