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


class _Compose:
    def __init__(self, rec):
        self.rpms = rec

    @staticmethod
    def compose_info():
        return _info(1)


@pytest.mark.parametrize("old, ran, imported", [
    ([("Peer-1", "/old")], True, True),     # a changed re-run: the diff compares packages
    ([], True, False),                      # a cold compose: no diff
    ([("Peer-1", "/old")], False, False),   # nothing added by a unit here (a no-op): no diff
])
def test_the_diff_s_imports_made_when_the_gathers_ended(monkeypatch, old, ran, imported):
    """compose_run.rpms_ahead: with an old compose to diff against and entries added by the
    units that ran, the diff's imports (rpm's, 0.06 s at its first import) are made in the
    payload's thread when the gathers end, not after the last unit."""
    import threading

    from pungi_like import composediff
    from pungi_like.cli import compose_run

    threads = []
    monkeypatch.setattr(composediff, "preload",
                        lambda: threads.append(threading.current_thread().name))
    rec = _recorder() if ran else md.RpmsRecorder()
    compose_run.rpms_ahead(_Compose(rec), old)
    if ran:
        rec._ahead_thread.join()
    assert threads == (["rpms-ahead"] if imported else [])
    if ran:
        # the payload was made all the same
        assert rec._ahead is not None


def test_preload_imports_rpm(monkeypatch):
    import sys

    from pungi_like import composediff

    # not imported yet in this process, as in a driver before its diff (another test may
    # have imported it: taken out for this one, put back after)
    monkeypatch.delitem(sys.modules, "rpm", raising=False)
    composediff.preload()
    assert "rpm" in sys.modules
    assert hasattr(sys.modules["rpm"], "labelCompare")   # what the diff's EVR order uses
