"""rpms.json's payload copied from an old compose (a no-op re-run): only when every entry came
from replays of that compose's units, which its rpms.json was written from, and then the very
bytes the entries would be written as."""

import json
import os
import threading
import time
import types

from pungi_like import metadata as md

ROWS = {
    "Server": [("bash-5.2-1.src", "bash-5.2-1.x86_64", "Server/x86_64/os/Packages/b/bash.rpm",
                "A1B2", "binary"),
               ("bash-5.2-1.src", "bash-5.2-1.src", "Server/source/tree/Packages/b/bash.src.rpm",
                None, "source")],
    "Workstation": [("z-2:1.0-3.src", "z-2:1.0-3.noarch", "Workstation/x86_64/os/z.rpm", "FF",
                     "binary"),
                    ("z-2:1.0-3.src", "z-debuginfo-2:1.0-3.x86_64", "Workstation/x86_64/d.rpm",
                     None, "debug")],
}


def _info(respin):
    return md.ComposeInfo(id=f"DP-1.0-20260101.n.{respin}", date="20260101", respin=respin,
                          type="nightly", label=None)


def _stored(variant):
    """A gather's journal entry as add_many records it (the rows a replay gives back)."""
    from pungi_like import reuse_capture

    with reuse_capture.capturing("/nonexistent") as cap:
        md.RpmsRecorder().add_many(variant, "x86_64", ROWS[variant])
    return cap.journal[0][1:]


def _old_compose(tmp_path, mw_end_offset=10.0):
    """An old compose's top directory: its rpms.json written from the gathers' entries and a
    timeline whose metadata.write started after both gathers ended."""
    top = str(tmp_path / "DP-1.0-20260101.n.0")
    rec = md.RpmsRecorder()
    for variant in ROWS:
        rec.add_many(variant, "x86_64", ROWS[variant])
    path = os.path.join(top, "compose", "metadata", "rpms.json")
    os.makedirs(os.path.dirname(path))
    rec.write(path, _info(0), fsync=False)
    now = time.time()
    units = [{"unit": "gather.Server.x86_64", "start": now - 30, "end": now - 20, "result": "ok"},
             {"unit": "gather.Workstation.x86_64", "start": now - 30, "end": now - 19,
              "result": "ok"},
             {"unit": "test.repoclosure.Server.x86_64", "start": now - 18, "end": now + 1,
              "result": "ok"},
             {"unit": "metadata.write", "start": now - 2, "end": now + mw_end_offset,
              "result": "ok"},
             {"unit": "test.manifests", "start": now + 20, "end": now + 21, "result": "ok"}]
    os.makedirs(os.path.join(top, "logs", "global"))
    with open(os.path.join(top, "logs", "global", "timeline.json"), "w") as fh:
        json.dump({"units": units}, fh)
    return top, path


def _compose(top, rec, taken, journals=None):
    """What payload_source reads of the new compose: its recorder, its reuse pool (the old
    compose as its source, the old units' journals) and the units ended so far."""
    journals = journals or {}
    pool = types.SimpleNamespace(
        sources=[("DP-1.0-20260101.n.0", top, 5)],
        _units=lambda name: iter([types.SimpleNamespace(topdir=top,
                                                        journal=journals.get(name, []))]))
    scheduler = types.SimpleNamespace(timeline_lock=threading.Lock(), timeline=[
        {"unit": name, "reused_from": "DP-1.0-20260101.n.0"} for name in taken])
    return types.SimpleNamespace(rpms=rec, reuse_pool=pool, scheduler=scheduler)


def _replayed(top, variants=("Server", "Workstation")):
    rec = md.RpmsRecorder()
    for variant in variants:
        rec.add_stored(*_stored(variant), source=(top, f"gather.{variant}.x86_64"))
    return rec


def test_replayed_from_names_the_replays_only_when_every_entry_came_from_one():
    rec = md.RpmsRecorder()
    assert rec.replayed_from() is None     # nothing added
    rec.add_stored(*_stored("Server"), source=("/old", "gather.Server.x86_64"))
    assert rec.replayed_from() == {("/old", "gather.Server.x86_64")}
    for add in (lambda r: r.add_stored(*_stored("Workstation")),     # no source
                lambda r: r.add_many("Workstation", "x86_64", ROWS["Workstation"]),
                lambda r: r.add("Workstation", "x86_64", *ROWS["Workstation"][0]),
                lambda r: r._add_checked("Workstation", "x86_64", *ROWS["Workstation"][0])):
        other = md.RpmsRecorder()
        other.add_stored(*_stored("Server"), source=("/old", "gather.Server.x86_64"))
        add(other)
        assert other.replayed_from() is None


def test_the_copied_payload_is_the_bytes_written_from_the_entries(tmp_path):
    top, old = _old_compose(tmp_path)
    rec = _replayed(top)
    copied, written = str(tmp_path / "copied.json"), str(tmp_path / "written.json")
    rec.write(copied, _info(1), fsync=False, payload_from=old)
    assert rec.copied_from == old
    by_copy = rec.written_payload
    rec.write(written, _info(1), fsync=False)
    assert rec.copied_from is None
    with open(copied, "rb") as a, open(written, "rb") as b:
        assert a.read() == b.read()
    assert by_copy == rec.written_payload
    assert md.same_rpms_payload(old, by_copy)
    assert rec.payload() == json.load(open(written))["payload"]["rpms"]


def test_a_source_without_that_layout_is_not_copied(tmp_path):
    """A file that does not end or indent as this compose's document would: written here."""
    _top, old = _old_compose(tmp_path)
    rec = _replayed("/anywhere")
    written = str(tmp_path / "written.json")
    rec.write(written, _info(1), fsync=False)
    for bad in (b'{"payload": {"compose": {}, "rpms": {}}}', b"", b"not json at all"):
        with open(str(tmp_path / "bad.json"), "wb") as fh:
            fh.write(bad)
        out = str(tmp_path / "out.json")
        rec.write(out, _info(1), fsync=False, payload_from=str(tmp_path / "bad.json"))
        assert rec.copied_from is None
        assert open(out, "rb").read() == open(written, "rb").read()
    rec.write(str(tmp_path / "out.json"), _info(1), fsync=False,
              payload_from=str(tmp_path / "missing.json"))
    assert rec.copied_from is None


def test_payload_source_only_for_the_compose_the_entries_were_written_from(tmp_path):
    top, old = _old_compose(tmp_path)
    gathers = ["gather.Server.x86_64", "gather.Workstation.x86_64"]
    # every entry replayed from the old compose's gathers, ended before its metadata.write;
    # test.repoclosure started before that ended: taken here, or recorded without packages
    assert md.payload_source(_compose(top, _replayed(top), gathers + [
        "test.repoclosure.Server.x86_64"])) == old
    assert md.payload_source(_compose(top, _replayed(top), gathers)) == old
    rpms_op = ("rpms",) + _stored("Server")
    assert md.payload_source(_compose(top, _replayed(top), gathers, journals={
        "test.repoclosure.Server.x86_64": [rpms_op]})) is None
    # a gather of the old compose not replayed here (it ran, or another compose's was taken)
    assert md.payload_source(_compose(top, _replayed(top, ["Server"]), gathers[:1], journals={
        "gather.Workstation.x86_64": [rpms_op]})) is None
    ran = _replayed(top, ["Server"])
    ran.add_many("Workstation", "x86_64", ROWS["Workstation"])
    assert md.payload_source(_compose(top, ran, gathers)) is None
    # replays of another compose's units
    assert md.payload_source(_compose(top, _replayed(str(tmp_path / "other")), gathers)) is None
    # a gather that ended after metadata.write started there
    timeline = os.path.join(top, "logs", "global", "timeline.json")
    data = json.load(open(timeline))
    data["units"][1]["end"] = data["units"][3]["start"] + 0.5
    with open(timeline, "w") as fh:
        json.dump(data, fh)
    assert md.payload_source(_compose(top, _replayed(top), gathers)) is None


def test_payload_source_not_for_an_rpms_json_changed_since_it_was_written(tmp_path):
    """Its ctime later than its metadata.write's end (rewritten, touched, copied back)."""
    top, old = _old_compose(tmp_path, mw_end_offset=-1.0)
    gathers = ["gather.Server.x86_64", "gather.Workstation.x86_64"]
    assert md.payload_source(_compose(top, _replayed(top), gathers)) is None
