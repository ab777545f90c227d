"""write_repo's dump: filelists and other taken by runs of records (repowrite._entry_pieces)
give the text of each record's entry one after another, and the texts are hashed and
compressed in few, large feeds (repowrite._feed_all) with the bytes of feeding them entry by
entry: each feed gives the interpreter lock up and waits to take it back behind the
compose's other threads."""

import hashlib
import zlib

from pungi_like.rpmtools import repowrite


def _store(count, k_texts=3, tag="p"):
    """A store whose entry i of each kind is its own text (filelists and other as the
    library writes them: one ``<package`` entry after another)."""
    texts, spans = [], []
    for k in range(k_texts):
        entries = [f'<package pkgid="{tag}{i:05d}" name="{tag}{i}" arch="noarch">\n'
                   f'  <file>/usr/share/{tag}/{k}/{i}</file>\n</package>\n'.encode()
                   for i in range(count)]
        starts, at = [], 0
        for text in entries:
            starts.append(at)
            at += len(text)
        texts.append(b"".join(entries))
        spans.append(list(zip(starts, starts[1:] + [at])))
    return repowrite._Store(tuple(texts), spans)


def _records(store, indexes):
    return [repowrite.Record(store, i, 0, 0, "sha256") for i in indexes]


def _each(chunks, k):
    return b"".join(entry[k] if rel is None else entry.part(k) for entry, rel in chunks)


def test_entry_pieces_are_the_entries_one_after_another():
    one, two = _store(6000), _store(50, tag="q")
    dumped = (b"<package read primary/>\n", b'<package pkgid="read" f/>\n',
              b'<package pkgid="read" o/>\n')
    chunks = [(r, f"Packages/p/p{r.i}.rpm") for r in _records(one, range(0, 2500))]
    chunks += [(dumped, None)]                                           # a file read
    chunks += [(r, "x.rpm") for r in _records(one, range(2600, 2700))]   # a gap in the store
    chunks += [(r, "y.rpm") for r in _records(two, range(10, 40))]       # another store
    chunks += [(r, "z.rpm") for r in _records(one, [2700, 5, 6, 7])]     # out of order
    chunks += [(r, "w.rpm") for r in _records(one, range(3000, 6000))]
    for k in (1, 2):
        pieces = list(repowrite._entry_pieces(chunks, k))
        assert b"".join(pieces) == _each(chunks, k)
        # a run of the store is one slice, at most _RUN entries
        assert max(p.count(b"<package ") for p in pieces) <= repowrite._RUN
        assert len(pieces) <= 12


def test_feeds_are_few_and_give_the_bytes_of_feeding_entry_by_entry(monkeypatch):
    store = _store(9000)
    chunks = [(r, f"p{r.i}.rpm") for r in _records(store, range(0, 9000, 2))]
    head, tail = b'<?xml version="1.0"?>\n<filelists packages="4500">\n', b"</filelists>\n"

    def fed(feed_size):
        monkeypatch.setattr(repowrite, "_FEED", feed_size)
        stream = repowrite._Stream("sha256")
        calls = []
        original = stream.feed
        stream.feed = lambda data: (calls.append(len(data)), original(data))
        repowrite._feed_all(stream, [head, *repowrite._entry_pieces(chunks, 1), tail])
        return calls, stream.open_hash.hexdigest(), stream.open_size, stream.finish()

    text = head + _each(chunks, 1) + tail
    expected = (hashlib.sha256(text).hexdigest(), len(text), repowrite.gzip_bytes(text))
    calls, *got = fed(8 << 20)
    assert calls == [len(text)]          # the whole text in one feed: one hash, one compress
    assert tuple(got) == expected
    calls, *got = fed(len(text) // 3)    # a cap on memory: a few feeds, the same bytes
    assert 3 <= len(calls) <= 4 and sum(calls) == len(text)
    assert tuple(got) == expected
    assert zlib.decompress(got[2], 31) == text
