"""Security review of this session's new hub paths (issue 8/11 follow-up), on a real hub over
HTTPS with real clients (koji.ClientSession with the users' and hosts' certificates), SQLite and
PostgreSQL: what a host may move with host.repoDone / host.distRepoMove, whose upload directory a
content generator import may take files from, and the bounds of an import's metadata."""

from __future__ import annotations

import hashlib
import json
import os

import koji
import pytest

pytestmark = pytest.mark.integration


def _refused(call, *args, exc=koji.GenericError, **kwargs):
    with pytest.raises(exc) as info:
        call(*args, **kwargs)
    text = str(info.value)
    for leak in ("<class ", "Traceback", "SELECT ", 'File "', "/tmp/", "/work/", "/root/"):
        assert leak not in text, text
    return text


def test_repo_done_moves_stay_in_the_repo(qhub, tmp_path):
    """A host finishing its own repo cannot name an arch or file that leads out of the repo."""
    qhub.add_builder_hosts()
    admin, b1 = qhub.session(), qhub.session("b1")
    admin.createTag("sec-build", arches="x86_64")
    tid = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid)["id"] == tid
    repo_id, _event = b1.host.repoInit("sec-build", task_id=tid)
    src = tmp_path / "repomd.xml"
    src.write_text("<repomd/>\n")
    up = koji.pathinfo.taskrelpath(tid)
    b1.uploadWrapper(str(src), up)
    uploaded = os.path.join(qhub.topdir, "work", up, "repomd.xml")
    assert os.path.isfile(uploaded)
    # a directory that exists outside the repo: the hub's own packages/ and an absolute path
    for arch in ("../../../packages", "..", "/tmp", "x86_64/../../..", ""):
        msg = _refused(b1.host.repoDone, repo_id, {arch: [up, ["repomd.xml"]]})
        assert "arch" in msg, msg
    for fn in ("../repomd.xml", "/etc/passwd", "a/../repomd.xml", ".user", 5):
        _refused(b1.host.repoDone, repo_id, {"x86_64": [up, [fn]]})
    _refused(b1.host.repoDone, repo_id, {"x86_64": [up, ["repomd.xml"]]},
             repo_json_updates=["not", "a", "map"], exc=koji.ParameterError)
    assert os.path.isfile(uploaded)
    assert not os.path.exists(os.path.join(qhub.topdir, "packages", "repodata"))
    assert admin.repoInfo(repo_id)["state"] == koji.REPO_STATES["INIT"]
    # the host's own upload still goes where it belongs
    b1.host.repoDone(repo_id, {"x86_64": [up, ["repomd.xml"]]})
    info = admin.repoInfo(repo_id)
    assert info["state"] == koji.REPO_STATES["READY"]
    moved = os.path.join(qhub.topdir, "repos", "sec-build", str(repo_id), "x86_64", "repodata",
                         "repomd.xml")
    with open(moved) as f:
        assert f.read() == "<repomd/>\n"
