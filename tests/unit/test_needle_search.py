"""The searches for the compose's names in the bytes of a file: a needle that holds a shorter
one is looked for only where that one was found, with the same answers as a search of each."""

import random

from phases.imagechecksum import _search_in
from pungi_like import reuse_keys
from pungi_like.digest_prefill import NeedleSearch, holders, search_needles

TOP = b"/srv/composes/Peer-1.0-20261206.n.0"
CID = b"Peer-1.0-20261206.n.0"
OTHER = b"0000-other"


def _samples():
    rnd = random.Random(13)
    yield b""
    yield CID + TOP
    yield TOP[:-1] + b"\0" + CID[1:]
    for _ in range(150):
        data = bytearray(rnd.randrange(256) for _ in range(rnd.randrange(0, 400)))
        for needle in rnd.sample((TOP, CID, OTHER, TOP[:-3], CID[2:]), rnd.randrange(0, 4)):
            at = rnd.randrange(0, len(data) + 1)
            data[at:at] = needle
        yield bytes(data)


def _pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def test_the_searches_answer_as_a_search_of_each_needle(tmp_path):
    for needles in ((TOP, CID), (CID, TOP), (TOP, CID, OTHER), (CID,), (OTHER, TOP)):
        for data in _samples():
            expected = [n in data for n in needles]
            for size in (1, 7, 23, 64, 1 << 20):
                search = NeedleSearch(needles)
                for piece in _pieces(data, size):
                    search.feed(piece)
                assert search.found == expected, (needles, data, size)
                assert _search_in(data, needles, window=size) == dict(zip(needles, expected))
    path = tmp_path / "f"
    for n, data in enumerate(_samples()):
        path.write_bytes(data + bytes([n % 256]) * (n % 3))   # another file each time
        _digest, found = reuse_keys.file_digest(str(path), (TOP, CID))
        assert found == {TOP: TOP in path.read_bytes(), CID: CID in path.read_bytes()}


class _Counted:
    """Bytes whose searches are counted."""

    def __init__(self, data):
        self.data, self.calls = data, []

    def __contains__(self, needle):
        self.calls.append(needle)
        return needle in self.data

    def __len__(self):
        return len(self.data)

    def find(self, needle, start, end):
        self.calls.append(needle)
        return self.data.find(needle, start, end)


def test_bytes_naming_neither_are_scanned_once():
    """The compose's directory holds its id: bytes without the id are not searched for the
    directory (a DVD, a package: one scan instead of two)."""
    data = _Counted(b"\0" * 1000)
    found = [False, False]
    search_needles(data, (TOP, CID), found, *holders((TOP, CID)))
    assert data.calls == [CID] and found == [False, False]

    data = _Counted(b"\0" * 1000)
    assert _search_in(data, (TOP, CID), window=100) == {TOP: False, CID: False}
    assert data.calls == [CID] * 10

    # once the id is found the directory is looked for too, in that window and the next ones
    data = _Counted(b"\0" * 250 + CID + b"\0" * 500 + TOP + b"\0" * 100)
    assert _search_in(data, (TOP, CID), window=100) == {TOP: True, CID: True}
    assert data.calls[:3] == [CID, CID, CID] and data.calls[3:] == [TOP] * 6
