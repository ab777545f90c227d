"""``koji dist-repo`` through the real CLI against a real hub and builder: a distRepo task whose
createdistrepo children select the copies signed with the given key, host.distRepoMove puts them
with their repodata under ``repos-dist/<tag>/<id>/<arch>/``, and the repo is a READY dist repo.
Unsigned packages fail the task with Koji's message unless skipped or allowed."""

from __future__ import annotations

import glob
import os
import shutil
import time

import koji
import pytest

from pungi_like.universe.rpmbuild import Package, Subpackage, build_packages
from tests.httprepo import primary_records

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signed_rpms(tmp_path_factory):
    """alpha (x86_64, with an alpha-debuginfo subpackage), beta (noarch) and gamma: built, and
    copies of alpha's and beta's RPMs signed by a throwaway key (gamma stays unsigned)."""
    from pungi_like.buildsvc.seed import GpgKey, rpmsign

    out = tmp_path_factory.mktemp("distrpms")
    res = build_packages([
        Package("alpha", "1.0", arch="x86_64", files={"/usr/bin/alpha": "alpha\n"},
                subpackages=[Subpackage("alpha-debuginfo",
                                        files={"/usr/lib/debug/alpha.debug": "dbg\n"})]),
        Package("beta", "1.0", arch="noarch", files={"/usr/share/beta": "old beta\n"}),
        Package("beta", "2.0", arch="noarch", files={"/usr/share/beta": "beta\n"}),
        Package("gamma", "3.0", arch="x86_64", files={"/usr/bin/gamma": "gamma\n"}),
    ], out, workdir=tmp_path_factory.mktemp("distwork"))
    key = GpgKey.create(str(tmp_path_factory.mktemp("distgpg") / "home"),
                        uid="Dist Key <dist@example.invalid>")
    signed_dir = tmp_path_factory.mktemp("signed")
    copies = []
    for path in res.rpms + res.srpms:
        if os.path.basename(path).startswith(("alpha", "beta")):
            copy = os.path.join(str(signed_dir), os.path.basename(path))
            shutil.copyfile(path, copy)
            copies.append(copy)
    rpmsign(key, copies)
    yield {"files": sorted(res.rpms + res.srpms), "copies": copies, "key": key}
    key.stop_agent()


def _sigkey_of(path):
    return koji.get_sighdr_key(koji.rip_rpm_sighdr(path))


def _setup(hub, signed_rpms, tmp_path):
    hub.add_builder_hosts(names=("b1",))
    hub.start_builder("b1")
    hub.koji("add-tag", "dist-tag", "--arches", "x86_64")
    hub.koji("add-pkg", "--owner", "kojiadmin", "dist-tag", "alpha", "beta", "gamma")
    hub.koji("import", *signed_rpms["files"])
    for nvr in ("alpha-1.0-1", "beta-1.0-1", "beta-2.0-1"):   # beta-2.0-1 is the latest
        hub.koji("call", "tagBuildBypass", "dist-tag", nvr)
    out = hub.koji("import-sig", *signed_rpms["copies"]).stdout
    assert "Importing signature" in out
    comps = tmp_path / "comps.xml"
    comps.write_text(koji.generate_comps([{
        "name": "dist-group", "display_name": "Dist group", "is_default": True,
        "uservisible": True, "description": "", "langonly": None, "biarchonly": False,
        "exported": True, "packagelist": [{"package": "alpha", "type": "mandatory",
                                           "basearchonly": False, "requires": None}],
        "grouplist": []}]))
    return str(comps)


def test_dist_repo_with_signed_copies_cli(qhub, signed_rpms, tmp_path):
    hub = qhub
    comps = _setup(hub, signed_rpms, tmp_path)
    sigkey = signed_rpms["key"].sigkey
    res = hub.koji("dist-repo", "--wait", "--with-src", "--split-debuginfo", "--comps", comps,
                   "dist-tag", sigkey.upper())
    assert "Creating dist repo for tag dist-tag" in res.stdout
    s = hub.session()
    repo = s.getRepo("dist-tag", dist=True)
    assert repo and repo["dist"] is True and repo["state"] == koji.REPO_STATES["READY"]
    assert s.getRepo("dist-tag") is None          # not a build repo
    info = hub.koji("repoinfo", str(repo["id"])).stdout
    assert "Dist repo?: yes" in info and "Tag name: dist-tag" in info
    # Koji Web's repoinfo page links the dist repo's files
    import requests

    page = requests.get(hub.url.replace("/kojihub", "/koji/repoinfo"),
                        params={"repoID": repo["id"]}, timeout=60,
                        verify=os.path.join(hub.pki, "ca.crt"))
    assert page.status_code == 200
    assert 'href="/kojifiles/repos-dist/dist-tag/%d/"' % repo["id"] in page.text
    task = s.getTaskInfo(repo["task_id"])
    assert task["method"] == "distRepo" and task["state"] == koji.TASK_STATES["CLOSED"]
    assert s.getTaskResult(task["id"]) == \
        "Dist repository #%d successfully generated" % repo["id"]
    kids = sorted((k["label"], k["method"]) for k in s.getTaskChildren(task["id"]))
    assert kids == [("src", "createdistrepo"), ("x86_64", "createdistrepo")]

    base = os.path.join(hub.topdir, "repos-dist", "dist-tag", str(repo["id"]))
    assert os.readlink(os.path.join(hub.topdir, "repos-dist", "dist-tag", "latest")) == \
        str(repo["id"])
    x86 = os.path.join(base, "x86_64")
    # the RPM files are the signed copies, in Packages/<letter>/
    alpha = os.path.join(x86, "Packages", "a", "alpha-1.0-1.x86_64.rpm")
    beta = os.path.join(x86, "Packages", "b", "beta-2.0-1.noarch.rpm")
    debug = os.path.join(x86, "Packages", "a", "alpha-debuginfo-1.0-1.x86_64.rpm")
    for path in (alpha, beta, debug):
        assert _sigkey_of(path) == sigkey, path
    # the main repo lists alpha and beta; debuginfo is in the debug sub-repo
    assert [(n, v) for n, v, _ in primary_records(x86)] == [("alpha", "1.0"), ("beta", "2.0")]
    assert [(n, v) for n, v, _ in primary_records(os.path.join(x86, "debug"))] == [
        ("alpha-debuginfo", "1.0")]
    assert open(os.path.join(x86, "pkglist")).read().split() == [
        "Packages/a/alpha-1.0-1.x86_64.rpm", "Packages/b/beta-2.0-1.noarch.rpm"]
    assert glob.glob(os.path.join(x86, "repodata", "*-comps.xml*"))   # --comps
    import json

    kojipkgs = json.load(open(os.path.join(x86, "kojipkgs")))
    assert sorted(kojipkgs) == ["alpha-1.0-1.x86_64.rpm", "alpha-debuginfo-1.0-1.x86_64.rpm",
                                "beta-2.0-1.noarch.rpm"]
    assert {v["sigkey"] for v in kojipkgs.values()} == {sigkey}
    # --with-src: the SRPMs, signed, in their own arch
    src = os.path.join(base, "src")
    assert [(n, v) for n, v, _ in primary_records(src)] == [("alpha", "1.0"), ("beta", "2.0")]
    assert _sigkey_of(os.path.join(src, "Packages", "a", "alpha-1.0-1.src.rpm")) == sigkey
    # a dist repo resolves like any yum repo: libsolv loads it and the files are there
    from pungi_like.rpmtools.depsolve import Depsolver, Repo

    d = Depsolver([Repo("dist", x86)], "x86_64")
    assert sorted(p.nevra for p in d.pkgs.values()) == ["alpha-0:1.0-1.x86_64",
                                                        "beta-0:2.0-1.noarch"]
    assert all(os.path.isfile(p.path) for p in d.pkgs.values())


def test_unsigned_packages_fail_unless_skipped_or_allowed(sqlite_qhub, signed_rpms, tmp_path):
    hub = sqlite_qhub
    _setup(hub, signed_rpms, tmp_path)
    hub.koji("call", "tagBuildBypass", "dist-tag", "gamma-3.0-1")
    sigkey = signed_rpms["key"].sigkey
    s = hub.session()
    res = hub.koji("dist-repo", "--wait", "dist-tag", sigkey, check=False)
    assert res.returncode != 0
    failed = s.listTasks(opts={"method": "createdistrepo", "decode": True})[-1]
    assert failed["state"] == koji.TASK_STATES["FAILED"]
    with pytest.raises(koji.GenericError, match="Unsigned packages found. See "
                                                "missing_signatures.log"):
        s.getTaskResult(failed["id"])
    log = s.downloadTaskOutput(failed["id"], "missing_signatures.log").decode()
    assert "Requested keys: ['%s']" % sigkey in log
    assert "gamma-3.0-1.x86_64: ['']" in log
    repo_id = s.getTaskInfo(failed["parent"], request=True)["request"][1]
    # never READY: the housekeeping (kojira's check_init) marks it PROBLEM
    deadline = time.monotonic() + 60
    while s.repoInfo(repo_id)["state"] != koji.REPO_STATES["PROBLEM"]:
        assert s.repoInfo(repo_id)["state"] == koji.REPO_STATES["INIT"]
        assert time.monotonic() < deadline, s.repoInfo(repo_id)
        time.sleep(0.3)
    assert s.getRepo("dist-tag", dist=True) is None

    # --skip-missing-signatures: gamma left out
    hub.koji("dist-repo", "--wait", "--skip-missing-signatures", "dist-tag", sigkey)
    repo = s.getRepo("dist-tag", dist=True)
    x86 = os.path.join(hub.topdir, "repos-dist", "dist-tag", str(repo["id"]), "x86_64")
    assert [n for n, _, _ in primary_records(x86)] == ["alpha", "alpha-debuginfo", "beta"]
    # --allow-missing-signatures: gamma's unsigned copy
    hub.koji("dist-repo", "--wait", "--allow-missing-signatures", "dist-tag", sigkey)
    newer = s.getRepo("dist-tag", dist=True)
    assert newer["id"] > repo["id"]
    x86 = os.path.join(hub.topdir, "repos-dist", "dist-tag", str(newer["id"]), "x86_64")
    assert [n for n, _, _ in primary_records(x86)] == ["alpha", "alpha-debuginfo", "beta",
                                                       "gamma"]
    assert _sigkey_of(os.path.join(x86, "Packages", "g", "gamma-3.0-1.x86_64.rpm")) is None

    # a signature whose signed copy is gone: missing files, unless --write-signed-rpms
    signed_beta = os.path.join(hub.topdir, "packages", "beta", "2.0", "1", "data", "signed",
                               sigkey, "noarch", "beta-2.0-1.noarch.rpm")
    os.unlink(signed_beta)
    res = hub.koji("dist-repo", "--wait", "--skip-missing-signatures", "dist-tag", sigkey,
                   check=False)
    assert res.returncode != 0
    failed = s.listTasks(opts={"method": "createdistrepo", "decode": True})[-1]
    with pytest.raises(koji.GenericError, match="Packages missing from the filesystem. See "
                                                "missing_files.log."):
        s.getTaskResult(failed["id"])
    assert "beta-2.0-1.noarch.rpm" in s.downloadTaskOutput(failed["id"],
                                                           "missing_files.log").decode()
    hub.koji("dist-repo", "--wait", "--skip-missing-signatures", "--write-signed-rpms",
             "dist-tag", sigkey)
    assert _sigkey_of(signed_beta) == sigkey
    written = s.getRepo("dist-tag", dist=True)
    assert written["id"] > newer["id"]
    assert _sigkey_of(os.path.join(hub.topdir, "repos-dist", "dist-tag", str(written["id"]),
                                   "x86_64", "Packages", "b", "beta-2.0-1.noarch.rpm")) == sigkey

    # --non-latest: every tagged build, beta-1.0 too
    hub.koji("dist-repo", "--wait", "--non-latest", "--skip-missing-signatures", "dist-tag",
             sigkey)
    every = s.getRepo("dist-tag", dist=True)
    x86 = os.path.join(hub.topdir, "repos-dist", "dist-tag", str(every["id"]), "x86_64")
    assert [(n, v) for n, v, _ in primary_records(x86)] == [
        ("alpha", "1.0"), ("alpha-debuginfo", "1.0"), ("beta", "1.0"), ("beta", "2.0")]

    # a key with no signatures on the hub: nothing signed with it
    res = hub.koji("dist-repo", "--wait", "dist-tag", "0badc0de", check=False)
    assert res.returncode != 0
    # refused options and hostile calls
    with pytest.raises(koji.GenericError, match="multilib are not supported"):
        s.distRepo("dist-tag", [sigkey], arch=["x86_64"], multilib="work/ml.conf")
    with pytest.raises(koji.ParameterError, match="'inherit' must be a boolean"):
        s.distRepo("dist-tag", [sigkey], arch=["x86_64"], inherit="yes")
    with pytest.raises(koji.ParameterError, match="Unknown dist repo option"):
        s.distRepo("dist-tag", [sigkey], arch=["x86_64"], bogus=1)
    with pytest.raises(koji.ParameterError, match="Invalid signing key id"):
        s.distRepo("dist-tag", ["../../x"], arch=["x86_64"])
    hub.add_builder_hosts(names=("b2",))   # a host with no builder running: holds nothing
    host = hub.session("b2")
    with pytest.raises(koji.GenericError, match="host b2 does not hold task %d" % newer["task_id"]):
        host.host.distRepoMove(newer["id"], "tasks/1/1", "x86_64")
    with pytest.raises(koji.GenericError, match="holds no dist repo task"):
        host.host.writeSignedRPM("alpha-1.0-1.x86_64", sigkey)


def test_old_dist_repos_expire_and_lose_their_files(tmp_path, task_pki, signed_rpms):
    """kojira's dist_repo_lifetime (0 here): a newer dist repo of the tag expires the older one,
    whose files go after the delete grace; the newest stays READY."""
    from tests.integration.tasks.conftest import start_queue_hub, stop_queue_hub

    hub = start_queue_hub(tmp_path, task_pki, "sqlite", dist_repo_lifetime=0.0)
    try:
        _setup(hub, signed_rpms, tmp_path)
        sigkey = signed_rpms["key"].sigkey
        s = hub.session()
        hub.koji("dist-repo", "--wait", "dist-tag", sigkey)
        first = s.getRepo("dist-tag", dist=True)
        first_dir = os.path.join(hub.topdir, "repos-dist", "dist-tag", str(first["id"]))
        assert os.path.isdir(first_dir)
        hub.koji("dist-repo", "--wait", "dist-tag", sigkey)
        second = s.getRepo("dist-tag", dist=True)
        assert second["id"] > first["id"]
        deadline = time.monotonic() + 60
        while s.repoInfo(first["id"])["state"] != koji.REPO_STATES["DELETED"]:
            assert time.monotonic() < deadline, s.repoInfo(first["id"])
            s.makeTask("sleep", [0])   # keep the builder polling (housekeeping runs on polls)
            time.sleep(0.5)
        assert not os.path.exists(first_dir)
        assert s.repoInfo(second["id"])["state"] == koji.REPO_STATES["READY"]
        assert os.path.isdir(os.path.join(hub.topdir, "repos-dist", "dist-tag",
                                          str(second["id"]), "x86_64", "repodata"))
    finally:
        stop_queue_hub(hub)
