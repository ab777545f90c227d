"""Uploads and task output (issue 8 findings 6, 7 and 10): only the host running a task writes its
output; upload offsets and sizes are bounded (``.hub/limits.json``); ``downloadTaskOutput``
refuses missing tasks and returns bounded chunks; a failed upload never locks its directory and
faults name paths relative to ``work/``.

Real clients (koji.ClientSession with user and host certificates) against a hub served over
HTTPS, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import resource
import zlib

import koji
import pytest

from pungi_like.buildsvc.hub.limits import write_limits

pytestmark = pytest.mark.integration

KiB = 1024
MiB = 1024 * KiB


def _anonymous(hub):
    return koji.ClientSession(hub.url, {"serverca": os.path.join(hub.pki, "ca.crt")})


def _raw(session, data, offset, path, name, overwrite=False):
    return session._callMethod("rawUpload", (data, offset, path, name), {"overwrite": overwrite})


def _no_abs_paths(hub, text):
    assert hub.topdir not in text and hub.tmp not in text, text


def test_task_output_is_written_only_by_the_host_running_it(qhub, tmp_path):
    qhub.add_builder_hosts()
    admin, alice = qhub.session(), qhub.session("alice")
    b1, b2 = qhub.session("b1"), qhub.session("b2")
    forged = tmp_path / "forged-output.iso"
    forged.write_bytes(b"not an image" * 100)
    # the case: alice writes into the directory of a task that does not exist yet ...
    future = admin.makeTask("sleep", [0]) + 1
    with pytest.raises(koji.GenericError) as info:
        alice.uploadWrapper(str(forged), koji.pathinfo.taskrelpath(future))
    _no_abs_paths(qhub, str(info.value))
    tid = admin.makeTask("sleep", [1])
    assert tid == future
    # ... or of one that does; nor may admin (a user), nor a host that does not hold it
    for who in (alice, admin, b2):
        with pytest.raises(koji.GenericError):
            who.uploadWrapper(str(forged), koji.pathinfo.taskrelpath(tid))
    assert b1.host.openTask(tid)["id"] == tid
    with pytest.raises(koji.ActionNotAllowed, match="b2 does not hold task %d" % tid):
        b2.uploadWrapper(str(forged), koji.pathinfo.taskrelpath(tid))
    with pytest.raises(koji.GenericError, match="Invalid task upload directory"):
        _raw(b1, b"x", 0, "tasks/7/%d" % tid, "f.log")
    assert admin.listTaskOutput(tid) == []
    b1.uploadWrapper(str(forged), koji.pathinfo.taskrelpath(tid), name="result.iso")
    assert admin.listTaskOutput(tid) == ["result.iso"]
    # users write to their own work directories only
    alice.uploadWrapper(str(forged), "cli-build/alice-1")
    with pytest.raises(koji.GenericError, match="not owner: cli-build/alice-1$") as info:
        admin.uploadWrapper(str(forged), "cli-build/alice-1", name="other.iso")
    _no_abs_paths(qhub, str(info.value))
    assert alice.checkUpload("cli-build/alice-1", "forged-output.iso")["size"] == 1200


def test_upload_offsets_and_sizes_are_bounded(qhub, tmp_path):
    write_limits(qhub.topdir, max_upload_size=1 * MiB)   # read at the hub's first upload
    alice = qhub.session("alice")
    # one byte at offset 2**34 made a 16 GB sparse file
    with pytest.raises(koji.GenericError, match="would grow to 17179869185 bytes, over the "
                                                "hub's limit"):
        _raw(alice, b"x", 2 ** 34, "big", "sparse.img")
    with pytest.raises(koji.GenericError, match="max_upload_size"):
        alice.uploadFile("big", "sparse2.img", 1, None, str(2 ** 34), "eA==")
    # within the size limit, a chunk may still not leave a hole
    with pytest.raises(koji.GenericError, match="offset 1000 is beyond the end of big/sparse"):
        _raw(alice, b"x", 1000, "big", "sparse.img")
    with pytest.raises(koji.GenericError, match="beyond the end"):
        alice.uploadFile("big", "sparse2.img", 1, None, "1000", "eA==")
    assert alice.checkUpload("big", "sparse.img") is None
    assert alice.checkUpload("big", "sparse2.img") is None
    # chunks in order up to the limit are fine; one byte more is not
    data = os.urandom(MiB)
    assert _raw(alice, data[:600 * KiB], 0, "big", "full.img")["size"] == 600 * KiB
    assert _raw(alice, data[600 * KiB:], 600 * KiB, "big", "full.img")["size"] == 424 * KiB
    _raw(alice, data[:KiB], 0, "big", "full.img")          # a retried chunk rewrites in place
    with pytest.raises(koji.GenericError, match="over the hub's limit of 1048576 bytes "
                                                r"\(max_upload_size\)"):
        _raw(alice, b"y", MiB, "big", "full.img")
    with pytest.raises(koji.GenericError, match="max_upload_size"):
        _raw(alice, b"y", -1, "big", "full.img")
    with pytest.raises(koji.GenericError, match="Invalid upload offset"):
        _raw(alice, b"y", -7, "big", "full.img")
    info = alice.checkUpload("big", "full.img", verify="adler32")
    assert info["size"] == MiB and info["sumlength"] == MiB
    assert info["hexdigest"] == "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)
    tail = alice.checkUpload("big", "full.img", verify="adler32", tail=10)
    assert tail["sumlength"] == 10
    assert tail["hexdigest"] == "%08x" % (zlib.adler32(data[-10:]) & 0xFFFFFFFF)
    with pytest.raises(koji.GenericError, match="Invalid tail value"):
        alice.checkUpload("big", "full.img", verify="adler32", tail=-5)
    # a whole file over the limit is refused by the real client's fast upload
    too_big = tmp_path / "too-big.img"
    too_big.write_bytes(os.urandom(MiB + 1))
    with pytest.raises(koji.GenericError, match="max_upload_size"):
        alice.uploadWrapper(str(too_big), "big")
    assert alice.checkUpload("big", "too-big.img")["size"] <= MiB


def test_download_task_output_refuses_missing_tasks_and_is_chunked(qhub):
    write_limits(qhub.topdir, max_download_chunk=64 * KiB)
    qhub.add_builder_hosts(names=("b1",))
    admin, b1, anon = qhub.session(), qhub.session("b1"), _anonymous(qhub)
    with pytest.raises(koji.GenericError, match="No such task: 999999"):
        anon.downloadTaskOutput(999999, "task.log")
    tid = admin.makeTask("sleep", [1])
    assert b1.host.openTask(tid)
    data = os.urandom(200 * KiB)
    for off in range(0, len(data), 50 * KiB):
        _raw(b1, data[off:off + 50 * KiB], off, koji.pathinfo.taskrelpath(tid), "out.bin")
    with pytest.raises(koji.GenericError, match=r"204800 bytes asked for, over the hub's limit "
                                                r"of 65536 bytes per call"):
        anon.downloadTaskOutput(tid, "out.bin")
    got = b""
    while True:
        chunk = anon.downloadTaskOutput(tid, "out.bin", offset=len(got), size=64 * KiB)
        if not chunk:
            break
        got += chunk
    assert got == data
    assert anon.downloadTaskOutput(tid, "out.bin", offset=-10) == data[-10:]
    assert anon.downloadTaskOutput(tid, "out.bin", offset=len(data) + 5) == b""
    with pytest.raises(koji.GenericError, match="Invalid file name"):
        anon.downloadTaskOutput(tid, "../../../../hub.json")
    with pytest.raises(koji.GenericError, match="no file nothing.log output by task"):
        anon.downloadTaskOutput(tid, "nothing.log")
    # imports leave symlinks to the imported files (followed, as Koji), but only to files under
    # the top directory (here planted by hand: no API call makes a symlink)
    taskdir = os.path.join(qhub.topdir, "work", koji.pathinfo.taskrelpath(tid))
    outside = os.path.join(qhub.tmp, "secret.txt")
    with open(outside, "w") as f:
        f.write("secret")
    inside = os.path.join(qhub.topdir, "packages", "imported.txt")
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    with open(inside, "w") as f:
        f.write("imported")
    os.symlink(outside, os.path.join(taskdir, "escape.txt"))
    os.symlink(inside, os.path.join(taskdir, "imported.txt"))
    assert anon.downloadTaskOutput(tid, "imported.txt") == b"imported"
    with pytest.raises(koji.GenericError, match="no file escape.txt output by task"):
        anon.downloadTaskOutput(tid, "escape.txt")


def test_failed_upload_does_not_block_its_directory(qhub, tmp_path):
    alice, admin = qhub.session("alice"), qhub.session()
    soft, hard = resource.prlimit(qhub.proc.pid, resource.RLIMIT_FSIZE)
    # the hub's disk is "full": every write of a byte fails (EFBIG), as ENOSPC would
    resource.prlimit(qhub.proc.pid, resource.RLIMIT_FSIZE, (0, hard))
    try:
        with pytest.raises(koji.GenericError) as info:
            _raw(alice, b"payload", 0, "alice-full", "a.bin")
    finally:
        resource.prlimit(qhub.proc.pid, resource.RLIMIT_FSIZE, (soft, hard))
    msg = str(info.value)
    assert "alice-full" in msg and "File too large" in msg, msg
    _no_abs_paths(qhub, msg)
    # disk space is back: the same user uploads to the same directory, which is hers alone
    assert _raw(alice, b"payload", 0, "alice-full", "a.bin")["size"] == 7
    with pytest.raises(koji.GenericError, match="not owner: alice-full$"):
        _raw(admin, b"x", 0, "alice-full", "b.bin")
    # an empty marker left by an older hub's failed write does not lock the directory either
    legacy = os.path.join(qhub.topdir, "work", "legacy-dir")
    os.makedirs(legacy)
    open(os.path.join(legacy, ".user"), "w").close()
    assert _raw(alice, b"payload", 0, "legacy-dir", "a.bin")["size"] == 7
    with pytest.raises(koji.GenericError, match="not owner: legacy-dir$"):
        _raw(admin, b"x", 0, "legacy-dir", "b.bin")
    assert sorted(os.listdir(legacy)) == [".user", "a.bin"]
