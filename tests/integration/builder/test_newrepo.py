"""newRepo: per-arch repodata with comps; external repos merged by priority and merge mode."""

import os

import pytest

from pungi_like.buildsvc.builder.newrepo import RepoGenError, generate_repo
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.repodata import createrepo
from pungi_like.rpmtools.rootinstall import resolve_packages
from pungi_like.universe.rpmbuild import Package

pytestmark = pytest.mark.integration


def _pool(path):
    d = Depsolver([Repo("merged", path)], "x86_64")
    return d, {p.nevra: p for p in d.pkgs.values()}


@pytest.fixture
def tag_rpms(rpm_factory, tmp_path):
    res = rpm_factory([
        Package("libdemoc", "9.0", arch="x86_64", provides=["libdemoc.so.9()(64bit)"],
                files={"/usr/lib64/libdemoc.so.9": "x"}),
        Package("tag-tool", "1.0", arch="noarch", requires=["libdemoc"],
                files={"/usr/bin/tag-tool": "#!/bin/sh\n"}),
    ], outdir=tmp_path / "top" / "packages")
    return {"x86_64": [r for r in res.rpms if r.endswith(".x86_64.rpm")],
            "noarch": [r for r in res.rpms if r.endswith(".noarch.rpm")]}


def _external(rpm_factory, tmp_path, label, version, content):
    res = rpm_factory([Package("ext-tool", version, arch="noarch",
                               files={"/usr/bin/ext-tool": content})],
                      outdir=tmp_path / label)
    createrepo(str(tmp_path / label))
    return str(tmp_path / label)


def test_plain_repo_loads_in_libsolv_with_groups(universe, tag_rpms, tmp_path):
    out = tmp_path / "repos" / "tag-build" / "1"
    result = generate_repo(str(out), tag_rpms, arches=["x86_64"], comps_xml=universe.comps_path,
                           topdir=str(tmp_path / "top"))
    arch_dir = out / "x86_64"
    assert result["x86_64"]["packages"] == 2
    assert open(arch_dir / "pkglist").read().splitlines() == [
        "toplink/packages/libdemoc-9.0-1.x86_64.rpm", "toplink/packages/tag-tool-1.0-1.noarch.rpm"]
    assert os.readlink(arch_dir / "toplink") == str(tmp_path / "top")
    assert (out / "groups" / "comps.xml").exists()
    _, pkgs = _pool(str(arch_dir))
    assert sorted(pkgs) == ["libdemoc-0:9.0-1.x86_64", "tag-tool-0:1.0-1.noarch"]
    paths = resolve_packages(str(arch_dir), ["tag-tool"])
    assert [os.path.basename(p) for p in paths] == ["libdemoc-9.0-1.x86_64.rpm",
                                                     "tag-tool-1.0-1.noarch.rpm"]
    assert all(os.path.exists(p) for p in paths)
    from pungi_like.buildsvc.builder.root import load_repo_comps, repo_dirs
    comps = load_repo_comps(repo_dirs([str(arch_dir)]))
    assert "core" in comps.group_ids()


def test_koji_mode_first_repo_wins_by_srpm_name(universe, tag_rpms, tmp_path):
    out = tmp_path / "repo"
    result = generate_repo(str(out), tag_rpms, arches=["x86_64"],
                           external_repos=[(universe.repo_dir, 10, "koji")],
                           blocked=["demo-httpd"])
    _, pkgs = _pool(str(out / "x86_64"))
    names = {p.name for p in pkgs.values()}
    # the tag's libdemoc wins the whole libdemoc SRPM: no external libdemoc, -devel, i686 ...
    assert [n for n in pkgs if n.startswith("libdemoc-")] == ["libdemoc-0:9.0-1.x86_64"]
    assert "libdemoc-devel" not in names
    assert "demo-httpd" not in names                # blocked
    assert "libssl3" in names and "kernel" in names   # the rest of the external repo
    ext = next(p for p in pkgs.values() if p.name == "kernel")
    assert ext.path.startswith(universe.repo_dir)    # xml:base points at the external repo
    assert result["x86_64"]["dropped"][universe.repo_dir] > 0
    assert not any(p.arch == "src" for p in pkgs.values())


def test_priority_order_and_simple_vs_bare(rpm_factory, tag_rpms, tmp_path):
    low = _external(rpm_factory, tmp_path, "ext-low", "1.0", "low priority number\n")
    high = _external(rpm_factory, tmp_path, "ext-high", "1.0", "high priority number\n")
    newer = _external(rpm_factory, tmp_path, "ext-newer", "2.0", "newer\n")
    # koji: priority 5 beats priority 20 for the whole ext-tool SRPM, even its newer version
    generate_repo(str(tmp_path / "k"), tag_rpms, arches=["x86_64"],
                  external_repos=[(high, 20, "koji"), (low, 5, "koji"), (newer, 30, "koji")])
    _, pkgs = _pool(str(tmp_path / "k" / "x86_64"))
    ext = [p for p in pkgs.values() if p.name == "ext-tool"]
    assert [(p.version, os.path.dirname(p.path)) for p in ext] == [("1.0", low)]
    # simple: first wins per NEVRA, other versions stay
    generate_repo(str(tmp_path / "s"), tag_rpms, arches=["x86_64"],
                  external_repos=[(high, 20, "simple"), (low, 5, "simple"), (newer, 30, "simple")])
    _, pkgs = _pool(str(tmp_path / "s" / "x86_64"))
    ext = sorted((p.version, os.path.dirname(p.path)) for p in pkgs.values()
                 if p.name == "ext-tool")
    assert ext == [("1.0", low), ("2.0", newer)]
    # bare: everything, the same NEVRA from two repos included twice
    generate_repo(str(tmp_path / "b"), tag_rpms, arches=["x86_64"],
                  external_repos=[(high, 20, "bare"), (low, 5, "bare")])
    d, _ = _pool(str(tmp_path / "b" / "x86_64"))
    ext = sorted(os.path.dirname(p.path) for p in d.pkgs.values() if p.name == "ext-tool")
    assert ext == sorted([low, high])
    with pytest.raises(RepoGenError, match="different merge modes"):
        generate_repo(str(tmp_path / "x"), tag_rpms, arches=["x86_64"],
                      external_repos=[(high, 20, "bare"), (low, 5, "koji")])
