"""pkgset's record-parse child and the repos' tags child (digest_prefill.RepoTags) started as
a cold compose's units are declared (PkgsetPhase.start_early), taken by pkgset.global, and
stopped when no unit took them."""

import os

import pytest

from pungi_like import digest_prefill
from pungi_like.rpmtools import headers as rpm_headers
from pungi_like.rpmtools import recordparse
from pungi_like.rpmtools.headers import read_raw_tags

from tests.integration.test_pkgset_repos import compose_for, two_repos  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def started(monkeypatch):
    """The Parsing objects made, in order."""
    made = []

    class Counted(recordparse.Parsing):
        def __init__(self, repo_dirs):
            super().__init__(repo_dirs)
            made.append(self)
    monkeypatch.setattr(recordparse, "Parsing", Counted)
    return made


def declare_units(compose, pkgset_phase):
    from phases.gather import GatherPhase
    from phases.init import InitPhase
    units = {}
    for phase in (InitPhase(compose), pkgset_phase, GatherPhase(compose)):
        units.update((unit.name, unit) for unit in phase.units())
    return units


def run_units(units):
    done = set()
    while len(done) < len(units):
        ready = [u for name, u in sorted(units.items())
                 if name not in done and all(n in done for n in u.needs)]
        assert ready
        for unit in ready:
            unit.run(unit)
            done.add(unit.name)


def test_a_cold_package_set_takes_the_child_started_before_its_unit(two_repos, tmp_path,
                                                                     started, monkeypatch):
    from phases.pkgset import PkgsetPhase
    first, _second = two_repos
    compose = compose_for(tmp_path, {"*": [first]})
    compose.topdir, compose.compose_id = compose.paths.topdir, "Test-1.0-20261206.n.0"
    phase = PkgsetPhase(compose)
    units = declare_units(compose, phase)
    phase.start_early()   # as the driver does once every phase declared its units
    assert len(started) == 1 and phase._early_parsing is started[0]
    assert phase._repo_tags is not None
    expected = {name: read_raw_tags(os.path.join(first, name), name.endswith(".src.rpm"))
                for name in os.listdir(first) if name.endswith(".rpm")}

    def no_read(path, arch_tags=False):
        raise AssertionError(f"{path} read by the unit: the tags child read it")
    monkeypatch.setattr(rpm_headers, "read_raw_tags", no_read)
    run_units(units)
    headers = compose.results.get(("pkgset", "global"))
    assert {name: (h.sigkey, h.excludearch, h.exclusivearch) for name, h in headers.items()} \
        == {name: (t.sigkey, t.excludearch, t.exclusivearch) for name, t in expected.items()}
    assert phase._repo_tags is None
    # one child, started before pkgset.global ran (which started none of its own), whose
    # answer wrote the package set repo (from records; createrepo_c otherwise)
    assert len(started) == 1 and started[0].repo_dirs == [first]
    assert phase._early_parsing is None
    log = open(compose.paths.log_file("global", "arch_repo.repos")).read()
    assert "repos written from records: 4 packages" in log
    assert started[0].proc.poll() is not None
    pkgset = compose.results.get(("pkgset", "x86_64"))
    assert sorted(pkgset.packages) == ["docs-1.0-1.noarch.rpm", "docs-1.0-1.src.rpm",
                                       "tool-2.0-1.src.rpm", "tool-2.0-1.x86_64.rpm"]


def test_the_child_no_unit_took_is_stopped(two_repos, tmp_path, started):
    from phases.pkgset import PkgsetPhase
    first, _second = two_repos
    phase = PkgsetPhase(compose_for(tmp_path, {"*": [first]}))
    phase.start_early()
    assert len(started) == 1 and phase._early_parsing is started[0]
    phase.end_early()     # pkgset.global never ran (a unit before it failed)
    assert phase._early_parsing is None
    assert started[0].proc.poll() is not None and started[0].found == []


def test_nothing_starts_early_when_an_old_compose_may_give_the_unit(two_repos, tmp_path,
                                                                    started):
    from phases.pkgset import PkgsetPhase

    class Pool:
        sources = [("Old-1.0-20261206.n.0", str(tmp_path / "old"), None)]

        def places(self, count=2):
            return []
    first, _second = two_repos
    compose = compose_for(tmp_path, {"*": [first]})
    compose.reuse_pool = Pool()
    phase = PkgsetPhase(compose)
    phase.start_early()
    assert started == [] and phase._early_parsing is None
    # koji package sets parse no repos
    (tmp_path / "koji").mkdir()
    cold = compose_for(tmp_path / "koji", {"*": [first]})
    cold.conf.pkgset_source = "koji"
    phase = PkgsetPhase(cold)
    phase.start_early()
    assert started == []


def test_the_repo_tags_child_reads_the_raw_tags(universe, tmp_path):
    """RepoTags reads what read_raw_tags reads of every RPM below its directories (a source
    package's arch tags too); None for a file that is no RPM, one below no directory given, and
    a source package asked for without its arch tags (or a binary one with them)."""
    top = tmp_path / "repo"
    (top / "sub").mkdir(parents=True)
    names = sorted(n for n in os.listdir(universe.repo_dir) if n.endswith(".rpm"))
    for i, name in enumerate(names):
        os.link(os.path.join(universe.repo_dir, name), top / ("sub" if i % 2 else "") / name)
    (top / "broken.rpm").write_bytes(b"not an rpm at all" * 10)
    (top / "notes.txt").write_text("no rpm\n")
    paths = [str(p) for p in sorted(top.rglob("*.rpm")) if p.name != "broken.rpm"]
    assert any(read_raw_tags(p, arch_tags=True).exclusivearch for p in paths)
    tags = digest_prefill.RepoTags([str(top) + "/"])
    try:
        for path in paths:
            source = path.endswith(".src.rpm")
            assert tags.get(path, source) == read_raw_tags(path, arch_tags=source), path
            assert tags.get(path, not source) is None
        assert tags.get(str(top / "broken.rpm"), False) is None
        assert tags.get(str(top / "notes.txt"), False) is None
        assert tags.get(os.path.join(universe.repo_dir, names[0]), False) is None
    finally:
        tags.close()
    assert tags.proc.poll() is not None
