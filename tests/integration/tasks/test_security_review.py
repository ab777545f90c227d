"""Security review of this session's new hub paths (issue 8/11 follow-up), on a real hub over
HTTPS with real clients (koji.ClientSession with the users' and hosts' certificates), SQLite and
PostgreSQL: what a host may move with host.repoDone / host.distRepoMove, whose upload directory a
content generator import may take files from, and the bounds of an import's metadata."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import koji
import pytest

pytestmark = pytest.mark.integration


def _refused(call, *args, exc=koji.GenericError, **kwargs):
    with pytest.raises(exc) as info:
        call(*args, **kwargs)
    text = str(info.value)
    # no internals: Python classes, tracebacks, SQL, or any absolute directory of this machine
    # (the temporary directory, the checkout, the home directory)
    checkout = os.path.dirname(os.path.abspath(__file__)).rsplit(os.sep + "tests" + os.sep, 1)[0]
    dirs = {tempfile.gettempdir(), os.path.dirname(checkout), os.path.expanduser("~")}
    for leak in ["<class ", "Traceback", "SELECT ", 'File "'] + [d.rstrip(os.sep) + os.sep
                                                               for d in dirs if d != os.sep]:
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


def test_dist_repo_move_refuses_links_and_other_tasks(qhub, tmp_path):
    """host.distRepoMove: only the host holding the dist repo's task, only from that task's
    output, no symlinks (a link moved into the repo would resolve from there), no '..'."""
    qhub.add_builder_hosts()
    admin, b1, b2 = qhub.session(), qhub.session("b1"), qhub.session("b2")
    admin.createTag("sec-dist", arches="x86_64")
    tid = admin.distRepo("sec-dist", [], arch=["x86_64"])
    repo = admin.getRepo("sec-dist", dist=True, state=koji.REPO_STATES["INIT"])
    assert repo["task_id"] == tid
    assert b1.host.openTask(tid)["id"] == tid
    up = koji.pathinfo.taskrelpath(tid)
    for name, text in (("repomd.xml", "<repomd/>\n"), ("kojipkgs", "{}"),
                       ("repo_manifest", json.dumps(["repodata/link.xml"]))):
        f = tmp_path / name
        f.write_text(text)
        b1.uploadWrapper(str(f), up if name != "repomd.xml" else up + "/repodata")
    updir = os.path.join(qhub.topdir, "work", up)
    os.symlink("repomd.xml", os.path.join(updir, "repodata", "link.xml"))
    _refused(b2.host.distRepoMove, repo["id"], up, "x86_64", exc=koji.ActionNotAllowed)
    other = admin.makeTask("sleep", [1])
    assert b2.host.openTask(other)["id"] == other
    msg = _refused(b1.host.distRepoMove, repo["id"], koji.pathinfo.taskrelpath(other), "x86_64",
                   exc=koji.ActionNotAllowed)
    assert "task %d or its subtasks" % tid in msg, msg
    assert "uploaded file missing: repodata/link.xml" in _refused(
        b1.host.distRepoMove, repo["id"], up, "x86_64")
    for bad in (["../../../x"], ["/etc/passwd"], ["repodata/../../x"]):
        (tmp_path / "repo_manifest").write_text(json.dumps(bad))
        b1.uploadWrapper(str(tmp_path / "repo_manifest"), up)
        assert "Invalid file in repo manifest" in _refused(
            b1.host.distRepoMove, repo["id"], up, "x86_64")
    _refused(b1.host.distRepoMove, repo["id"], up, "../../x86_64")
    archdir = os.path.join(qhub.topdir, "repos-dist", "sec-dist", str(repo["id"]), "x86_64")
    assert os.listdir(archdir) == []
    # the plain file moves
    (tmp_path / "repo_manifest").write_text(json.dumps(["repodata/repomd.xml"]))
    b1.uploadWrapper(str(tmp_path / "repo_manifest"), up)
    b1.host.distRepoMove(repo["id"], up, "x86_64")
    assert os.path.isfile(os.path.join(archdir, "repodata", "repomd.xml"))


def _http(port, request):
    """Send raw bytes to 127.0.0.1:port; returns (status, body) of the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:   # the server may answer and close before a too large request is all sent
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _get(port, path, method="GET"):
    return _http(port, b"%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                 % (method.encode(), path.encode()))


@pytest.fixture
def files_hub(tmp_path):
    """A hub serving /kojihub on one port and, with --files-listen, /kojifiles over plain HTTP
    on another (no TLS needed for either in this test)."""
    import socket
    import subprocess
    import sys
    import time

    from conftest import ADMIN, HUB, REPO_ROOT, _free_port

    topdir = str(tmp_path / "top")
    subprocess.run(HUB + ["init", "--topdir", topdir, "--admin", ADMIN], check=True,
                   capture_output=True, cwd=REPO_ROOT)
    port, fport = _free_port(), _free_port()
    log = open(tmp_path / "hub.log", "w")
    proc = subprocess.Popen(HUB + ["serve", "--topdir", topdir, "--listen", "127.0.0.1:%d" % port,
                                   "--files-listen", "127.0.0.1:%d" % fport,
                                   "--log-level", "WARNING"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", fport), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, \
                (tmp_path / "hub.log").read_text()
            time.sleep(0.1)
    assert sys.executable
    yield topdir, fport
    proc.terminate()
    proc.wait(timeout=20)


def test_files_listener_serves_only_the_top_directory(files_hub, tmp_path):
    topdir, port = files_hub
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    pkgdir = os.path.join(topdir, "packages", "p", "1", "1")
    os.makedirs(pkgdir)
    with open(os.path.join(pkgdir, "ok.txt"), "w") as f:
        f.write("inside\n")
    os.symlink(str(outside), os.path.join(topdir, "packages", "out-dir"))
    os.symlink(str(outside / "secret.txt"), os.path.join(pkgdir, "out-file.txt"))
    os.symlink("ok.txt", os.path.join(pkgdir, "in-link.txt"))
    os.symlink("../.hub", os.path.join(topdir, "packages", "hub-link"))   # inside, but hidden
    os.makedirs(os.path.join(topdir, "work", "cli-import", "u-1"))
    with open(os.path.join(topdir, "work", "cli-import", "u-1", ".user"), "w") as f:
        f.write("1")

    assert _get(port, "/kojifiles/packages/p/1/1/ok.txt") == (200, b"inside\n")
    assert _get(port, "/kojifiles/packages/p/1/1/in-link.txt") == (200, b"inside\n")
    status, body = _get(port, "/kojifiles/")
    assert status == 200 and b"packages/" in body and b".hub" not in body, body
    for path in ("/kojifiles/packages/out-dir/secret.txt", "/kojifiles/packages/out-dir/",
                 "/kojifiles/packages/p/1/1/out-file.txt", "/kojifiles/.hub/hub.json",
                 "/kojifiles/.hub/", "/kojifiles/work/cli-import/u-1/.user",
                 "/kojifiles/%2e%2e/%2e%2e/etc/passwd", "/kojifiles/%2E%2E%2F.hub%2Fhub.json",
                 "/kojifiles/../.hub/hub.json", "/kojifiles/packages/../../../etc/passwd",
                 "/kojifiles/packages/%2e%2e/.hub/hub.json", "/kojifiles/%2e%2e/",
                 "/kojifiles/packages/p/1/1/ok.txt%00.png", "/kojifiles/packages/hub-link/",
                 "/kojifiles/packages/hub-link/hub.json"):
        status, body = _get(port, path)
        assert status in (400, 403, 404), (path, status, body[:200])
        assert b"secret" not in body and b"db_url" not in body and b"root:" not in body, path
    # nothing but GET/HEAD of /kojifiles on this listener
    assert _get(port, "/kojifiles/packages/p/1/1/ok.txt", method="HEAD")[0] == 200
    assert _http(port, b"POST /kojihub HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       b"Connection: close\r\n\r\n")[0] == 404
    assert _get(port, "/koji/")[0] == 404
    assert _get(port, "/kojifiles/packages/p/1/1/ok.txt", method="DELETE")[0] == 404
    # request line and headers are bounded in size
    assert _get(port, "/kojifiles/" + "a" * 200000)[0] == 414
    assert _http(port, b"GET /kojifiles/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200000
                 + b"\r\nConnection: close\r\n\r\n")[0] == 413
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"c" * 100) for i in range(2000))
    assert _http(port, b"GET /kojifiles/ HTTP/1.1\r\nHost: x\r\n" + many
                 + b"Connection: close\r\n\r\n")[0] == 413
    assert _get(port, "/kojifiles/packages/p/1/1/ok.txt") == (200, b"inside\n")


def test_a_group_cannot_log_in(qhub):
    """A certificate whose name is a group's does not log in as that group (it would hold the
    group's permissions without being a member)."""
    admin = qhub.session()
    admin.newGroup("b2")
    admin.grantPermission("b2", "repo", create=True)
    with pytest.raises(koji.AuthError, match="logins by b2 are not allowed: it is a group"):
        qhub.session("b2")
    alice = qhub.session("alice")            # alice's account is made at her first login
    admin.addGroupMember("b2", "alice")
    assert "repo" in alice.getPerms()


def test_side_tag_macro_names_are_rpm_names(qhub):
    """editSideTag: a macro name is rpm's [A-Za-z_][A-Za-z0-9_]+ only and its value one line: a
    space, '%' or newline in the name, or a line break in the value, would define other macros
    than the parent tag allows in the buildroot's macros file."""
    admin, alice = qhub.session(), qhub.session("alice")
    admin.createTag("sec-base", arches="x86_64",
                    extra={"sidetag_rpm_macros_allowed": "dist_*"})
    side = alice.createSideTag("sec-base")["name"]
    bob_denied = qhub.session("b1")
    _refused(bob_denied.editSideTag, side, rpm_macros={"dist_x": "1"},
             exc=koji.ActionNotAllowed)
    for name in ("dist_x\n%_topdir /etc", "dist_x %{lua:os.exit()}", "dist_%x", "dist_x y",
                 "dist_é", "d", "9dist_x"):
        msg = _refused(alice.editSideTag, side, rpm_macros={name: "1"})
        assert "Invalid macro name" in msg or "not allowed" in msg, (name, msg)
    for value in ("x\n%_topdir /etc", "x\r\n%_x 1", ["x"], {"a": 1}, None):
        assert "one line of text expected" in _refused(
            alice.editSideTag, side, rpm_macros={"dist_x": value})
    assert not [k for k in admin.getTag(side)["extra"] if k.startswith("rpm.macro.")]
    alice.editSideTag(side, rpm_macros={"dist_x": ".side"})
    assert admin.getTag(side)["extra"]["rpm.macro.dist_x"] == ".side"


def test_cg_access_is_per_generator(qhub, tmp_path):
    """Access to one content generator gives nothing for another: not its imports, not its
    reservations (even with the reservation's token)."""
    admin, alice = qhub.session(), qhub.session("alice")
    admin.grantCGAccess("alice", "seccg", create=True)
    admin.grantCGAccess("kojiadmin", "othercg", create=True)
    data = b"log\n"
    (tmp_path / "a.log").write_bytes(data)
    alice.uploadWrapper(str(tmp_path / "a.log"), "cli-import/alice-9")
    meta = _log_metadata("cross", "1", [("a.log", data)], cg="othercg")
    assert "Content generator access required (othercg)" in _refused(
        alice.CGImport, meta, "cli-import/alice-9", exc=koji.AuthError)
    _refused(alice.CGInitBuild, "othercg", {"name": "cross", "version": "1", "release": "2"},
             exc=koji.AuthError)
    res = admin.CGInitBuild("othercg", {"name": "cross", "version": "1", "release": "2"})
    _refused(alice.CGRefundBuild, "othercg", res["build_id"], res["token"], exc=koji.AuthError)
    assert "is not reserved by this CG" in _refused(
        alice.CGRefundBuild, "seccg", res["build_id"], res["token"])
    meta = _log_metadata("cross", "2", [("a.log", data)])
    meta["build"]["build_id"] = res["build_id"]
    assert "is not reserved by this CG" in _refused(
        alice.CGImport, meta, "cli-import/alice-9", res["token"])
    assert admin.getBuild(res["build_id"])["state"] == koji.BUILD_STATES["BUILDING"]
    assert admin.getBuild("cross-1-1") is None
    assert os.path.isfile(os.path.join(qhub.topdir, "work", "cli-import", "alice-9", "a.log"))


def test_a_host_completes_only_its_own_builds_from_its_own_files(qhub, tmp_path):
    """host.completeBuild/failBuild/importImage/completeImageBuild act only on the builds of the
    task the host runs, and completeBuild/moveBuildToScratch take files only from that task's
    tree: not from a user's upload nor from another task's output (they move the files)."""
    qhub.add_builder_hosts()
    admin, alice, b1, b2 = (qhub.session(), qhub.session("alice"), qhub.session("b1"),
                            qhub.session("b2"))
    t1, t2 = admin.makeTask("sleep", [1]), admin.makeTask("sleep", [1])
    assert b1.host.openTask(t1)["id"] == t1 and b2.host.openTask(t2)["id"] == t2
    build_id = b1.host.initBuild({"task_id": t1, "name": "own", "version": "1",
                                  "release": "1", "epoch": None})
    img = b1.host.initImageBuild(t1, {"name": "own-img", "version": "1", "release": "1"})
    for call, args in ((b2.host.completeBuild, (t2, build_id, "x.src.rpm", [], {}, {})),
                       (b2.host.failBuild, (t2, build_id)),
                       (b2.host.importImage, (t2, img["id"], {})),
                       (b2.host.completeImageBuild, (t2, img["id"], {}))):
        assert "does not belong to task %d" % t2 in _refused(call, *args,
                                                             exc=koji.ActionNotAllowed)
    assert admin.getBuild(build_id)["state"] == koji.BUILD_STATES["BUILDING"]
    assert admin.getBuild(img["id"])["state"] == koji.BUILD_STATES["BUILDING"]
    # files: a user's upload and another task's output stay where they are
    rpm = tmp_path / "own-1-1.src.rpm"
    rpm.write_bytes(b"not really an rpm")
    alice.uploadWrapper(str(rpm), "cli-build/alice-1")
    b2.uploadWrapper(str(rpm), koji.pathinfo.taskrelpath(t2))
    for path in ("cli-build/alice-1/own-1-1.src.rpm",
                 koji.pathinfo.taskrelpath(t2) + "/own-1-1.src.rpm",
                 "tasks/../cli-build/alice-1/own-1-1.src.rpm"):
        _refused(b1.host.completeBuild, t1, build_id, path, [], {}, {},
                 exc=koji.ActionNotAllowed)
        _refused(b1.host.moveBuildToScratch, t1, path, [], {}, exc=koji.ActionNotAllowed)
        _refused(b1.host.completeBuild, t1, build_id, None, [path], {}, {},
                 exc=koji.ActionNotAllowed)
    for rel in ("cli-build/alice-1", koji.pathinfo.taskrelpath(t2)):
        moved = os.path.join(qhub.topdir, "work", rel, "own-1-1.src.rpm")
        assert os.path.isfile(moved) and not os.path.islink(moved), rel
    assert os.listdir(os.path.join(qhub.topdir, "scratch")) == []
    # the build's own host may still fail it
    b1.host.failBuild(t1, build_id)
    assert admin.getBuild(build_id)["state"] == koji.BUILD_STATES["FAILED"]
