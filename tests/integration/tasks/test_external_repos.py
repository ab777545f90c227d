"""External repos over HTTP in build tag repos, through the real koji CLI and a real builder:
``add-external-repo`` / ``edit-external-repo`` (priority, merge mode, ``$arch``), then
``regen-repo --wait``; the generated repodata is read back."""

from __future__ import annotations

import os
import socket

import pytest

from pungi_like.rpmtools.repodata import createrepo
from pungi_like.universe.rpmbuild import Package, build_packages
from tests.httprepo import primary_records, serve_directory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The tag's own build (alpha 1.0) and two mirrors served over HTTP:
    ``a/x86_64/``: alpha 2.0 (newer than the tag's) and gamma 1.0;
    ``b/x86_64/``: gamma 2.0 and delta 1.0."""
    root = tmp_path_factory.mktemp("extweb")
    work = tmp_path_factory.mktemp("extwork")

    def build(out, pkgs):
        res = build_packages([Package(n, v, arch="x86_64", files={f"/usr/bin/{n}": f"{n} {v}\n"})
                              for n, v in pkgs], out, workdir=work)
        return res

    own = build(root / "own", [("alpha", "1.0")])
    build(root / "a" / "x86_64", [("alpha", "2.0"), ("gamma", "1.0")])
    build(root / "b" / "x86_64", [("gamma", "2.0"), ("delta", "1.0")])
    for sub in ("a", "b"):
        createrepo(str(root / sub / "x86_64"))
    with serve_directory(root) as srv:
        srv.own = sorted(own.srpms) + sorted(own.rpms)
        yield srv


def _repo_records(hub, tag):
    repo = hub.session().getRepo(tag)
    return repo, primary_records(os.path.join(hub.topdir, "repos", tag, str(repo["id"]),
                                              "x86_64"))


def test_http_external_repos_modes_and_priority_cli(qhub, web):
    hub = qhub
    hub.add_builder_hosts(names=("b1",))
    hub.start_builder("b1")
    hub.koji("add-tag", "ext-build", "--arches", "x86_64")
    hub.koji("add-pkg", "--owner", "kojiadmin", "ext-build", "alpha")
    hub.koji("import", *web.own)
    hub.koji("call", "tagBuildBypass", "ext-build", "alpha-1.0-1")
    a, b = web.url + "a/$arch/", web.url + "b/$arch/"
    hub.koji("add-external-repo", "-t", "ext-build", "-p", "10", "-m", "koji", "mirror-a", a)
    hub.koji("add-external-repo", "-t", "ext-build", "-p", "20", "-m", "koji", "mirror-b", b)
    out = hub.koji("list-external-repos", "--tag", "ext-build").stdout
    assert "mirror-a" in out and "mirror-b" in out
    ra, rb = a.replace("$arch", "x86_64"), b.replace("$arch", "x86_64")

    # koji mode: the tag keeps alpha (the mirror's newer 2.0 is dropped), mirror-a (priority
    # 10) wins gamma over mirror-b (20), delta comes from mirror-b
    hub.koji("regen-repo", "--wait", "ext-build")
    repo, recs = _repo_records(hub, "ext-build")
    assert recs == [("alpha", "1.0", ""), ("delta", "1.0", rb), ("gamma", "1.0", ra)]

    # swap priorities: mirror-b now wins gamma
    hub.koji("edit-external-repo", "-t", "ext-build", "-p", "30", "mirror-a")
    hub.koji("regen-repo", "--wait", "ext-build")
    repo, recs = _repo_records(hub, "ext-build")
    assert recs == [("alpha", "1.0", ""), ("delta", "1.0", rb), ("gamma", "2.0", rb)]

    # simple: everything from every repo
    for name in ("mirror-a", "mirror-b"):
        hub.koji("edit-external-repo", "-t", "ext-build", "-m", "simple", name)
    hub.koji("regen-repo", "--wait", "ext-build")
    repo, recs = _repo_records(hub, "ext-build")
    assert recs == [("alpha", "1.0", ""), ("alpha", "2.0", ra), ("delta", "1.0", rb),
                    ("gamma", "1.0", ra), ("gamma", "2.0", rb)]
    assert "ext-build" in hub.koji("repoinfo", str(repo["id"])).stdout

    # blocking alpha in the tag removes the mirror's alpha too (simple honours the blocklist);
    # bare does not
    hub.koji("block-pkg", "ext-build", "alpha")
    hub.koji("regen-repo", "--wait", "ext-build")
    _, recs = _repo_records(hub, "ext-build")
    assert [r for r in recs if r[0] == "alpha"] == []
    for name in ("mirror-a", "mirror-b"):
        hub.koji("edit-external-repo", "-t", "ext-build", "-m", "bare", name)
    hub.koji("regen-repo", "--wait", "ext-build")
    _, recs = _repo_records(hub, "ext-build")
    assert [r for r in recs if r[0] == "alpha"] == [("alpha", "2.0", ra)]
    assert not any(p.endswith(".rpm") for p in web.requests)


def test_unreachable_mirror_fails_the_repo_naming_the_url(sqlite_qhub, web):
    hub = sqlite_qhub
    hub.add_builder_hosts(names=("b1",))
    hub.start_builder("b1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d/gone/" % sock.getsockname()[1]
    hub.koji("add-tag", "dead-build", "--arches", "x86_64")
    hub.koji("add-external-repo", "-t", "dead-build", "-p", "5", "gone", dead)
    res = hub.koji("regen-repo", "--wait", "dead-build", check=False)
    assert res.returncode != 0
    s = hub.session()
    tasks = s.listTasks(opts={"method": "createrepo", "decode": True})
    assert tasks and tasks[-1]["state"] == 5          # FAILED
    try:
        s.getTaskResult(tasks[-1]["id"])
        raise AssertionError("the createrepo task did not fail")
    except Exception as exc:  # koji.GenericError carrying the builder's fault
        msg = str(exc)
    assert "failed to merge repos: external repo %s: " % dead in msg
    assert "cannot connect" in msg and "Traceback" not in msg
    assert not msg.startswith(("RepoGenError", "RemoteRepoError")), msg
    assert s.getRepo("dead-build") is None
