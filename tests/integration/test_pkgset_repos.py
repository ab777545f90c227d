"""pkgset with pkgset_source = "repos": arch subsets, ExclusiveArch/ExcludeArch of noarch
packages, repo precedence and errors, on real RPMs."""

import os

import pytest

from pungi_like.errors import PhaseError
from pungi_like.rpmtools import repodata
from pungi_like.rpmtools.headers import RpmHeader
from pungi_like.universe.rpmbuild import Package

from tests.integration.test_gather_phases import Conf, FakeCompose, run_phases
from pungi_like.variants import Variant

pytestmark = pytest.mark.integration


def src_header(excludearch=(), exclusivearch=()):
    return RpmHeader(path="x.src.rpm", name="x", epoch=0, version="1", release="1", arch="src",
                     sourcerpm="", excludearch=list(excludearch), exclusivearch=list(exclusivearch))


def test_noarch_exclusion_rules():
    from phases.pkgset import noarch_excluded
    assert noarch_excluded(src_header(), "x86_64") is None
    assert noarch_excluded(src_header(excludearch=["x86_64"]), "x86_64") == "ExcludeArch: x86_64"
    assert noarch_excluded(src_header(excludearch=["s390x"]), "x86_64") is None
    assert noarch_excluded(src_header(exclusivearch=["aarch64"]), "x86_64") == "ExclusiveArch: aarch64"
    assert noarch_excluded(src_header(exclusivearch=["x86_64", "aarch64"]), "x86_64") is None
    # noarch in ExclusiveArch means "every arch" unless the option says otherwise
    assert noarch_excluded(src_header(exclusivearch=["noarch"]), "x86_64") is None
    assert noarch_excluded(src_header(exclusivearch=["noarch"]), "x86_64",
                           considers_noarch=False) == "ExclusiveArch: noarch"
    assert noarch_excluded(None, "x86_64") is None
    # Pungi compares with the tree's native arches and noarch: ExcludeArch: noarch excludes
    # (unless noarch is not considered), a compatible native arch counts for the tree
    assert noarch_excluded(src_header(excludearch=["noarch"]), "x86_64") == "ExcludeArch: noarch"
    assert noarch_excluded(src_header(excludearch=["noarch"]), "x86_64",
                           considers_noarch=False) is None
    assert noarch_excluded(src_header(exclusivearch=["i686"]), "i386") is None
    assert noarch_excluded(src_header(excludearch=["i586"]), "i386") == "ExcludeArch: i586"
    # multilib arches are not the tree's
    assert noarch_excluded(src_header(exclusivearch=["i686"]), "x86_64") == "ExclusiveArch: i686"


@pytest.fixture(scope="module")
def two_repos(tmp_path_factory):
    from pungi_like.universe.rpmbuild import build_packages
    base = tmp_path_factory.mktemp("pkgset")
    first = [Package("tool", version="2.0", files={"/usr/bin/tool": "2\n"}),
             Package("docs", arch="noarch", exclusivearch=["noarch", "aarch64"], files={"/usr/share/d": "d\n"})]
    second = [Package("tool", version="2.0", files={"/usr/bin/tool": "other build\n"}),
              Package("lib32", arches=["i686"], files={"/usr/lib/lib32.so.1": "l\n"},
                      provides=["lib32.so.1"])]
    for name, pkgs in (("first", first), ("second", second)):
        build_packages(pkgs, base / name, workdir=base / f"work-{name}")
        repodata.createrepo(str(base / name), update=False)
    return str(base / "first"), str(base / "second")


def compose_for(tmp_path, repos, **values):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    conf = Conf(str(cfg), pkgset_source="repos", gather_method="nodeps", pkgset_repos=repos,
                additional_packages=[(".*", {"*": ["tool", "docs", "lib32"]})], **values)
    server = Variant(id="Server", name="Server", type="variant", arches=["x86_64"])
    return FakeCompose(str(tmp_path / "compose"), conf, [server])


def test_repos_source_first_repo_wins_and_multilib_arches(two_repos, tmp_path):
    first, second = two_repos
    compose = compose_for(tmp_path, {"*": [first, "file://" + second]},
                          multilib=[("^Server$", {"x86_64": ["runtime"]})],
                          pkgset_exclusive_arch_considers_noarch=False)
    run_phases(compose)
    pkgset = compose.results.get(("pkgset", "x86_64"))
    assert "lib32-1.0-1.i686.rpm" in pkgset.packages           # multilib arch kept
    assert "docs-1.0-1.noarch.rpm" not in pkgset.packages      # ExclusiveArch: noarch, option off
    tool = os.path.join(compose.paths.pkgset_download_dir(), "tool-2.0-1.x86_64.rpm")
    assert os.path.samefile(tool, os.path.join(first, "tool-2.0-1.x86_64.rpm"))
    listed = open(compose.paths.pkgset_package_list("repos", arch="x86_64")).read().split()
    assert listed == sorted(pkgset.packages)
    # the per-arch repo describes exactly that subset, with the files where they are
    in_repo = {p.filename: p.path for p in repodata.load_packages(pkgset.repo_path)}
    assert sorted(in_repo) == sorted(pkgset.packages)
    assert all(os.path.exists(p) for p in in_repo.values())


def test_repos_source_without_multilib_drops_multilib_arches(two_repos, tmp_path):
    first, second = two_repos
    compose = compose_for(tmp_path, {"x86_64": [first], "*": [second]})
    run_phases(compose)
    pkgset = compose.results.get(("pkgset", "x86_64"))
    assert "lib32-1.0-1.i686.rpm" not in pkgset.packages
    assert "docs-1.0-1.noarch.rpm" in pkgset.packages          # noarch in ExclusiveArch = all
    assert "lib32-1.0-1.src.rpm" not in pkgset.packages        # no binary of it kept


def test_koji_source_and_missing_repos_are_reported(tmp_path):
    from phases.pkgset import PkgsetPhase
    compose = compose_for(tmp_path, {"*": ["does-not-exist"]})
    phase = PkgsetPhase(compose)
    assert phase.validate() == []
    with pytest.raises(PhaseError, match="does-not-exist"):
        phase.repo_dirs()
    compose.conf.pkgset_source = "koji"
    assert "needs a build service: set koji_profile" in phase.validate()[0]
    compose.conf.pkgset_source = "repos"
    compose.conf.pkgset_repos = None
    assert "needs pkgset_repos" in phase.validate()[0]


def test_repos_package_set_holds_only_what_is_asked_for(two_repos, tmp_path):
    # Pungi gathers the repos package set: packages no variant asks for (nor depends on) are
    # not in it at all
    first, second = two_repos
    compose = compose_for(tmp_path, {"*": [first, second]})
    compose.conf.additional_packages = [("^Nothing$", {"*": ["tool"]})]  # any variant's inputs
    from phases.pkgset import PkgsetPhase
    phase = PkgsetPhase(compose)
    headers = phase.read_repos(compose.paths.pkgset_download_dir(create=True))
    assert sorted(headers) == ["tool-2.0-1.src.rpm", "tool-2.0-1.x86_64.rpm"]
    log = open(compose.paths.log_file("x86_64", "pkgset_source")).read()
    assert "packages: tool" in log
    compose.conf.additional_packages = [("^Nothing$", {"*": ["no-such-thing"]})]
    with pytest.raises(PhaseError, match="the package set is empty"):
        phase.read_repos(compose.paths.pkgset_download_dir())


def test_arch_keeping_the_whole_set_shares_the_global_repodata(two_repos, tmp_path):
    # one arch and nothing excluded: the arch repo is the global one (copied, not rewritten)
    first, _second = two_repos
    compose = compose_for(tmp_path, {"*": [first]})
    run_phases(compose)
    pkgset = compose.results.get(("pkgset", "x86_64"))
    assert sorted(pkgset.packages) == ["docs-1.0-1.noarch.rpm", "docs-1.0-1.src.rpm",
                                       "tool-2.0-1.src.rpm", "tool-2.0-1.x86_64.rpm"]
    log = open(compose.paths.log_file("x86_64", "arch_repo.repos")).read()
    assert "copied: the arch keeps every package" in log
    in_repo = {p.filename: p.path for p in repodata.load_packages(pkgset.repo_path)}
    assert sorted(in_repo) == sorted(pkgset.packages)
    assert all(os.path.exists(p) for p in in_repo.values())
    # gather read it: the tree has the packages asked for
    tree = compose.paths.packages_dir("x86_64", compose.get_variant("Server"))
    found = sorted(f for _d, _s, files in os.walk(tree) for f in files)
    assert found == ["docs-1.0-1.noarch.rpm", "tool-2.0-1.x86_64.rpm"]
