"""The createrepo task reads its pkglist where the previous repo's tag name says while repoInfo
is asked (handlers/newrepo.create_repo), and again from the tag repoInfo names when that differs:
the packages it hands to createrepo are always those of the repo's own pkglist."""

from __future__ import annotations

import os
import types

import koji
import pytest

from pungi_like.buildsvc.builder.handlers import newrepo
from pungi_like.buildsvc.pathinfo import safe_join


class _Session:
    def __init__(self, tag_name):
        self.tag_name = tag_name

    def repoInfo(self, repo_id, strict=False):
        return {"id": repo_id, "tag_id": 2, "tag_name": self.tag_name, "create_event": 9,
                "state": koji.REPO_STATES["INIT"]}

    def getExternalRepoList(self, tag_id, event=None):
        return []


def _ctx(top, tag_name):
    ctx = types.SimpleNamespace(session=_Session(tag_name), topdir=str(top),
                                workdir=str(top / "work"), upload_path="tasks/1/1")
    ctx.hub_file = lambda rel: safe_join(str(top), rel)
    ctx.hub_files = lambda rels: [safe_join(str(top), r) for r in rels]
    ctx.log = types.SimpleNamespace(info=lambda *a: None)
    ctx.upload_many = lambda files, with_logs=False: None
    return ctx


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
