"""write_repo's primary: runs of records relocated by one replace (repowrite._primary_pieces)
give the text of relocating each record on its own (repowrite._relocate)."""

from pungi_like.rpmtools import repowrite


def _entry(name, attr, href):
    return (f'<package type="rpm">\n  <name>{name}</name>\n  <arch>noarch</arch>\n'
            f'  <description>text &lt;location href="x"/&gt; text</description>\n'
            f'  <location {attr}href="{href}"/>\n  <format>\n  </format>\n</package>\n').encode()


def _store(rows):
    """A store as _verbatim_index makes it: entries one after another, and the common start
    of their location lines found the way that function finds it."""
    texts = [_entry(*row) for row in rows]
    primary = b"".join(texts)
    starts, at = [], 0
    for text in texts:
        starts.append(at)
        at += len(text)
    ends = starts[1:] + [at]
    store = repowrite._Store((primary, b"", b""), [list(zip(starts, ends))] * 3)
    found = repowrite._LOCATION.findall(primary)
    assert len(found) == len(rows)
    store.location = repowrite.common_location(found)
    return store


def _one_by_one(chunks, base):
    return b"".join(entry[0] if rel is None else repowrite._relocate(entry.part(0), rel, base)
                    for entry, rel in chunks)


def _records(store, count):
    return [repowrite.Record(store, i, 0, 0, "sha256") for i in range(count)]


def test_common_location_needs_one_base_and_one_directory():
    same = [(b'xml:base="file:///a" ', b"p-1.rpm"), (b'xml:base="file:///a" ', b"q-1.rpm")]
    assert repowrite.common_location(same) == b'\n  <location xml:base="file:///a" href="'
    dirs = [(b"", b"Packages/p-1.rpm"), (b"", b"Packages/q-1.rpm")]
    assert repowrite.common_location(dirs) == b'\n  <location href="Packages/'
    assert repowrite.common_location(same + dirs) is None
    assert repowrite.common_location([(b"", b"a/p.rpm"), (b"", b"b/q.rpm")]) is None


def test_runs_equal_records_relocated_one_by_one():
    count = 5000
    names = [f"p{i:05d}-1.0-1.noarch.rpm" for i in range(count)]
    old = _store([(n, 'xml:base="file:///old/download" ', n) for n in names])
    parsed = _store([(n, "", "Packages/" + n) for n in names])
    records = _records(old, count)
    for base in ("file:///new/work/global/download", None, "", "file:///with space"):
        for folder in ("", "Packages/p/"):
            chunks = [(r, folder + n) for r, n in zip(records, names)]
            pieces = list(repowrite._primary_pieces(chunks, base))
            assert b"".join(pieces) == _one_by_one(chunks, base), (base, folder)
            chunks = [(r, folder + n) for r, n in zip(_records(parsed, count), names)]
            assert b"".join(repowrite._primary_pieces(chunks, base)) \
                == _one_by_one(chunks, base), (base, folder)
    # a run is at most _RUN entries: no slice of the whole primary at once
    chunks = [(r, n) for r, n in zip(records, names)]
    pieces = list(repowrite._primary_pieces(chunks, "file:///new"))
    assert max(p.count(b"<package ") for p in pieces) <= repowrite._RUN


def test_breaks_in_a_run_are_relocated_as_they_are():
    names = [f"p{i:03d}-1.0-1.noarch.rpm" for i in range(40)]
    old = _store([(n, 'xml:base="file:///old" ', n) for n in names])
    other = _store([(n, 'xml:base="file:///other" ', "sub/" + n) for n in names])
    records, others = _records(old, 40), _records(other, 40)
    dumped = (_entry("read", 'xml:base="file:///new" ', "read-1.rpm"), b"", b"")
    chunks = [(records[i], names[i]) for i in range(10)]
    chunks += [(dumped, None)]                                  # a file read
    chunks += [(records[i], names[i]) for i in range(12, 20)]   # a gap in the store
    chunks += [(others[i], names[i]) for i in range(20, 30)]    # another store
    chunks += [(records[i], "Packages/" + names[i][0] + "/" + names[i]) for i in range(30, 35)]
    chunks += [(records[35], "a&b.rpm"), (records[36], "q'x.rpm")]  # escaped by the library
    chunks += [(records[i], "deep/er/" + names[i]) for i in range(37, 40)]
    for base in ("file:///new", None, 'file:///"quoted"'):
        assert b"".join(repowrite._primary_pieces(chunks, base)) == _one_by_one(chunks, base)


def test_a_store_whose_lines_differ_is_relocated_record_by_record():
    names = [f"p{i}-1.rpm" for i in range(6)]
    mixed = _store([(n, 'xml:base="file:///a" ' if i % 2 else "", n)
                    for i, n in enumerate(names)])
    assert mixed.location is None
    chunks = [(r, n) for r, n in zip(_records(mixed, 6), names)]
    assert b"".join(repowrite._primary_pieces(chunks, "file:///new")) \
        == _one_by_one(chunks, "file:///new")
