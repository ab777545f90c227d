"""pkgset.entries_from_old: a re-run's record entries of the package set's links, taken from
the old record only for the very files it recorded (the old compose's device, the inode, size
and modification time of its entry, bytes that did not name that compose) and only for hard
links of them; every other file is left to the record to stat and hash."""

import os
from types import SimpleNamespace

import pytest

from phases import pkgset
from pungi_like import reuse_keys
from pungi_like.fileutil import Ident

pytestmark = pytest.mark.unit


def _setup(tmp_path, names):
    src = tmp_path / "repo"
    src.mkdir()
    download = tmp_path / "top" / "work" / "global" / "download"
    download.mkdir(parents=True)
    linked, idents, known = {}, {}, {}
    for i, name in enumerate(names):
        path = src / name
        path.write_bytes(b"rpm %d" % i)
        st = os.stat(path)
        linked[name] = (SimpleNamespace(path=str(path)), str(download / name), None)
        idents[str(path)] = Ident(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        known[name] = ([st.st_ino, st.st_size, st.st_mtime_ns], {"name": name},
                       {"sha256": "%064x" % i, "size": st.st_size, "names_compose": False,
                        "stat": [st.st_ino, st.st_size, st.st_mtime_ns]})
    device = os.stat(src).st_dev
    return str(download), linked, idents, (device, known, "Old-1.0-20240101.n.0")


def test_the_very_files_recorded_take_their_old_entries(tmp_path):
    download, linked, idents, old = _setup(tmp_path, ["a.rpm", "b.rpm"])
    entries, digests = pkgset.entries_from_old(linked, download, old, idents)
    assert sorted(entries) == [os.path.join(os.path.abspath(download), n)
                               for n in ("a.rpm", "b.rpm")]
    a = entries[os.path.join(os.path.abspath(download), "a.rpm")]
    st = os.stat(linked["a.rpm"][0].path)
    assert a == {"sha256": "%064x" % 0, "size": st.st_size, "names_compose": False,
                 "stat": [st.st_ino, st.st_size, st.st_mtime_ns]}
    assert ((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), "%064x" % 0) in digests


@pytest.mark.parametrize("change", ["inode", "mtime", "size", "device", "names_compose",
                                    "one_by_one", "no_stat", "not_in_old"])
def test_a_file_not_proved_the_same_is_left_to_the_record(tmp_path, change):
    download, linked, idents, old = _setup(tmp_path, ["a.rpm", "b.rpm"])
    device, known, cid = old
    source = linked["a.rpm"][0].path
    ident = idents[source]
    single = ()
    if change == "inode":
        idents[source] = Ident(ident.st_dev, ident.st_ino + 1000, ident.st_size, ident.st_mtime_ns)
    elif change == "mtime":
        idents[source] = Ident(ident.st_dev, ident.st_ino, ident.st_size, ident.st_mtime_ns + 1)
    elif change == "size":
        known["a.rpm"][2]["size"] += 1
    elif change == "device":
        old = (device + 1, known, cid)
    elif change == "names_compose":
        known["a.rpm"][2]["names_compose"] = "binary"
    elif change == "one_by_one":
        # linked one by one as a copy (another inode)
        single = [(source, linked["a.rpm"][1])]
        with open(source, "rb") as fh:
            data = fh.read()
        with open(linked["a.rpm"][1], "wb") as fh:
            fh.write(data)
        os.utime(linked["a.rpm"][1], ns=(ident.st_mtime_ns, ident.st_mtime_ns))
    elif change == "no_stat":
        del idents[source]
    elif change == "not_in_old":
        del known["a.rpm"]
    entries, _digests = pkgset.entries_from_old(linked, download, old, idents, single)
    top = os.path.abspath(download)
    if change == "device":
        assert entries == {}
    else:
        assert sorted(entries) == [os.path.join(top, "b.rpm")]


def test_a_hard_link_made_one_by_one_takes_its_entry(tmp_path):
    download, linked, idents, old = _setup(tmp_path, ["a.rpm"])
    os.link(linked["a.rpm"][0].path, linked["a.rpm"][1])
    entries, _digests = pkgset.entries_from_old(
        linked, download, old, idents, [(linked["a.rpm"][0].path, linked["a.rpm"][1])])
    assert list(entries) == [os.path.join(os.path.abspath(download), "a.rpm")]


def test_no_old_record_gives_nothing_no_stats_stats_the_sources(tmp_path):
    download, linked, idents, old = _setup(tmp_path, ["a.rpm"])
    assert pkgset.entries_from_old(linked, download, None, idents) == ({}, [])
    assert pkgset.entries_from_old(linked, download, old, None) == \
        pkgset.entries_from_old(linked, download, old, idents)
    # a source changed since the stat run would have told: its own stat is taken
    os.utime(linked["a.rpm"][0].path, ns=(1, 1))
    assert pkgset.entries_from_old(linked, download, old, None) == ({}, [])


def test_noted_digests_are_what_file_digest_answers(tmp_path):
    path = tmp_path / "f.rpm"
    path.write_bytes(b"bytes")
    st = os.stat(path)
    needles = (b"/some/top", b"Id-1")
    reuse_keys.note_digests([((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), "ab" * 32)],
                            needles)
    assert reuse_keys.is_cached(st, needles)
    assert reuse_keys.file_digest(str(path), needles, st=st) == \
        ("ab" * 32, {b"/some/top": False, b"Id-1": False})
