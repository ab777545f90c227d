"""The gather worker process: the same result as an in-process gather, links, errors and log
records handed back (phases/gather.py runs each gather unit through one)."""

import json
import logging
import os

import pytest

from pungi_like.errors import PungiLikeError
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.gather_worker import GatherWorker, SolverHost, release_providers
from pungi_like.rpmtools.gathering import gather

from test_depsolve import UNIVERSE, write_repo  # noqa: E402 (tests/unit is on sys.path: rootdir-relative import)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return write_repo(str(tmp_path_factory.mktemp("repo")), UNIVERSE)


def test_worker_gathers_what_the_thread_gathers(repo):
    options = dict(packages=["app", "kit", "needs32", "no-such-package"], greedy="none",
                   multilib_methods=["runtime"], prepopulate=["nothere.x86_64"])
    solver = Depsolver([Repo("set", repo)], "x86_64")
    here = gather(None, "x86_64", solver=solver, **options)
    with GatherWorker.spawn() as worker:
        worker.send("load", [Repo("set", repo)], "x86_64")
        assert worker.receive() == release_providers(solver)
        there = worker.call("gather", options)
    assert there == here and there.as_dict() == here.as_dict()   # handed over as rows
    assert there.binary and there.missing == ["no-such-package", "nothere.x86_64"]


def test_worker_hands_back_log_records(repo, caplog):
    with GatherWorker.spawn() as worker, caplog.at_level(logging.WARNING, "pungi_like"):
        worker.call("load", [Repo("set", repo)], "x86_64")
        worker.call("gather", dict(prepopulate=["nothere.x86_64"]))
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("pungi_like.gathering", "Prepopulate: Doesn't match: nothere.x86_64")]


def test_worker_links_and_keeps_existing_files(tmp_path):
    src = tmp_path / "a.rpm"
    src.write_bytes(b"rpm")
    (tmp_path / "t").mkdir()
    existing = tmp_path / "t" / "b.rpm"
    existing.write_bytes(b"RPM")   # same size: another arch linked it
    with GatherWorker.spawn() as worker:
        worker.call("link", [(str(src), str(tmp_path / "t" / "a.rpm")),
                             (str(src), str(tmp_path / "t" / "h" / "a.rpm")),
                             (str(src), str(existing))], "hardlink-or-copy")
    assert os.path.samefile(src, tmp_path / "t" / "a.rpm")
    assert os.path.samefile(src, tmp_path / "t" / "h" / "a.rpm")   # directory made
    assert existing.read_bytes() == b"RPM"


def test_worker_errors_are_raised_in_the_caller(repo, tmp_path):
    with GatherWorker.spawn() as worker:
        worker.call("load", [Repo("set", repo)], "x86_64")
        with pytest.raises(PungiLikeError, match="greedy method 'most'"):
            worker.call("gather", dict(packages=["app"], greedy="most"))
        with pytest.raises(FileNotFoundError):
            worker.call("link", [(str(tmp_path / "missing.rpm"), str(tmp_path / "x.rpm"))],
                        "hardlink")
        # the worker still answers after an error
        assert worker.call("gather", dict(packages=["app"])).binary


def test_result_json_is_the_standard_librarys(repo):
    """gather writes GatherResult.as_json() for work/<arch>/gather_result: the same text as
    json.dumps(as_dict(), indent=4, sort_keys=True) (empty lists, flags, escapes included)."""
    solver = Depsolver([Repo("set", repo)], "x86_64")
    result = gather(None, "x86_64", solver=solver, packages=["app", "kit", "nothing-like-it"],
                    multilib_methods=["runtime"])
    result.broken_deps.append(("libx(\u00e9) >= 1", "app-0:1.0-1.x86_64"))
    result.missing.append('quo"te')
    for res in (result, type(result)()):
        assert res.as_json() == json.dumps(res.as_dict(), indent=4, sort_keys=True,
                                           separators=(",", ": "))
    assert result.binary and any(p.flags for p in result.binary.values())


def test_solver_host_forks_loaded_workers(repo, tmp_path):
    """Workers forked from one host (one load) answer like a worker of their own, side by
    side; a package set that cannot be loaded fails each unit asking for it."""
    options = dict(packages=["app", "kit"], multilib_methods=["runtime"])
    expected = gather(None, "x86_64", solver=Depsolver([Repo("set", repo)], "x86_64"),
                      **options).as_dict()
    host = SolverHost([Repo("set", repo)], "x86_64")
    try:
        first, second = host.worker(), host.worker()
        with first, second:
            for worker in (first, second):
                worker.send("load", [Repo("set", repo)], "x86_64")
                worker.send("gather", options)
            for worker in (first, second):
                assert worker.receive() == []
                assert worker.receive().as_dict() == expected
    finally:
        host.close()
    assert host.proc.returncode == 0
    broken = SolverHost([Repo("set", str(tmp_path / "no-repo"))], "x86_64")
    try:
        with broken.worker() as worker, pytest.raises(PungiLikeError, match="not a repository"):
            worker.call("load", [], "x86_64")
    finally:
        broken.close()


def test_link_packages_links_batches_with_ln_and_leaves_the_rest_to_link_package(
        tmp_path, monkeypatch):
    """link_packages makes hard links by ln runs (symlinks resolved, as link_file does), one
    per directory and batch; a run that fails for a file (one already there) leaves its
    pairs to link_package, which keeps the existing file, as the one-by-one path did."""
    from pungi_like.rpmtools import gather_worker
    runs = []
    real_run = gather_worker.subprocess.run

    def counted(cmd, **kw):
        runs.append(cmd[0])
        return real_run(cmd, **kw)

    monkeypatch.setattr(gather_worker.subprocess, "run", counted)
    monkeypatch.setattr(gather_worker, "LINK_BATCH", 40)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(100):
        (src / f"p{i:03d}.rpm").write_bytes(b"x" * i)
    os.symlink(src / "p001.rpm", src / "via-link.rpm")
    out = tmp_path / "out"
    (out / "b").mkdir(parents=True)
    (out / "b" / "p050.rpm").write_bytes(b"y" * 50)      # there already, same size: kept
    pairs = [(str(src / f"p{i:03d}.rpm"), str(out / ("a" if i < 50 else "b") / f"p{i:03d}.rpm"))
             for i in range(100)]
    pairs.append((str(src / "via-link.rpm"), str(out / "a" / "via-link.rpm")))
    pairs.append((str(src / "p002.rpm"), str(out / "a" / "renamed.rpm")))   # not its own name
    gather_worker.link_packages(pairs, "hardlink")
    assert runs == ["ln"] * 4          # a: 51 files in 2 runs; b: 50 files in 2 runs
    for i in range(100):
        dest = out / ("a" if i < 50 else "b") / f"p{i:03d}.rpm"
        if i == 50:
            assert dest.read_bytes() == b"y" * 50 and not os.path.samefile(dest, src / "p050.rpm")
        else:
            assert os.path.samefile(dest, src / f"p{i:03d}.rpm")
    linked = out / "a" / "via-link.rpm"
    assert not linked.is_symlink() and os.path.samefile(linked, src / "p001.rpm")
    assert os.path.samefile(out / "a" / "renamed.rpm", src / "p002.rpm")


def test_link_packages_other_link_types_and_few_pairs_go_one_by_one(tmp_path, monkeypatch):
    from pungi_like.rpmtools import gather_worker
    monkeypatch.setattr(gather_worker.subprocess, "run",
                        lambda *a, **kw: pytest.fail("ln run for these pairs"))
    src = tmp_path / "p.rpm"
    src.write_bytes(b"p")
    gather_worker.link_packages([(str(src), str(tmp_path / "one.rpm"))], "hardlink")
    pairs = [(str(src), str(tmp_path / "many" / f"{i}" / "p.rpm")) for i in range(100)]
    gather_worker.link_packages(pairs, "symlink")
    assert os.path.samefile(tmp_path / "one.rpm", src)
    assert all(os.path.islink(dest) for _src, dest in pairs)
