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


def test_a_noted_image_gives_the_unit_records_digest(tmp_path):
    """With the record's needles, note_image hands reuse_keys the image's digest and needle
    search as file_digest would make them (a needle across a read's edge found), so the
    record thread does not read the image again; without sha256 it hands nothing."""
    import os

    from phases.imagechecksum import note_image
    from pungi_like import reuse_keys

    top, cid = b"/srv/composes/Peer-1.0-20261206.n.0", b"Peer-1.0-20261206.n.0"
    path = tmp_path / "dvd.iso"
    path.write_bytes(b"\0" * ((1 << 20) - 4) + cid + b"\0" * 5000)
    key = (reuse_keys._stat_id(os.stat(path)), (top, cid))
    reuse_keys._digest_cache.pop(key, None)
    note_image(str(path), ["md5"], needles=(top, cid))
    assert key not in reuse_keys._digest_cache
    note_image(str(path), ["md5", "sha256"], needles=(top, cid))
    noted = reuse_keys._digest_cache.pop(key)
    assert noted == (hashlib.sha256(path.read_bytes()).hexdigest(), {top: False, cid: True})
    assert reuse_keys.file_digest(str(path), (top, cid)) == noted     # read again: the same


def test_the_needle_search_finds_what_the_whole_bytes_hold(tmp_path):
    """note_image's search answers, for each needle, whether the file's bytes hold it: in a
    read, across one read's edge or several short reads, a needle holding another one (the
    compose's directory holds its id) found only where both are; the same as a search of the
    whole bytes at once, whatever the read size."""
    from phases.imagechecksum import _search

    top, cid = b"/srv/composes/Peer-1.0-20261206.n.0", b"Peer-1.0-20261206.n.0"
    other = b"Peer-1.0"       # inside both
    cases = [
        b"",
        b"\0" * 100,
        b"\0" * 60 + top + b"\0" * 10,              # the directory (and so the id) inside a read
        b"\0" * 60 + cid + b"\0" * 10,              # the id alone
        b"\0" * 61 + top[:-3] + b"\0" + cid,        # the id whole, the directory cut short
        b"x" * 50 + top,                            # the directory at the very end
        top + b"y" * 50,
        cid[:10] + b"." + cid[10:] + b"\0" * 70,    # neither
    ]
    for data in cases:
        path = tmp_path / "image.iso"
        path.write_bytes(data)
        expected = {n: n in data for n in (top, cid, other)}
        for bufsize in (1, 3, 7, 16, 64, 1 << 20):
            assert _search(str(path), (top, cid, other), bufsize=bufsize) == expected, \
                (data, bufsize)
            assert _search(str(path), (cid,), bufsize=bufsize) == {cid: cid in data}
    assert _search(str(path), ()) == {}


def test_a_large_image_is_hashed_over_a_mapping_with_the_same_answers(tmp_path, monkeypatch):
    """note_image hashes an image of MAPPED_MIN bytes or more over a mapping (one hash call an
    algorithm): the digests and needle answers it keeps are hashlib's of the whole bytes and
    file_digest's, as for a smaller image read a MiB at a time; the mapping is used for the
    large image only."""
    import os

    import phases.imagechecksum as ic
    from pungi_like import reuse_keys

    monkeypatch.setattr(ic, "_noted", {})
    mapped = []
    real = ic._mapped_digests
    monkeypatch.setattr(ic, "_mapped_digests",
                        lambda path, *a: mapped.append(path) or real(path, *a))
    top, cid = b"/srv/composes/Peer-1.0-20261206.n.0", b"Peer-1.0-20261206.n.0"
    algorithms = ["md5", "sha1", "sha256"]
    for name, size, where in (("dvd.iso", ic.MAPPED_MIN + 12345, (1 << 20) - 5),
                              ("small.iso", ic.MAPPED_MIN - 1, 100)):
        path = tmp_path / name
        data = bytearray(bytes(n % 251 for n in range(size)))
        data[where:where + len(cid)] = cid
        path.write_bytes(bytes(data))
        key = (reuse_keys._stat_id(os.stat(path)), (top, cid))
        reuse_keys._digest_cache.pop(key, None)
        ic.note_image(str(path), algorithms, needles=(top, cid))
        noted = ic.digests_of([str(path)], algorithms)[str(path)]
        assert noted == {alg: hashlib.new(alg, bytes(data)).hexdigest() for alg in algorithms}
        found = reuse_keys._digest_cache.pop(key)
        assert found == (noted["sha256"], {top: False, cid: True})
        assert reuse_keys.file_digest(str(path), (top, cid)) == found
    assert [os.path.basename(p) for p in mapped] == ["dvd.iso", "small.iso"]
    assert real(str(tmp_path / "small.iso"), algorithms, (cid,)) is None    # read instead


def test_the_mapped_search_finds_a_needle_across_its_windows():
    """The search of a mapping goes a window at a time (the interpreter lock is held for one
    call): a needle across two windows, at either end or inside another needle is found as a
    search of the whole bytes finds it, whatever the window."""
    from phases.imagechecksum import _search_in

    top, cid = b"/srv/composes/Peer-1.0-20261206.n.0", b"Peer-1.0-20261206.n.0"
    for data in (b"", b"\0" * 100, b"\0" * 30 + top + b"\0" * 30, b"\0" * 41 + cid,
                 cid + b"\0" * 41, b"\0" * 17 + cid + b"\0" * 60 + top[:-1]):
        expected = {n: n in data for n in (top, cid)}
        for window in (1, 5, 16, 40, 64, 1 << 20):
            assert _search_in(data, (top, cid), window=window) == expected, (data, window)


def _mapped_rss_kib(path):
    """The resident KiB of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:     # a mapping's first line
                inside = len(head) >= 6 and head[-1] == str(path)
            elif inside and head and head[0] == "Rss:":
                total += int(head[1])
    return total


def test_a_mapped_images_pages_are_dropped_once_hashed_and_searched(tmp_path, monkeypatch):
    """The mapped digests and search go a window at a time and drop each window's pages once
    every digest and the search are done with it: an image's mapped pages stay out of the
    compose's resident size (read whole, a 4 GB DVD would count 4 GB), with the same digests
    and answers (a needle across two windows found). Each window is dropped once; a real
    mapping read whole is resident and is not after its pages are dropped."""
    import mmap

    import phases.imagechecksum as ic

    window = 64 * mmap.PAGESIZE
    monkeypatch.setattr(ic, "MAPPED_WINDOW", window)
    monkeypatch.setattr(ic, "MAPPED_MIN", 1)
    data = bytearray(n % 253 for n in range(10 * window + 123))
    across = b"\xfd\xfe\xff" * 3         # no other byte of the image is over 252
    data[3 * window - 4:3 * window + 5] = across
    data = bytes(data)
    path = tmp_path / "dvd.iso"
    path.write_bytes(data)
    dropped = []
    real_drop = ic._drop_pages
    monkeypatch.setattr(ic, "_drop_pages",
                        lambda m, start, length: dropped.append((start, length))
                        or real_drop(m, start, length))
    digests, found = ic._mapped_digests(str(path), ["md5", "sha256"], (b"absent", across))
    assert digests == {alg: hashlib.new(alg, data).hexdigest() for alg in ("md5", "sha256")}
    assert found == {b"absent": False, across: True}
    assert dropped == [(start, window) for start in range(0, len(data), window)]

    with open(path, "rb") as fh:
        mapping = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    with mapping:
        hashlib.sha256(mapping).digest()        # every page read
        assert _mapped_rss_kib(path) >= len(data) // 1024 // 2
        real_drop(mapping, 0, len(data))
        assert _mapped_rss_kib(path) == 0
        real_drop(mapping, 1, 10)               # not at a page's start: left alone
        assert mapping[:3] == data[:3]
