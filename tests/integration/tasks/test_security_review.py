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


def _log_metadata(name, release, files, cg="seccg"):
    """CG metadata (version 0) of build ``name-1-<release>`` whose outputs are logs."""
    output = [{"buildroot_id": 1, "filename": fn, "filesize": len(data), "arch": "noarch",
               "checksum_type": "sha256", "checksum": hashlib.sha256(data).hexdigest(),
               "type": "log"} for fn, data in files]
    return {"metadata_version": 0,
            "build": {"name": name, "version": "1", "release": release,
                      "start_time": 1700000000, "end_time": 1700000100},
            "buildroots": [{"id": 1, "host": {"os": "Fedora 40", "arch": "x86_64"},
                            "content_generator": {"name": cg, "version": "0.1"},
                            "container": {"type": "none", "arch": "x86_64"},
                            "tools": [], "components": []}],
            "output": output}


def test_cg_import_takes_only_the_importers_uploads(qhub, tmp_path):
    """A content generator user may import only files it uploaded itself: not another user's
    upload directory, nor a task's output (CGImport moves the files into the build)."""
    qhub.add_builder_hosts(names=("b1",))
    admin, alice, bob, b1 = (qhub.session(), qhub.session("alice"), qhub.session("b2"),
                             qhub.session("b1"))
    admin.grantCGAccess("alice", "seccg", create=True)
    data = b"bob's own build log\n"
    victim = tmp_path / "victim.log"
    victim.write_bytes(data)
    bob.uploadWrapper(str(victim), "cli-import/bob-1")      # an ordinary user's upload
    bob_file = os.path.join(qhub.topdir, "work", "cli-import", "bob-1", "victim.log")
    meta = _log_metadata("stolen", "1", [("victim.log", data)])
    msg = _refused(alice.CGImport, meta, "cli-import/bob-1", exc=koji.ActionNotAllowed)
    assert "cli-import/bob-1 was not uploaded to by alice" in msg, msg
    # nor as an uploaded metadata file in that directory
    mfile = tmp_path / "metadata.json"
    mfile.write_text(json.dumps(meta))
    bob.uploadWrapper(str(mfile), "cli-import/bob-1")
    _refused(alice.CGImport, "metadata.json", "cli-import/bob-1", exc=koji.ActionNotAllowed)
    # a task's output directory belongs to its task
    tid = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid)["id"] == tid
    b1.uploadWrapper(str(victim), koji.pathinfo.taskrelpath(tid))
    _refused(alice.CGImport, meta, koji.pathinfo.taskrelpath(tid), exc=koji.ActionNotAllowed)
    # ... and image archives the same way
    admin.grantPermission("alice", "image-import", create=True)
    disk = tmp_path / "img-1-1.x86_64.qcow2"
    disk.write_bytes(b"QFI\xfb" + b"\0" * 64)
    bob.uploadWrapper(str(disk), "cli-import/bob-2")
    alice.createImageBuild({"name": "img", "version": "1", "release": "1"})
    _refused(alice.importArchive, "cli-import/bob-2/img-1-1.x86_64.qcow2", "img-1-1", "image",
             {"arch": "x86_64"}, exc=koji.ActionNotAllowed)
    assert alice.listArchives(buildID=alice.getBuild("img-1-1")["id"]) == []
    # nothing moved, nothing imported
    assert os.path.isfile(bob_file) and not os.path.islink(bob_file)
    assert os.path.isfile(os.path.join(qhub.topdir, "work", koji.pathinfo.taskrelpath(tid),
                                       "victim.log"))
    assert os.path.isfile(os.path.join(qhub.topdir, "work", "cli-import", "bob-2",
                                       "img-1-1.x86_64.qcow2"))
    assert admin.getBuild("stolen-1-1") is None
    # the importer's own upload imports
    alice.uploadWrapper(str(victim), "cli-import/alice-1")
    build = alice.CGImport(meta, "cli-import/alice-1")
    assert build["nvr"] == "stolen-1-1" and build["cg_name"] == "seccg", build
    assert os.path.isfile(os.path.join(qhub.topdir, "packages", "stolen", "1", "1", "data",
                                       "logs", "victim.log"))


def test_cg_import_bounds(qhub, tmp_path):
    """Too many outputs or components, a metadata file over the size limit, not UTF-8 or nested
    too deeply: a clear fault before anything is read or written."""
    from pungi_like.buildsvc.hub import cg_import

    admin, alice = qhub.session(), qhub.session("alice")
    admin.grantCGAccess("alice", "seccg", create=True)
    meta = _log_metadata("bounded", "1", [("x.log", b"x")] * (cg_import.MAX_OUTPUTS + 1))
    msg = _refused(alice.CGImport, meta, "cli-import/a-1")
    assert "%d outputs, more than this hub's limit of %d" % (
        cg_import.MAX_OUTPUTS + 1, cg_import.MAX_OUTPUTS) in msg, msg
    meta = _log_metadata("bounded", "1", [("x.log", b"x")])
    meta["buildroots"][0]["components"] = [{"type": "file"}] * (cg_import.MAX_COMPONENTS + 1)
    assert "more than this hub's limit of %d" % cg_import.MAX_COMPONENTS in _refused(
        alice.CGImport, meta, "cli-import/a-1")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{}")
    alice.uploadWrapper(str(bad), "cli-import/a-2")
    assert "not UTF-8" in _refused(alice.CGImport, "bad.json", "cli-import/a-2")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    alice.uploadWrapper(str(deep), "cli-import/a-2")
    assert "Invalid metadata" in _refused(alice.CGImport, "deep.json", "cli-import/a-2")
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(cg_import.MAX_METADATA_BYTES + 1)
    alice.uploadWrapper(str(big), "cli-import/a-2")
    assert "larger than %d bytes" % cg_import.MAX_METADATA_BYTES in _refused(
        alice.CGImport, "big.json", "cli-import/a-2")
    assert admin.getBuild("bounded-1-1") is None
