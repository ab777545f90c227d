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


def _wait_repo_after(s, tag, event, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        repo = s.getRepo(tag)
        if repo and repo["create_event"] >= event:
            return repo
        assert time.monotonic() < deadline, "no repo of %s at event %s" % (tag, event)
        time.sleep(0.2)


def _decompressed(repodir, kind):
    import glob
    import gzip

    (path,) = glob.glob(os.path.join(repodir, "repodata", "*-%s.xml.gz" % kind))
    with gzip.open(path) as f:
        return f.read()


def test_tag_change_repo_at_next_poll_and_createrepo_update(tmp_path, task_pki, demo_rpms):
    """A committed tag change is looked at on the next builder poll, not after the scheduler's
    interval (an hour here, so only that path can make the repos in time); the createrepo child
    reuses the previous repo's records (kojid: createrepo_c --update; here taken as they are,
    the builder's createrepo_c having written them) and writes the same repodata as
    createrepo_c from scratch."""
    import subprocess

    from tests.integration.tasks.conftest import start_queue_hub, stop_queue_hub

    hub = start_queue_hub(tmp_path, task_pki, "sqlite", host_timeout=600.0, run_interval=3600.0)
    try:
        hub.add_builder_hosts(names=("b1",))
        hub.start_builder("b1")
        srpms, rpms = demo_rpms
        hub.koji("add-tag", "fast-build", "--arches", "x86_64")
        hub.koji("add-tag", "fast-dest")
        _import(hub, "fast-build", srpms + rpms, ["alpha", "beta"])
        # imported long before the repos are made, as a build usually is: a record is taken
        # only when written in a later second than the file's mtime (repowrite.written_after)
        for folder, _dirs, names in os.walk(os.path.join(hub.topdir, "packages")):
            for name in names:
                os.utime(os.path.join(folder, name), (1_700_000_000, 1_700_000_000))
        s = hub.session()
        s.createBuildTarget("fast", "fast-build", "fast-dest")
        s.tagBuildBypass("fast-build", "alpha-1.0-1")
        first = _wait_repo_after(s, "fast-build", s.tagLastChangeEvent("fast-build"))
        assert _pkglist(hub, "fast-build", first["id"]) == ["alpha-1.0-1.x86_64.rpm"]
        s.tagBuildBypass("fast-build", "beta-2.0-1")
        repo = _wait_repo_after(s, "fast-build", s.tagLastChangeEvent("fast-build"))
        assert repo["id"] > first["id"]
        arch_dir = os.path.join(hub.topdir, "repos", "fast-build", str(repo["id"]), "x86_64")
        assert _pkglist(hub, "fast-build", repo["id"]) == ["alpha-1.0-1.x86_64.rpm",
                                                           "beta-2.0-1.noarch.rpm"]
        (child,) = s.getTaskChildren(repo["task_id"])
        # newRepo's task log went with its repoDone, whole
        parent_log = s.downloadTaskOutput(repo["task_id"], "task.log").decode()
        assert "repo %d done" % repo["id"] in parent_log, parent_log
        log = s.downloadTaskOutput(child["id"], "createrepo.log").decode()
        # kojid's way, the previous repo's records for the packages it still lists: the
        # builder's createrepo_c wrote them (the first repo's child), so they are taken as
        # they are and only the new package is read (builder/newrepo.DumpedRepodata)
        assert "written from records: 2 packages, 1 records taken from" in log, log
        assert "1 files read" in log and "read (no record of the very file): toplink/" \
            "packages/beta/2.0/1/noarch/beta-2.0-1.noarch.rpm" in log, log
        (first_child,) = s.getTaskChildren(first["task_id"])
        first_log = s.downloadTaskOutput(first_child["id"], "createrepo.log").decode()
        assert "createrepo_c" in first_log and "written from records" not in first_log, \
            first_log
        # only the new repodata's files (the copied old ones were replaced, not kept beside)
        files = s.getTaskResult(child["id"])[1]
        assert sorted(f for f in files if f.endswith(".xml.gz")) == sorted(
            f for f in os.listdir(os.path.join(arch_dir, "repodata")) if f.endswith(".xml.gz"))
        assert len([f for f in files if f.endswith("primary.xml.gz")]) == 1, files
        # the same packages from scratch
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        os.symlink(hub.topdir, scratch / "toplink")
        with open(os.path.join(arch_dir, "pkglist")) as f:
            (scratch / "pkglist").write_text(f.read())
        subprocess.run(["createrepo_c", "--quiet", "--pkglist", str(scratch / "pkglist"),
                        "--no-database", "--general-compress-type", "gz", str(scratch)],
                       check=True)
        for kind in ("primary", "filelists", "other"):
            assert _decompressed(arch_dir, kind) == _decompressed(str(scratch), kind), kind
    finally:
        stop_queue_hub(hub)


def test_builder_woken_by_its_tasks(sqlite_qhub, demo_rpms):
    """A builder that polls only every 300 s still runs a newRepo and its createrepo child and
    wakes the parent at once: a task process that creates a subtask wakes its daemon (SIGUSR1),
    and so does one that ends (SIGCHLD), so only those wakes can finish the repo in time."""
    hub = sqlite_qhub
    hub.add_builder_hosts(names=("b1",))
    srpms, rpms = demo_rpms
    hub.koji("add-tag", "slow-build", "--arches", "x86_64")
    hub.koji("add-tag", "slow-dest")
    _import(hub, "slow-build", [p for p in srpms + rpms if "alpha" in p], ["alpha"])
    s = hub.session()
    s.tagBuildBypass("slow-build", "alpha-1.0-1")
    s.createBuildTarget("slow", "slow-build", "slow-dest")
    # its first poll finds the build tag's newRepo task; every later step needs a wake
    hub.start_builder("b1", extra=("--poll-interval", "300"))
    repo = _wait_repo_after(s, "slow-build", s.tagLastChangeEvent("slow-build"))
    assert repo["state"] == koji.REPO_STATES["READY"]
    assert _pkglist(hub, "slow-build", repo["id"]) == ["alpha-1.0-1.x86_64.rpm"]
    (child,) = s.getTaskChildren(repo["task_id"])
    assert child["method"] == "createrepo"
    assert child["state"] == koji.TASK_STATES["CLOSED"]
