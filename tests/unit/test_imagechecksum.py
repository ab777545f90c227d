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
