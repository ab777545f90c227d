"""A taken unit's record data written with the kept stretches of the old one copied by the
kernel (``fileutil.FileRange``): the same bytes as written from the old text's slices, and the
text's own slices when the old file is another one by now."""

import json
import os

import pytest

from pungi_like import fileutil, reuse, reuse_precheck

ENTRY = {"sha256": "0" * 64, "size": 3, "names_compose": False, "stat": [1, 3, 5]}


def _old(tmp_path, files, journal, ascii=True):
    top = tmp_path / "T-1-20260101.n.0"
    path = reuse.data_path(str(top), "u")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shaped, lines = reuse.journal_lines(journal)
    with open(path, "w") as fh:
        fh.write("".join(reuse.data_pieces(
            [json.dumps({"files": files, "journal": shaped}, separators=(",", ":"),
                        ensure_ascii=ascii)], lines)))
    old = reuse.OldUnit(str(top), top.name, {"unit": "u"})
    old.raw    # noqa: B018
    return old, path


@pytest.mark.parametrize("dropped", [{"compose/P/a.rpm"}, {"compose/P/c.rpm", "compose/P/e.rpm"},
                                     {"compose/P/a.rpm", "compose/P/e.rpm"}, set()])
def test_ranges_give_the_bytes_of_the_slices(tmp_path, dropped):
    files = {f"compose/P/{n}.rpm": dict(ENTRY, size=i) for i, n in enumerate("abcde")}
    journal = [["rpms", "S", "x86_64", json.dumps([["a", "b", "p", None, "binary"]] * 400)],
               ["epoch", 1, "x"]]
    old, _path = _old(tmp_path, files, journal)
    fresh = {"compose/P/c.rpm": dict(ENTRY, size=99), "work/new": ENTRY}
    dropped = dropped | {"compose/P/c.rpm"}
    source = old.same_data()
    assert source is not None
    try:
        pieces = reuse.data_text_pieces(fresh, dropped, old, source)
        assert any(isinstance(p, fileutil.FileRange) for p in pieces)
        fileutil.write_atomic(tmp_path / "ranges", pieces, fsync=False)
    finally:
        os.close(source)
    fileutil.write_atomic(tmp_path / "slices", reuse.data_text_pieces(fresh, dropped, old),
                          fsync=False)
    assert (tmp_path / "ranges").read_bytes() == (tmp_path / "slices").read_bytes()
    got = reuse.parse_data((tmp_path / "ranges").read_text())
    want = {rel: e for rel, e in files.items() if rel not in dropped}
    want.update(fresh)
    assert got == {"files": want, "journal": journal}


def test_ranges_of_a_text_beyond_ascii_are_at_its_bytes_offsets(tmp_path):
    """The stretches are found in the bytes (``_kept_ranges``), so a name beyond ASCII
    written as such (not escaped) moves no range: the same bytes as the text's slices."""
    files = {"compose/P/\u00e9.rpm": ENTRY, "compose/P/b.rpm": ENTRY,
             "compose/P/\u00fc-c.rpm": ENTRY}
    old, _path = _old(tmp_path, files, [], ascii=False)
    fresh = {"compose/P/b.rpm": dict(ENTRY, size=7)}
    source = old.same_data()
    try:
        pieces = reuse.data_text_pieces(fresh, {"compose/P/b.rpm"}, old, source)
        assert any(isinstance(p, fileutil.FileRange) for p in pieces)
        fileutil.write_atomic(tmp_path / "ranges", pieces, fsync=False)
    finally:
        os.close(source)
    fileutil.write_atomic(tmp_path / "slices",
                          reuse.data_text_pieces(fresh, {"compose/P/b.rpm"}, old), fsync=False)
    assert (tmp_path / "ranges").read_bytes() == (tmp_path / "slices").read_bytes()
    assert reuse.parse_data((tmp_path / "ranges").read_text(encoding="utf-8"))["files"] == \
        dict(files, **fresh)


def test_no_ranges_of_another_file(tmp_path):
    files = {"compose/P/a.rpm": ENTRY, "compose/P/b.rpm": ENTRY}
    old, path = _old(tmp_path, files, [])
    assert old.same_data() is not None
    text = open(path).read()
    os.unlink(path)
    with open(path, "w") as fh:    # the same text, another file
        fh.write(text)
    assert old.same_data() is None


def test_a_mapped_record_data_gives_the_same_journal_and_ranges(tmp_path, monkeypatch):
    """A record data of ``MAP_MIN`` bytes or more is mapped (``map_file``), not read: the
    same journal (its long texts left in the mapping) and the same record data written."""
    files = {f"compose/P/{i:05d}.rpm": dict(ENTRY, size=i) for i in range(300)}
    journal = [["rpms", "S", "x86_64", json.dumps([["a", "b", "p", None, "binary"]] * 400)],
               ["epoch", 1, "x"]]
    _read, path = _old(tmp_path, files, journal)
    monkeypatch.setattr(reuse_precheck, "MAP_MIN", 1 << 10)
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(path))))
    mapped = reuse.OldUnit(top, os.path.basename(top), {"unit": "u"})
    assert type(mapped.raw_bytes).__name__ == "mmap"
    assert [reuse.line_text(v) for op in mapped.journal for v in op] == \
        [v for op in journal for v in op]
    fresh = {"compose/P/00007.rpm": dict(ENTRY, size=70)}
    source = mapped.same_data()
    try:
        pieces = reuse.data_text_pieces(fresh, {"compose/P/00007.rpm"}, mapped, source)
        fileutil.write_atomic(tmp_path / "ranges", pieces, fsync=False)
    finally:
        os.close(source)
    assert type(mapped.raw_bytes).__name__ == "mmap"   # never decoded whole
    fileutil.write_atomic(tmp_path / "slices",
                          reuse.data_text_pieces(fresh, {"compose/P/00007.rpm"}, _read),
                          fsync=False)
    assert (tmp_path / "ranges").read_bytes() == (tmp_path / "slices").read_bytes()
