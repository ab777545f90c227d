"""The createrepo task reads its pkglist where the previous repo's tag name says while repoInfo
is asked (handlers/newrepo.create_repo), and again from the tag repoInfo names when that differs:
the packages it hands to createrepo are always those of the repo's own pkglist."""

from __future__ import annotations

import json
import os
import types

import koji
import pytest

from pungi_like.buildsvc.builder.handlers import newrepo
from pungi_like.buildsvc.pathinfo import safe_join


class _Session:
    """repoInfo and getExternalRepoList of a repo of tag id 2 at event 9, alone or in a
    multicall (koji's ``with session.multicall() as m``); ``calls`` records each request."""

    def __init__(self, tag_name):
        self.tag_name = tag_name
        self.calls = []

    def _repo_info(self, repo_id, strict=False):
        return {"id": repo_id, "tag_id": 2, "tag_name": self.tag_name, "create_event": 9,
                "state": koji.REPO_STATES["INIT"]}

    def _external(self, tag_id, event=None):
        return [{"url": "file:///ext/%s/%s" % (tag_id, event), "priority": 5,
                 "merge_mode": "koji"}]

    def repoInfo(self, *args, **kw):
        self.calls.append(["repoInfo"])
        return self._repo_info(*args, **kw)

    def getExternalRepoList(self, *args, **kw):
        self.calls.append(["getExternalRepoList"])
        return self._external(*args, **kw)

    def multicall(self, strict=False):
        session = self

        class _Multi:
            def __init__(self):
                self.names = []

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                session.calls.append(self.names)

            def __getattr__(self, name):
                def call(*args, **kw):
                    self.names.append(name)
                    return types.SimpleNamespace(
                        result=getattr(session, "_" + _PRIVATE[name])(*args, **kw))
                return call

        return _Multi()


_PRIVATE = {"repoInfo": "repo_info", "getExternalRepoList": "external"}


def _ctx(top, tag_name):
    ctx = types.SimpleNamespace(session=_Session(tag_name), topdir=str(top),
                                workdir=str(top / "work"), upload_path="tasks/1/1")
    ctx.hub_file = lambda rel: safe_join(str(top), rel)
    ctx.hub_files = lambda rels: [safe_join(str(top), r) for r in rels]
    ctx.log = types.SimpleNamespace(info=lambda *a: None)
    ctx.upload_many = lambda files, with_logs=False: None
    ctx.upload_and_close = lambda files, result: result
    ctx.cache_dir = lambda name: str(top / "cache" / name)
    return ctx


def _repo_json(top, tag, tag_id, event_id):
    d = top / "repos" / tag / "5"
    d.mkdir(parents=True, exist_ok=True)
    (d / "repo.json").write_text(json.dumps({"id": 5, "tag": tag, "tag_id": tag_id,
                                             "event_id": event_id}))


def _pkglist(top, tag, names):
    d = top / "repos" / tag / "5" / "x86_64"
    d.mkdir(parents=True)
    (d / "pkglist").write_text("".join("toplink/packages/%s\n" % n for n in names))


@pytest.mark.parametrize("old_tag", ["build", "renamed-since", None])
def test_packages_come_from_the_repos_own_pkglist(tmp_path, monkeypatch, old_tag):
    _pkglist(tmp_path, "build", ["a.rpm", "b.rpm"])
    if old_tag == "renamed-since":
        _pkglist(tmp_path, old_tag, ["stale.rpm"])
    got = {}

    def generate(outdir, paths, **kw):
        got.update(paths)
        os.makedirs(os.path.join(outdir, "x86_64", "repodata"))
        return {"x86_64": {"packages": 2, "internal": 2, "seconds": 0.0}}

    monkeypatch.setattr(newrepo, "generate_repo", generate)
    oldrepo = {"id": 4, "tag_id": 2, "tag_name": old_tag} if old_tag else None
    newrepo.create_repo(_ctx(tmp_path, "build"), 5, "x86_64", oldrepo)
    assert [os.path.basename(p) for p in got["x86_64"]] == ["a.rpm", "b.rpm"]


@pytest.mark.parametrize("written, calls", [
    # repo.json names the repo's tag and event: repoInfo and the external repos in one call
    ((2, 9), [["repoInfo", "getExternalRepoList"]]),
    # it names another event (or tag): that list is not used, the list is asked again
    ((2, 8), [["repoInfo", "getExternalRepoList"], ["getExternalRepoList"]]),
    ((3, 9), [["repoInfo", "getExternalRepoList"], ["getExternalRepoList"]]),
    # no repo.json: repoInfo, then the list of the tag and event it names
    (None, [["repoInfo"], ["getExternalRepoList"]]),
])
def test_external_repos_as_of_the_repos_own_tag_and_event(tmp_path, monkeypatch, written,
                                                           calls):
    _pkglist(tmp_path, "build", ["a.rpm"])
    if written:
        _repo_json(tmp_path, "build", *written)
    got = {}

    def generate(outdir, paths, **kw):
        got.update(kw)
        os.makedirs(os.path.join(outdir, "x86_64", "repodata"))
        return {"x86_64": {"packages": 1, "internal": 1, "seconds": 0.0}}

    monkeypatch.setattr(newrepo, "generate_repo", generate)
    ctx = _ctx(tmp_path, "build")
    newrepo.create_repo(ctx, 5, "x86_64", {"id": 4, "tag_id": 2, "tag_name": "build"})
    assert ctx.session.calls == calls
    assert got["external_repos"] == [("file:///ext/2/9", 5, "koji")]
