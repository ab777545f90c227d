"""pkgset's record-parse child started as a cold compose's units are declared
(PkgsetPhase.start_early), taken by pkgset.global, and stopped when no unit took it."""

import pytest

from pungi_like.rpmtools import recordparse

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
                                                                     started):
    from phases.pkgset import PkgsetPhase
    first, _second = two_repos
    compose = compose_for(tmp_path, {"*": [first]})
    phase = PkgsetPhase(compose)
    units = declare_units(compose, phase)
    phase.start_early()   # as the driver does once every phase declared its units
    assert len(started) == 1 and phase._early_parsing is started[0]
    run_units(units)
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


def test_the_child_starts_before_the_zlib_check_and_stops_when_it_fails(two_repos, tmp_path,
                                                                        started, monkeypatch):
    """The record-parse child is started before the check whether its records can be
    written as createrepo_c writes them (repowrite.unsupported: createrepo_c imported, a
    sample compressed), so that the child's start does not wait for it; when the check says
    no, the child is stopped and nothing is handed to pkgset.global."""
    from phases.pkgset import PkgsetPhase
    from pungi_like.rpmtools import repowrite

    checked = []

    def unsupported(*args, **kwargs):
        checked.append(len(started))
        return "this Python's zlib does not compress as the createrepo_c library does"

    monkeypatch.setattr(repowrite, "unsupported", unsupported)
    first, _second = two_repos
    phase = PkgsetPhase(compose_for(tmp_path, {"*": [first]}))
    phase.start_early()
    assert checked == [1]      # the child was there when the check ran
    assert phase._early_parsing is None
    assert started[0].proc.poll() is not None and started[0].found == []
