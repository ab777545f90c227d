"""``reuse.link_all``, which places a taken unit's files: a directory of many files (a tree's
Packages) is linked by ``ln`` runs (``fileutil.ln_names``), outside the interpreter lock; every
case an ``ln`` run cannot do (a name there already, no ``ln``, another file system) is placed one
by one as before. Each placed file must be the very inode of the old compose's file (a copy
across file systems)."""

import os
import shutil
import tempfile

import pytest

from pungi_like import fileutil, reuse


def _tree(tmp_path, count, name="Packages"):
    """``count`` files in ``old/<name>``: (sources, destinations under ``new/<name>``, stats)."""
    src_dir = tmp_path / "old" / name
    src_dir.mkdir(parents=True)
    names = [f"p{i:04d}-1.0-1.x86_64.rpm" for i in range(count - 1)] + ["-dash-1.0-1.noarch.rpm"]
    srcs = []
    for fname in names:
        path = src_dir / fname
        path.write_bytes(fname.encode())
        srcs.append(str(path))
    dsts = [str(tmp_path / "new" / name / fname) for fname in names]
    return srcs, dsts, [os.stat(src) for src in srcs]


def _same_inodes(srcs, dsts):
    return [os.stat(src).st_ino == os.lstat(dst).st_ino for src, dst in zip(srcs, dsts)]


def test_a_directory_of_many_files_is_linked_whole(tmp_path):
    srcs, dsts, sts = _tree(tmp_path, reuse.LINK_BY_LN_MIN + 88)
    reuse.link_all(srcs, dsts, sts)
    assert all(_same_inodes(srcs, dsts))
    assert sorted(os.listdir(tmp_path / "new" / "Packages")) == \
        sorted(os.path.basename(src) for src in srcs)


def test_files_there_already_are_kept_or_replaced(tmp_path):
    srcs, dsts, sts = _tree(tmp_path, reuse.LINK_BY_LN_MIN + 10)
    os.makedirs(os.path.dirname(dsts[0]))
    os.link(srcs[0], dsts[0])                  # the very inode: another unit placed it
    with open(dsts[1], "wb") as fh:            # another file under the name: replaced
        fh.write(b"other bytes")
    reuse.link_all(srcs, dsts, sts)
    assert all(_same_inodes(srcs, dsts))
    assert len(os.listdir(tmp_path / "new" / "Packages")) == len(srcs)


def test_without_ln_the_files_are_linked_one_by_one(tmp_path, monkeypatch):
    srcs, dsts, sts = _tree(tmp_path, reuse.LINK_BY_LN_MIN)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    assert fileutil.ln_names(os.path.dirname(srcs[0]), ["x"], str(tmp_path)) is False
    reuse.link_all(srcs, dsts, sts)
    assert all(_same_inodes(srcs, dsts))


def test_ln_names_in_several_runs_and_its_failure(tmp_path, monkeypatch):
    srcs, _dsts, _sts = _tree(tmp_path, 40)
    src_dir = os.path.dirname(srcs[0])
    names = [os.path.basename(src) for src in srcs]
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(fileutil, "LN_ARG_BYTES", 100)   # a few names a run
    assert fileutil.ln_names(src_dir, names, str(out)) is True
    assert all(_same_inodes(srcs, [str(out / name) for name in names]))
    again = tmp_path / "again"
    again.mkdir()
    assert fileutil.ln_names(src_dir, names[:3] + ["missing.rpm"], str(again)) is False


def test_across_file_systems_the_files_are_copied(tmp_path):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to link across")
    old = tempfile.mkdtemp(dir=shm)
    try:
        srcs, dsts, sts = _tree(tmp_path, reuse.LINK_BY_LN_MIN)
        far = [os.path.join(old, os.path.basename(src)) for src in srcs]
        for src, copy in zip(srcs, far):
            shutil.copy2(src, copy)
        reuse.link_all(far, dsts, [os.stat(path) for path in far])
        for copy, dst in zip(far, dsts):
            with open(copy, "rb") as a, open(dst, "rb") as b:
                assert a.read() == b.read()
    finally:
        shutil.rmtree(old)


def test_several_directories_are_linked_side_by_side_and_one_that_fails_alone(tmp_path):
    """A unit's directories of ``LINK_BY_LN_MIN`` files or more are linked by ``ln`` runs
    started together; a directory whose run fails (a name there already, another inode) is
    linked one by one, and every file ends as the old inode but the one kept there."""
    count = reuse.LINK_BY_LN_MIN + 3
    trees = [_tree(tmp_path, count, name) for name in ("os", "debug", "source")]
    blocked = trees[1][1][5]
    os.makedirs(os.path.dirname(blocked))
    with open(blocked, "w") as fh:
        fh.write("another file")
    named = [(os.path.dirname(srcs[0]), os.path.dirname(dsts[0]),
              [os.path.basename(src) for src in srcs]) for srcs, dsts, _sts in trees]
    reuse.link_all([], [], [], named=named)
    for srcs, dsts, _sts in trees:
        assert all(_same_inodes(srcs, dsts))   # link_into replaces what is not the inode
