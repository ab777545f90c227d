"""rpms.json's payload made ahead (``RpmsRecorder.encode_ahead``, started by the driver when
the gathers ended): the very bytes, record entry and payload ``write`` makes itself, taken
only while no entry was added since and the document is the same."""

import pytest

from pungi_like import metadata as md
from pungi_like import reuse

from test_rpms_payload_copy import ROWS, _info
from test_rpms_written_entry import _target


def _recorder():
    rec = md.RpmsRecorder()
    for variant in ROWS:
        rec.add_many(variant, "x86_64", ROWS[variant])
    return rec


def _written(tmp_path, rec, respin=1):
    path, names = _target(tmp_path, respin)
    rec.write(path, _info(respin), fsync=False, names=names)
    with open(path, "rb") as fh:
        data = fh.read()
    # the entry without the file's identity (two files here)
    entry = {k: v for k, v in (rec.written_entry or {}).items() if k != "stat"}
    return data, entry, rec.written_payload, rec.payload()


def test_the_bytes_made_ahead_are_written_and_nothing_is_made_again(tmp_path, monkeypatch):
    expected = _written(tmp_path / "plain", _recorder())
    assert "content" in expected[1]
    rec = _recorder()
    rec.encode_ahead(_info(1))
    rec._ahead_thread.join()

    def made_again(*args):
        raise AssertionError("the payload was made again")

    monkeypatch.setattr(md, "_nested", made_again)
    monkeypatch.setattr(md, "_rpms_json_pieces", made_again)
    reuse._normalised.clear()
    assert _written(tmp_path / "ahead", rec) == expected


@pytest.mark.parametrize("late", ["entry", "document"])
def test_not_taken_after_an_entry_was_added_or_for_another_document(tmp_path, late):
    plain, rec = _recorder(), _recorder()
    rec.encode_ahead(_info(1))
    respin = 1
    if late == "entry":
        for r in (plain, rec):
            r.add_many("Server", "x86_64", [("z-1-1.src", "z-1-1.noarch",
                                             "Server/x86_64/os/Packages/z/z-1-1.noarch.rpm",
                                             None, "binary")])
    else:
        respin = 2      # another compose id in the document than the one made ahead
    expected = _written(tmp_path / "plain", plain, respin)
    reuse._normalised.clear()
    got = _written(tmp_path / "ahead", rec, respin)
    assert got == expected
    if late == "entry":
        assert b"z-1-1.noarch.rpm" in got[0]
