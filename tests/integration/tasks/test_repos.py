"""Repo generation with builders: regen-repo / wait-repo with the real CLI, and a child build
tag's repo regenerating by itself when a build is tagged into its parent."""

from __future__ import annotations

import os
import re
import time

import koji
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_rpms(tmp_path_factory):
    from pungi_like.universe.rpmbuild import Package, build_packages

    out = tmp_path_factory.mktemp("rpms")
    packages = [
        Package(name="alpha", version="1.0", release="1", arch="x86_64",
                files={"/usr/bin/alpha": "#!/bin/sh\necho alpha\n"}),
        Package(name="beta", version="2.0", release="1", arch="noarch",
                files={"/usr/share/beta/data": "beta\n"}),
    ]
    result = build_packages(packages, out, workdir=tmp_path_factory.mktemp("rpmbuild"))
    return sorted(result.srpms), sorted(result.rpms)


def _import(hub, tag, files, pkgs):
    hub.koji("add-pkg", "--owner", "kojiadmin", tag, *pkgs)
    hub.koji("import", *files)


def _pkglist(hub, tag, repo_id, arch="x86_64"):
    with open(os.path.join(hub.topdir, "repos", tag, str(repo_id), arch, "pkglist")) as f:
        return [os.path.basename(line.strip()) for line in f if line.strip()]


def test_regen_repo_and_wait_repo_cli(sqlite_qhub, demo_rpms):
    hub = sqlite_qhub
    hub.add_builder_hosts(names=("b1",))
    hub.start_builder("b1")
    srpms, rpms = demo_rpms
    hub.koji("add-tag", "plain", "--arches", "x86_64")
    _import(hub, "plain", srpms + rpms, ["alpha", "beta"])
    for nvr in ("alpha-1.0-1", "beta-2.0-1"):
        hub.koji("call", "tagBuildBypass", "plain", nvr)
    res = hub.koji("regen-repo", "--wait", "plain")
    s = hub.session()
    repo = s.getRepo("plain")
    assert "Got repo %d" % repo["id"] in res.stdout, res.stdout
    assert repo and repo["state"] == koji.REPO_STATES["READY"]
    assert _pkglist(hub, "plain", repo["id"]) == ["alpha-1.0-1.x86_64.rpm",
                                                   "beta-2.0-1.noarch.rpm"]
    repodata = os.path.join(hub.topdir, "repos", "plain", str(repo["id"]), "x86_64", "repodata")
    assert os.path.exists(os.path.join(repodata, "repomd.xml"))
    assert os.readlink(os.path.join(hub.topdir, "repos", "plain", "latest")) == str(repo["id"])
    # the request is fulfilled by that repo
    req = s.repo.queryQueue([["tag_id", "=", repo["tag_id"]]])[-1]
    assert req["repo_id"] == repo["id"] and not req["active"]
    # wait-repo: the current repo already satisfies it
    res = hub.koji("wait-repo", "plain", "--build", "alpha-1.0-1")
    assert "Got repo %d" % repo["id"] in res.stdout, res.stdout
    assert "plain is not a build tag for any target" in res.stderr
    # regen-repo again after a change: a newer repo, the old one expired then deleted
    hub.koji("call", "untagBuildBypass", "plain", "beta-2.0-1")
    hub.koji("regen-repo", "--wait", "plain")
    new = s.getRepo("plain")
    assert new["id"] > repo["id"]
    assert _pkglist(hub, "plain", new["id"]) == ["alpha-1.0-1.x86_64.rpm"]
    deadline = time.monotonic() + 30
    while s.repoInfo(repo["id"])["state"] != koji.REPO_STATES["DELETED"]:
        assert time.monotonic() < deadline, s.repoInfo(repo["id"])
        s.makeTask("sleep", [0])   # keep the builder polling (housekeeping runs on polls)
        time.sleep(0.5)
    assert not os.path.exists(os.path.join(hub.topdir, "repos", "plain", str(repo["id"])))
    # taskinfo of the newRepo task through the CLI
    out = hub.koji("taskinfo", "-r", new["task_id"]).stdout
    assert "Type: newRepo" in out and "Type: createrepo" in out and "State: closed" in out


def test_parent_tag_change_regenerates_child_build_tag(qhub, demo_rpms):
    hub = qhub
    hub.add_builder_hosts(names=("b1",))
    hub.start_builder("b1")
    srpms, rpms = demo_rpms
    hub.koji("add-tag", "base", "--arches", "x86_64")
    hub.koji("add-tag", "child-build", "--parent", "base", "--arches", "x86_64")
    hub.koji("add-tag", "dest")
    hub.koji("add-target", "tgt", "child-build", "dest")
    s = hub.session()
    deadline = time.monotonic() + 60
    while not s.getRepo("child-build"):   # the new build tag gets its first repo by itself
        assert time.monotonic() < deadline
        time.sleep(0.3)
    first = s.getRepo("child-build")
    assert _pkglist(hub, "child-build", first["id"]) == []
    # tag a build into the PARENT; nobody asks for a repo
    _import(hub, "base", [p for p in srpms + rpms if "alpha" in p], ["alpha"])
    hub.koji("call", "tagBuildBypass", "base", "alpha-1.0-1")
    last = s.tagLastChangeEvent("child-build")   # inherited: the tagging into base
    assert last == s.tagLastChangeEvent("base")
    deadline = time.monotonic() + 60
    while True:
        repo = s.getRepo("child-build")
        if repo["create_event"] >= last:
            break
        assert time.monotonic() < deadline, "child build tag repo was not regenerated"
        time.sleep(0.3)
    assert _pkglist(hub, "child-build", repo["id"]) == ["alpha-1.0-1.x86_64.rpm"]
    assert repo["create_event"] >= s.tagLastChangeEvent("base")
    assert s.repoInfo(first["id"])["state"] in (koji.REPO_STATES["EXPIRED"],
                                                koji.REPO_STATES["DELETED"])
    owner = s.getTaskInfo(repo["task_id"])["owner"]
    assert s.getUser(owner)["name"] == "kojira"
