"""imagechecksum's digests: one job per file and algorithm gives what hashlib gives on the whole
file, for every file and every configured algorithm."""

import hashlib

from phases.imagechecksum import digests_of, file_digests


def test_digests_of_every_file_and_algorithm(tmp_path):
    files = []
    for i, size in enumerate((0, 1, 3 << 20 | 17)):
        path = tmp_path / f"image{i}.iso"
        path.write_bytes(bytes((i + n) % 251 for n in range(size)))
        files.append(str(path))
    algorithms = ["md5", "sha1", "sha256", "sha512"]
    found = digests_of(files, algorithms)
    assert sorted(found) == sorted(files)
    for path in files:
        data = open(path, "rb").read()
        assert found[path] == {alg: hashlib.new(alg, data).hexdigest() for alg in algorithms}
        assert file_digests(path, algorithms) == found[path]
    assert digests_of([], algorithms) == {}


def test_noted_digests_are_taken_only_for_the_very_same_file(tmp_path, monkeypatch):
    """An image's digests noted by the unit that wrote it are taken while the file is the same
    (device, inode, size, mtime); a file rewritten since is hashed again, as is an algorithm
    that was not noted."""
    import os

    import phases.imagechecksum as ic

    monkeypatch.setattr(ic, "_noted", {})
    path = tmp_path / "image.iso"
    path.write_bytes(b"first" * 1000)
    ic.note_image(str(path), ["md5", "sha256"])
    read = []
    real = ic.file_digests
    monkeypatch.setattr(ic, "file_digests",
                        lambda p, algs, **kw: read.append((p, tuple(algs))) or real(p, algs))
    data = path.read_bytes()
    found = ic.digests_of([str(path)], ["md5", "sha1", "sha256"])
    assert found[str(path)] == {alg: hashlib.new(alg, data).hexdigest()
                                for alg in ("md5", "sha1", "sha256")}
    assert read == [(str(path), ("sha1",))]
    # rewritten in place (same inode and size, another mtime): hashed again
    read.clear()
    path.write_bytes(b"again" * 1000)
    os.utime(path, ns=(1, 1))
    found = ic.digests_of([str(path)], ["md5"])
    assert found[str(path)]["md5"] == hashlib.md5(b"again" * 1000).hexdigest()
    assert read == [(str(path), ("md5",))]
