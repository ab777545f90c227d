"""The reuse precheck's child started by the driver's entry point is a fork of it
(``reuse_precheck._Forked``), not a new ``python -I -S``: the same answers, the same stop, and
no fork while another thread runs."""

import os
import sys
import threading

import pytest

from pungi_like import reuse_precheck
from pungi_like.cli import compose_driver

from test_reuse_precheck import OLD_ID, WORK_FILES, _old_unit


@pytest.fixture
def may_fork(monkeypatch):
    """Fork as the entry point does (pytest itself may run threads of its own)."""
    monkeypatch.setattr(reuse_precheck, "_may_fork", lambda: True)


def _finished(top):
    (top / "STATUS").write_text("FINISHED\n")
    return top


def _answers(pre, names):
    try:
        return {name: pre.answer(name) for name in names}, pre.compose
    finally:
        pre.close()


def test_the_forked_child_answers_as_the_started_one(tmp_path, may_fork):
    top, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES, start=1.0)
    _, paths = _old_unit(tmp_path, "gather.S.x86_64", ["compose/S/x86_64/os/Packages/a.rpm",
                                                       "compose/S/x86_64/os/b.xml"], start=2.0)
    with open(paths[1], "ab") as fh:
        fh.write(b" changed")     # another size: not unchanged
    _finished(top)
    names = ["pkgset.global", "gather.S.x86_64"]
    forked = reuse_precheck.Precheck(dirs=[str(top.parent)], fork=True)
    assert isinstance(forked.proc, reuse_precheck._Forked)
    started = reuse_precheck.Precheck(dirs=[str(top.parent)])
    assert not isinstance(started.proc, reuse_precheck._Forked)
    got, compose = _answers(forked, names)
    assert (got, compose) == _answers(started, names)
    assert compose == (str(top), OLD_ID)
    assert got["pkgset.global"][4:] == [True, True, None]
    assert got["gather.S.x86_64"][4] is False
    assert forked.proc.returncode is not None and started.proc.returncode is not None


def test_a_forked_child_is_stopped_and_waited_for(tmp_path, may_fork):
    top, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    pre = reuse_precheck.Precheck(str(top), OLD_ID, fork=True)
    pid = pre.proc.pid
    pre.close()
    assert pre.proc.returncode is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)     # reaped: no zombie left


def test_the_forked_child_holds_none_of_the_drivers_files(tmp_path, may_fork):
    """As ``Popen``'s ``close_fds``: a pipe the driver's caller reads to its end (a wrapper
    capturing its output) is not held open by the child."""
    top, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES)
    read_end, write_end = os.pipe()
    try:
        pre = reuse_precheck.Precheck(str(top), OLD_ID, fork=True)
        os.close(write_end)
        write_end = None
        os.set_blocking(read_end, False)
        try:
            assert pre.answer("pkgset.global")[4] is True
            # the child is still running or ended: either way no writer is left
            assert os.read(read_end, 1) == b""
        finally:
            pre.close()
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


def test_no_fork_while_another_thread_runs():
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not reuse_precheck._may_fork()
    finally:
        release.set()
        thread.join()


def test_the_entry_point_forks_its_early_child(tmp_path, may_fork):
    top = _finished(_old_unit(tmp_path, "pkgset.global", WORK_FILES)[0])
    early = compose_driver.start_early_precheck(
        ["--config", "c.conf", "--target-dir", str(top.parent), "--nightly"])
    try:
        assert isinstance(early.proc, reuse_precheck._Forked)
        assert early.compose == (str(top), OLD_ID)
        assert early.answer("pkgset.global")[4] is True
    finally:
        early.close()


def test_the_forked_child_imports_nothing_from_the_path(tmp_path, may_fork, monkeypatch):
    """What the child imports is imported before the fork: it reads no module from
    ``sys.path`` (under ``python -m`` the working directory comes first: a release's config
    directory holding a module of a standard library's name), as the isolated ``python -I
    -S`` child did not. A child that imports a module not loaded yet ends at once (99)."""
    import builtins

    top = _finished(_old_unit(tmp_path, "pkgset.global", WORK_FILES)[0])
    # the record data mapped, as a large one is (mmap imported for it), mmap not loaded yet
    monkeypatch.setattr(reuse_precheck, "MAP_MIN", 0)
    monkeypatch.delitem(sys.modules, "mmap", raising=False)
    parent, real_import = os.getpid(), builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if os.getpid() != parent and name not in sys.modules:
            os._exit(99)
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", guarded)
    pre = reuse_precheck.Precheck(str(top), OLD_ID, fork=True)
    try:
        answer = pre.answer("pkgset.global")
    finally:
        pre.close()
    assert pre.proc.returncode != 99
    assert answer is not None and answer[4] is True
