"""fileutil.stat_many: the sizes and whole-second mtimes os.stat gives, from stat runs; None
(the caller stats the files itself) when a file is missing."""

import os

import pytest

from pungi_like import fileutil
from pungi_like.fileutil import stat_many


def _files(tmp_path, step_ns):
    """30 files with a space and a newline in their names, of sizes 0, 7, 14 ... and mtimes
    ``step_ns`` apart from a whole second, then a symbolic link to a 5-byte file."""
    paths = []
    for i in range(30):
        path = tmp_path / f"f {i}\n.rpm"
        path.write_bytes(b"x" * (i * 7))
        os.utime(path, ns=(0, 1_700_000_000_000_000_000 + i * step_ns))
        paths.append(str(path))
    target = tmp_path / "target"
    target.write_bytes(b"t" * 5)
    os.symlink(target, tmp_path / "link")
    paths.append(str(tmp_path / "link"))
    return paths


def test_as_os_stat_gives_them(tmp_path, monkeypatch):
    paths = _files(tmp_path, 300_000_000)
    # a few names a run: several runs
    monkeypatch.setattr(fileutil, "LN_ARG_BYTES", 200)
    found = stat_many(paths)
    assert len(found) == len(paths)
    for path, st in zip(paths, found):
        real = os.stat(path)
        assert (st.st_size, st.st_mtime) == (real.st_size, int(real.st_mtime)), path
        assert st.st_mtime_ns // 1_000_000_000 == real.st_mtime_ns // 1_000_000_000


def test_a_missing_file_gives_none(tmp_path):
    (tmp_path / "a").write_text("a")
    assert stat_many([str(tmp_path / "a"), str(tmp_path / "missing")]) is None
    assert stat_many([]) == []


def test_arg_batches_cut_by_bytes_in_order():
    names = ["a" * 10, "b" * 10, "c" * 10, "d" * 50, "e"]
    # a name and its separator counted: 11 + 11 < 25, a third would pass the limit
    assert list(fileutil.arg_batches(names, limit=25)) == [
        ["a" * 10, "b" * 10], ["c" * 10], ["d" * 50], ["e"]]
    assert [n for batch in fileutil.arg_batches(names, limit=25) for n in batch] == names
    assert list(fileutil.arg_batches(names)) == [names]     # LN_ARG_BYTES: one run
    assert list(fileutil.arg_batches([])) == []


def test_output_of_gives_a_commands_whole_output_and_exit_code(tmp_path):
    """``fileutil.output_of``: the command's stdout whole (here 1 MB, beyond a pipe's 64 KiB),
    its exit code, OSError when it cannot be run."""
    from pungi_like.fileutil import output_of

    code, out = output_of(["head", "-c", str(1 << 20), "/dev/zero"])
    assert code == 0 and out == b"\0" * (1 << 20)
    (tmp_path / "a").write_text("x")
    code, out = output_of(["find", str(tmp_path), "-mindepth", "1", "-printf", r"%y %s %P\0"])
    assert (code, out) == (0, b"f 1 a\0")
    code, out = output_of(["find", str(tmp_path / "missing")])
    assert code != 0 and out == b""
    with pytest.raises(OSError):
        output_of([str(tmp_path / "no-such-program")])


def test_stat_idents_as_os_stat_gives_them(tmp_path, monkeypatch):
    """fileutil.stat_idents: device, inode, size and the mtime to the nanosecond os.stat gives
    (links followed), from several runs; None when a file is missing."""
    from pungi_like.fileutil import stat_idents

    paths = _files(tmp_path, 300_000_007)     # the first at a whole second
    monkeypatch.setattr(fileutil, "LN_ARG_BYTES", 200)
    found = stat_idents(paths)
    assert len(found) == len(paths)
    for path, st in zip(paths, found):
        real = os.stat(path)
        assert (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            real.st_dev, real.st_ino, real.st_size, real.st_mtime_ns), path
        assert st.st_mtime == real.st_mtime_ns // 1_000_000_000
    assert stat_idents([paths[1], str(tmp_path / "missing")]) is None
    assert stat_idents([]) == []


def test_stat_idents_names_files_relative_to_their_common_directory(tmp_path, monkeypatch):
    """stat_idents runs ``stat`` in the directory every path is under, with the paths
    relative to it (shorter names: one run for a package set's 10,458 files instead of four),
    and answers what os.stat gives of each; files in two directories under it as well."""
    from pungi_like.fileutil import stat_idents

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = []
    for i, folder in enumerate(("a", "b", "a")):
        path = tmp_path / folder / f"-p{i}.rpm"     # a name like an option, after "--"
        path.write_bytes(b"x" * i)
        paths.append(str(path))
    runs = []
    real_output_of = fileutil.output_of

    def output_of(cmd, **kwargs):
        runs.append((cmd, kwargs.get("cwd")))
        return real_output_of(cmd, **kwargs)

    monkeypatch.setattr(fileutil, "output_of", output_of)
    found = stat_idents(paths)
    assert len(runs) == 1
    cmd, cwd = runs[0]
    assert cwd == os.path.join(str(tmp_path), "")
    assert cmd[cmd.index("--") + 1:] == ["a/-p0.rpm", "b/-p1.rpm", "a/-p2.rpm"]
    for path, st in zip(paths, found):
        real = os.stat(path)
        assert (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
            real.st_dev, real.st_ino, real.st_size, real.st_mtime_ns)


@pytest.mark.parametrize("paths, top", [
    (["/a/b/x", "/a/b/y"], "/a/b/"),
    (["/a/b/x", "/a/bc"], "/a/"),          # a common start of a name is no directory
    (["/a/b/c/d", "/a/b/e", "/a/b/c/f"], "/a/b/"),
    (["/a/b/x"], "/a/b/"),
    (["/x", "/y"], ""),                    # the root only
    (["a/b", "a/c"], ""),                  # relative paths
    ([], ""),
])
def test_common_dir(paths, top):
    assert fileutil.common_dir(paths) == top
