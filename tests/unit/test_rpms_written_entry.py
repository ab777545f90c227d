"""rpms.json's record entry made as it is written (``reuse.WrittenEntry``, metadata.write's
``unit.written_entries``): the very entry ``describe_files`` makes by reading the file, or
none where it could differ."""

import hashlib
import os

import pytest

from pungi_like import metadata as md
from pungi_like import reuse

from test_rpms_payload_copy import ROWS, _info, _old_compose, _replayed


def _described(path, names):
    """The entry ``describe_files`` makes of the file at ``path`` (read back)."""
    rel = os.path.relpath(path, names.topdir)
    reuse._normalised.clear()
    return reuse.describe_files([path], names)[names.norm(rel)]


def _target(tmp_path, respin=1):
    """(rpms.json's path in a new compose, that compose's Names)."""
    top = str(tmp_path / f"DP-1.0-20260101.n.{respin}")
    path = os.path.join(top, "compose", "metadata", "rpms.json")
    os.makedirs(os.path.dirname(path))
    return path, reuse.Names(top, _info(respin).id)


@pytest.mark.parametrize("copied", [False, True])
def test_the_entry_made_while_writing_is_the_one_read_back(tmp_path, copied):
    top, old = _old_compose(tmp_path)
    rec = _replayed(top)
    path, names = _target(tmp_path)
    rec.write(path, _info(1), fsync=False, payload_from=old if copied else None, names=names)
    assert (rec.copied_from == old) is copied
    made = rec.written_entry
    assert made is not None
    # the compose id is in its header: text, with its normalised digest
    assert made["names_compose"] == "text" and "content" in made
    assert made == _described(path, names)
    # and what the unit's record takes (describe_files' ``known``) is that entry
    rel = names.norm(os.path.relpath(path, names.topdir))
    assert reuse.describe_files([path], names, known={path: made})[rel] is made


def test_no_entry_without_names_or_for_a_payload_naming_the_compose(tmp_path):
    rec = md.RpmsRecorder()
    for variant in ROWS:
        rec.add_many(variant, "x86_64", ROWS[variant])
    path, names = _target(tmp_path)
    rec.write(path, _info(1), fsync=False)
    assert rec.written_entry is None
    # a package path holding the compose's id: the payload names the compose too
    rec.add_many("Server", "x86_64", [("a-1-1.src", "a-1-1.noarch",
                                       f"Server/x86_64/os/{names.compose_id}/a.rpm", None,
                                       "binary")])
    rec.write(path, _info(1), fsync=False, names=names)
    assert rec.written_entry is None
    assert _described(path, names)["names_compose"] == "text"


def _entry(tmp_path, names, pieces):
    """WrittenEntry's entry of a file written from ``pieces`` (the first is the head)."""
    path = os.path.join(names.topdir, "f.json")
    os.makedirs(names.topdir, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(b"".join(pieces))
    made = reuse.WrittenEntry(names, pieces[0])
    for piece in pieces[1:]:
        made.feed(piece)
    return path, made.entry(path)


def test_written_entry_agrees_with_describe_files_or_gives_none(tmp_path):
    names = reuse.Names(str(tmp_path / "C-1.n.0"), "C-1.n.0")
    top, cid = names.topdir.encode(), names.compose_id.encode()
    cases = {
        "no name of the compose": [b'{"a": 1,\n', b'"b": "x"}\n'],
        "names in the head only": [b'{"id": "' + cid + b'", "dir": "' + top + b'",\n',
                                   b'"rpms": {"p": "Server/p.rpm"}}\n' * 50],
        "the id at the head's very end": [b"id " + cid, b" and the rest\n"],
        "the id cut between head and payload": [b"id " + cid[:4], cid[4:] + b" more\n"],
        "the directory cut between pieces": [b"x\n", b"dir " + top[:6], top[6:] + b"\n"],
        "the id in the payload": [b"id " + cid + b"\n", b"again " + cid + b"\n"],
        "a character cut between pieces": [b"id " + cid + b" \xc3", b"\xa9 ok\n"],
        "a NUL in the payload": [b"id " + cid + b"\n", b"\0\n"],
        "not UTF-8 in the head": [b"id " + cid + b" \xff\n", b"rest\n"],
    }
    made_some = 0
    for what, pieces in cases.items():
        path, entry = _entry(tmp_path, names, pieces)
        described = _described(path, names)
        assert entry is None or entry == described, what
        made_some += entry is not None
    assert made_some == 3
    # the head naming the compose, the payload not: the entry is made, normalised as a whole
    path, entry = _entry(tmp_path, names, cases["names in the head only"])
    normal = b"".join(cases["names in the head only"]).replace(top, b"{topdir}").replace(
        cid, b"{compose_id}")
    assert entry["content"] == hashlib.sha256(normal).hexdigest()


def test_written_entry_binary_over_the_rewrite_limit(tmp_path, monkeypatch):
    names = reuse.Names(str(tmp_path / "C-1.n.0"), "C-1.n.0")
    monkeypatch.setattr(reuse, "REWRITE_LIMIT", 10)
    path, entry = _entry(tmp_path, names, [b"id C-1.n.0\n", b"more than ten bytes\n"])
    assert entry["names_compose"] == "binary" and "content" not in entry
    assert entry == _described(path, names)


def test_a_known_entry_whose_file_changed_since_is_read_again(tmp_path):
    names = reuse.Names(str(tmp_path / "C-1.n.0"), "C-1.n.0")
    path, entry = _entry(tmp_path, names, [b"id C-1.n.0\n", b"rest\n"])
    with open(path, "ab") as fh:
        fh.write(b"appended\n")
    got = reuse.describe_files([path], names, known={path: entry})["f.json"]
    assert got == _described(path, names) and got["size"] == entry["size"] + 9
