"""A taken unit's record data written with the kept stretches of the old one copied by the
kernel (``fileutil.FileRange``): the same bytes as written from the old text's slices, and the
text's own slices when the old file is another one by now."""

import json
import os

import pytest

from pungi_like import fileutil, reuse

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


def test_no_ranges_of_another_file_or_of_a_text_beyond_ascii(tmp_path):
    files = {"compose/P/\u00e9.rpm": ENTRY, "compose/P/b.rpm": ENTRY}
    old, path = _old(tmp_path, files, [], ascii=False)   # JSON itself escapes it
    source = old.same_data()
    try:
        assert not any(isinstance(p, fileutil.FileRange)
                       for p in reuse.data_text_pieces({}, {"compose/P/b.rpm"}, old, source))
    finally:
        os.close(source)
    text = open(path).read()
    os.unlink(path)
    with open(path, "w") as fh:    # the same text, another file
        fh.write(text)
    assert old.same_data() is None
