"""The reuse record's pieces: what a unit hands over survives JSON with the compose's directory
and id moved; what cannot be recorded says so; files written in a unit's thread are captured."""

import json
import os
import threading
import types

import pytest

from phases.pkgset import PackageSet
from pungi_like import reuse, reuse_keys
from pungi_like.rpmtools.depsolve import GatheredPackage, GatherResult
from pungi_like.rpmtools.headers import RpmHeader

pytestmark = pytest.mark.unit


def test_hand_over_round_trips_into_another_compose(tmp_path):
    old = reuse.Names(str(tmp_path / "a" / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    new = reuse.Names(str(tmp_path / "b" / "T-1-20260102.n.3"), "T-1-20260102.n.3")
    header = RpmHeader(path=os.path.join(old.topdir, "work", "global", "download", "x-1-1.noarch.rpm"), name="x",
                       epoch=0, version="1", release="1", arch="noarch", sourcerpm="x-1-1.src.rpm",
                       excludearch=["s390x"])
    pkg = GatheredPackage("x", 0, "1", "1", "noarch", header.path, "x-1-1.src.rpm", "pkgset",
                          flags={"input", "dep"})
    value = {("pkgset", "x86_64"): PackageSet("x86_64", os.path.join(old.topdir, "work", "x86_64", "repo"),
                                              os.path.join(old.topdir, "work", "global", "download"),
                                              {"x-1-1.noarch.rpm": header}),
             "gather": GatherResult(binary={"x-0:1-1.noarch": pkg}, broken_deps=[("a", "b")])}
    data = reuse.encode(value, old)
    text = repr(data)
    assert old.topdir not in text and "T-1-20260101.n.0" not in text
    back = reuse.decode(data, new)
    pkgset = back[("pkgset", "x86_64")]
    assert pkgset.repo_path == os.path.join(new.topdir, "work", "x86_64", "repo")
    assert pkgset.packages["x-1-1.noarch.rpm"].path.startswith(os.path.join(new.topdir, "work", "global", ""))
    assert pkgset.packages["x-1-1.noarch.rpm"].excludearch == ["s390x"]
    gathered = back["gather"].binary["x-0:1-1.noarch"]
    assert gathered.flags == {"input", "dep"} and back["gather"].broken_deps == [("a", "b")]


def test_an_unknown_object_makes_the_unit_not_reusable():
    class Solver:
        pass

    with pytest.raises(reuse.NotRecordable):
        reuse.encode({"solver": Solver()}, reuse.Names("/x", "id"))


def test_files_written_in_the_units_thread_are_captured(tmp_path):
    top = tmp_path / "compose"
    (top / "sub").mkdir(parents=True)
    other = []

    def elsewhere():
        with open(top / "other-thread", "w") as fh:
            fh.write("not mine")
        other.append(1)

    with reuse.capturing(str(top)) as cap:
        with open(top / "sub" / "a.txt", "w") as fh:
            fh.write("a")
        os.link(top / "sub" / "a.txt", top / "b.txt")
        staging = top / ".staging"
        staging.mkdir()
        (staging / "c").write_text("c")
        os.rename(staging, top / "dir")
        with open(tmp_path / "outside", "w") as fh:
            fh.write("outside the compose")
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    with open(top / "after", "w") as fh:
        fh.write("after the unit")
    found = {os.path.relpath(p, top) for p in cap.paths() if os.path.isfile(p)}
    assert found == {"sub/a.txt", "b.txt", "dir/c"}
    assert other == [1]


def test_replayed_rpms_entries_equal_checked_ones():
    """A reused unit's rpms.json entries are replayed without productmd's checks (they passed
    them when the unit ran): the entries come out the same as when checked."""
    from pungi_like.metadata import RpmsRecorder

    calls = [("Server", "x86_64", "x-1-1.src", "x-1-1.x86_64", "Server/x/x-1-1.x86_64.rpm",
              "ABCD", "binary"),
             ("Server", "x86_64", "x-0:1-1.src", "x-debuginfo-0:1-1.x86_64", "Server/d.rpm",
              None, "debug"),
             # (rpm, srpm) given the wrong way round is tolerated either way
             ("Server", "x86_64", "y-2:3-4.noarch", "y-2:3-4.src", "Server/y.rpm", None,
              "binary"),
             ("Server", "src", "x-1-1.src", None, "Server/src/x-1-1.src.rpm", "abcd", "source")]
    checked, replayed = RpmsRecorder(), RpmsRecorder()
    for call in calls:
        checked.add(*call)
        replayed.add(*call, checked=True)
    assert replayed.entries() == checked.entries()
    assert ("Server", "x86_64", "x-0:1-1.src", "x-0:1-1.src", "Server/src/x-1-1.src.rpm",
            "abcd", "source") in replayed.entries()
    with pytest.raises(ValueError):
        RpmsRecorder().add("Server", "x86_64", "bad", "x-1-1.x86_64", "p", None, "binary")



def test_a_trees_rpms_entries_are_journalled_once_and_replayed_as_stored(tmp_path):
    """add_many notes one journal entry for the tree with the keys as stored; the record
    holds it as JSON text and a reused unit's replay (add_stored) gives the very entries
    add_many stored, into a compose of another id."""
    from pungi_like.metadata import RpmsRecorder

    rows = [("x-1-1.src", "x-1-1.x86_64", "Server/x86_64/os/Packages/x/x-1-1.x86_64.rpm",
             "ABCD", "binary"),
            ("x-0:1-1.src", "x-debuginfo-0:1-1.x86_64", "Server/d.rpm", None, "debug"),
            ("y-2:3-4.noarch", "y-2:3-4.src", "Server/{odd}/y.rpm", None, "binary"),
            ("x-1-1.src", None, "Server/source/tree/x-1-1.src.rpm", "abcd", "source")]
    old_top = tmp_path / "T-1-20260101.n.0"
    (old_top / "compose").mkdir(parents=True)
    with reuse.capturing(str(old_top)) as capture:
        recorded = RpmsRecorder()
        recorded.add_many("Server", "x86_64", rows)
    assert [op[0] for op in capture.journal] == ["rpms"]
    unit = types.SimpleNamespace(name="gather.Server.x86_64", variant=None, arch="x86_64")
    record = reuse.build_record(_Compose(old_top, old_top.name), unit, capture, {}, {})
    assert [op[0] for op in record["journal"]] == ["rpms"]
    new_top = tmp_path / "T-1-20260102.n.0"
    new_top.mkdir()
    compose = _Compose(new_top, new_top.name)
    compose.rpms = RpmsRecorder()
    reuse.ReusePool(compose)._replay(json.loads(json.dumps(record["journal"])))
    assert compose.rpms.entries() == recorded.entries()
    checked = RpmsRecorder()
    for row in rows:
        checked.add("Server", "x86_64", *row)
    assert recorded.entries() == checked.entries()


def test_an_old_records_digest_is_taken_for_the_very_same_file_only(tmp_path, monkeypatch):
    """A file an old compose recorded (same device, inode, size, mtime) is not read again for a
    new record: its recorded digest is used. A copy, a changed file or a file whose old path
    is gone is read."""
    from pungi_like import reuse_keys

    monkeypatch.setattr(reuse_keys, "_known", {})
    monkeypatch.setattr(reuse_keys, "_digest_cache", {})
    old = tmp_path / "old.rpm"
    old.write_bytes(b"rpm bytes")
    linked, copied = tmp_path / "linked.rpm", tmp_path / "copied.rpm"
    os.link(old, linked)
    copied.write_bytes(b"rpm bytes")
    os.utime(copied, ns=(old.stat().st_atime_ns, old.stat().st_mtime_ns))
    real = reuse.file_digest(str(copied))[0]
    reuse_keys._digest_cache.clear()
    st = old.stat()
    recorded = "f" * 64   # not the bytes' digest: shows which one is taken
    entry = {"sha256": recorded, "size": st.st_size, "names_compose": False,
             "stat": [st.st_ino, st.st_size, st.st_mtime_ns]}
    reuse.remember([(str(old), entry),
                    (str(tmp_path / "named.rpm"), dict(entry, names_compose="text"))])
    needles = (b"/some/topdir", b"T-1-20260102.n.0")
    assert reuse.file_digest(str(linked), needles) == (recorded, {n: False for n in needles})
    assert reuse.file_digest(str(copied), needles)[0] == real
    # the old path gone: its inode may be another file's now
    reuse_keys._digest_cache.clear()
    os.unlink(old)
    assert reuse.file_digest(str(linked))[0] == real
    # a changed file (another mtime) is read
    reuse_keys._digest_cache.clear()
    os.link(linked, old)
    os.utime(linked, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert reuse.file_digest(str(linked))[0] == real


def test_describe_files_skips_links_and_missing_files(tmp_path):
    names = reuse.Names(str(tmp_path / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    top = tmp_path / "T-1-20260101.n.0"
    (top / "compose").mkdir(parents=True)
    (top / "compose" / "a.txt").write_text("a\n")
    os.symlink("a.txt", top / "compose" / "b.txt")
    files = reuse.describe_files([str(top / "compose" / "a.txt"), str(top / "compose" / "b.txt"),
                                  str(top / "compose" / "gone"),
                                  str(top / "compose" / "." / "a.txt")], names)
    assert list(files) == ["compose/a.txt"]
    assert files["compose/a.txt"]["size"] == 2


def test_old_digests_are_asked_for_once_and_only_for_unknown_hard_links(tmp_path):
    names = reuse.Names(str(tmp_path / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    top = tmp_path / "T-1-20260101.n.0"
    (top / "work").mkdir(parents=True)
    (tmp_path / "outside.rpm").write_bytes(b"one")
    (tmp_path / "outside2.rpm").write_bytes(b"two")
    os.link(tmp_path / "outside.rpm", top / "work" / "a.rpm")
    os.link(tmp_path / "outside2.rpm", top / "work" / "b.rpm")
    (top / "work" / "plain.txt").write_text("x")
    asked = []
    reuse.describe_files([str(top / "work" / "plain.txt")], names, lambda: asked.append(1))
    assert asked == []   # not a hard link
    reuse.describe_files([str(top / "work" / n) for n in ("a.rpm", "b.rpm")], names,
                         lambda: asked.append(1))
    assert asked == [1]  # once for the unit
    reuse.describe_files([str(top / "work" / "a.rpm")], names, lambda: asked.append(2))
    assert asked == [1]  # its digest is known now


UNIT = types.SimpleNamespace(name="gather.Server.x86_64")


class _Rpms:
    def __init__(self):
        self.added = []

    def add(self, *args, checked=False):
        self.added.append((args, checked))


class _Compose:
    def __init__(self, topdir, compose_id):
        self.topdir, self.compose_id = str(topdir), compose_id
        self.rpms = _Rpms()
        self.results = None


def _old_unit(tmp_path, name="gather.Server.x86_64"):
    """An old compose with one unit's record: a package (a hard link of a file outside), a
    text file naming the old compose, and a journal of one rpms.json entry."""
    cid = "T-1-20260101.n.0"
    top = tmp_path / "composes" / cid
    names = reuse.Names(str(top), cid)
    (top / "compose" / "Server" / "Packages").mkdir(parents=True)
    (top / "work" / "x86_64").mkdir(parents=True)
    (tmp_path / "x-1-1.noarch.rpm").write_bytes(b"rpm bytes")
    os.link(tmp_path / "x-1-1.noarch.rpm", top / "compose" / "Server" / "Packages" / "x.rpm")
    (top / "work" / "x86_64" / "list.conf").write_text(f"{top}/compose/Server/Packages/x.rpm\r\n")
    paths = [str(top / "compose" / "Server" / "Packages" / "x.rpm"),
             str(top / "work" / "x86_64" / "list.conf")]
    files = reuse.describe_files(paths, names)
    journal = [["rpm", reuse.encode(["Server", "x86_64", "x-1-1.src", "x-0:1-1.noarch",
                                     "Server/Packages/x.rpm", None, "binary"], names)]]
    data = reuse.data_path(str(top), name)
    os.makedirs(os.path.dirname(data))
    with open(data, "w") as fh:
        fh.write(json.dumps({"files": files, "journal": journal}, separators=(",", ":")) + "\n")
    record = {"unit": name, "key": "k", "reusable": True, "outputs": {"list": str(paths[1])}}
    return reuse.OldUnit(str(top), cid, record), files


def test_take_links_verifies_and_rewrites_into_a_self_contained_compose(tmp_path):
    """A reused unit's files are hard-linked (the very inode), its text naming the old compose
    is rewritten byte for byte (CRLF kept), its journal replayed, and the new compose's record
    data holds entries equal to a fresh description of its files, the journal copied as text."""
    old, old_files = _old_unit(tmp_path)
    cid = "T-1-20260102.n.0"
    new_top = tmp_path / "composes" / cid
    new_top.mkdir()
    compose = _Compose(new_top, cid)
    pool = reuse.ReusePool(compose)
    outputs, taken = pool.take(UNIT, old)
    pkg = new_top / "compose" / "Server" / "Packages" / "x.rpm"
    assert pkg.stat().st_ino == (tmp_path / "x-1-1.noarch.rpm").stat().st_ino
    conf = new_top / "work" / "x86_64" / "list.conf"
    assert conf.read_bytes() == f"{new_top}/compose/Server/Packages/x.rpm\r\n".encode()
    assert outputs == {"list": str(conf)}
    assert compose.rpms.added == [(("Server", "x86_64", "x-1-1.src", "x-0:1-1.noarch",
                                    "Server/Packages/x.rpm", None, "binary"), True)]
    data_file = reuse.data_path(str(new_top), "gather.Server.x86_64")
    assert taken == {"data_from": data_file}
    with open(data_file) as fh:
        text = fh.read()
    assert text.endswith(old.raw[old.raw.index(',"journal":'):])
    data = json.loads(text)
    names = reuse.Names(str(new_top), cid)
    assert data["files"] == reuse.describe_files([str(pkg), str(conf)], names)
    assert data["files"]["compose/Server/Packages/x.rpm"] == old_files[
        "compose/Server/Packages/x.rpm"]


def test_take_reuses_the_old_record_data_when_nothing_is_rewritten(tmp_path):
    old, _files = _old_unit(tmp_path)
    os.unlink(os.path.join(old.topdir, "work", "x86_64", "list.conf"))
    with open(reuse.data_path(old.topdir, "gather.Server.x86_64")) as fh:
        data = json.load(fh)
    del data["files"]["work/x86_64/list.conf"]
    with open(reuse.data_path(old.topdir, "gather.Server.x86_64"), "w") as fh:
        json.dump(data, fh)
    old = reuse.OldUnit(old.topdir, old.compose_id, old.record)
    new_top = tmp_path / "composes" / "T-1-20260102.n.0"
    new_top.mkdir()
    # the package is there already as this very inode (another unit's record holds it too)
    (new_top / "compose" / "Server" / "Packages").mkdir(parents=True)
    os.link(tmp_path / "x-1-1.noarch.rpm", new_top / "compose" / "Server" / "Packages" / "x.rpm")
    _outputs, taken = reuse.ReusePool(_Compose(new_top, "T-1-20260102.n.0")).take(UNIT, old)
    assert taken == {"data_from": reuse.data_path(old.topdir, "gather.Server.x86_64")}


def test_take_places_nothing_when_a_file_changed(tmp_path):
    old, _files = _old_unit(tmp_path)
    pkg = os.path.join(old.topdir, "compose", "Server", "Packages", "x.rpm")
    st = os.stat(pkg)
    with open(pkg, "r+b") as fh:
        fh.write(b"RPM")          # same size, other bytes
    os.utime(pkg, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    new_top = tmp_path / "composes" / "T-1-20260102.n.0"
    new_top.mkdir()
    with pytest.raises(reuse.CannotReuse):
        reuse.ReusePool(_Compose(new_top, "T-1-20260102.n.0")).take(UNIT, old)
    assert os.listdir(new_top) == []


def test_rewritten_repodata_records_equal_createrepo_c_fill(tmp_path):
    """A work/ repodata naming the old compose (xml:base) is rewritten for the new one: the
    named file's repomd record (made from the bytes in memory) equals createrepo_c's fill of
    the file written, the file that named nothing is linked with its record kept."""
    import gzip

    import createrepo_c as cr

    old = reuse.Names(str(tmp_path / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    new = reuse.Names(str(tmp_path / "T-1-20260102.n.0"), "T-1-20260102.n.0")
    src = tmp_path / "T-1-20260101.n.0" / "work" / "x86_64" / "repo" / "repodata"
    src.mkdir(parents=True)
    repomd = cr.Repomd()
    for kind, body in (("primary", f'<location xml:base="file://{old.topdir}/work"/>'),
                       ("other", "<other/>")):
        path = src / f"{kind}.xml.gz"
        path.write_bytes(gzip.compress(body.encode(), mtime=0))
        os.utime(path, (1700000000, 1700000000))
        record = cr.RepomdRecord(kind, str(path))
        record.fill(cr.SHA256)
        record.rename_file()
        repomd.set_record(record)
    (src / "repomd.xml").write_text(repomd.xml_dump())
    files = reuse.describe_files([str(p) for p in src.iterdir()], old)
    entries = {os.path.basename(rel): e for rel, e in files.items()}
    assert sorted(str(e["names_compose"]) for e in entries.values()) == ["False", "False",
                                                                          "repodata"]
    dst = tmp_path / "T-1-20260102.n.0" / "work" / "x86_64" / "repo" / "repodata"
    written = reuse.rewrite_repodata(str(src), str(dst), old, new, entries)
    again = cr.Repomd(str(dst / "repomd.xml"))
    for record in again.records:
        path = str(dst.parent / record.location_href)
        fresh = cr.RepomdRecord(record.type, path)
        fresh.fill(cr.SHA256)
        for field in ("checksum", "checksum_open", "size", "size_open", "timestamp"):
            assert getattr(record, field) == getattr(fresh, field), (record.type, field)
        if record.type == "other":
            assert os.stat(path).st_ino == os.stat(src.parent / record.location_href).st_ino
        else:
            assert new.topdir.encode() in gzip.decompress(open(path, "rb").read())
    known = {p: e for p, e in written.items() if e is not None}
    assert reuse.describe_files(list(written), new, known=known) == \
        reuse.describe_files(list(written), new)



def test_a_repodata_copy_takes_the_rewrite_of_the_same_bytes(tmp_path):
    """Two repodata dirs of the old compose with the same bytes (a package set's arch repo,
    a copy of the global one) rewritten in one compose: the second takes the file the first
    wrote (the very inode) and its repomd.xml and record entries equal a rewrite of its own."""
    import gzip
    import shutil

    import createrepo_c as cr

    old = reuse.Names(str(tmp_path / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    new = reuse.Names(str(tmp_path / "T-1-20260102.n.0"), "T-1-20260102.n.0")
    repos = [tmp_path / "T-1-20260101.n.0" / "work" / d / "repo" / "repodata"
             for d in ("global", "x86_64")]
    repos[0].mkdir(parents=True)
    repomd = cr.Repomd()
    path = repos[0] / "primary.xml.gz"
    path.write_bytes(gzip.compress(f'<location xml:base="file://{old.topdir}/w"/>'.encode(),
                                   mtime=0))
    record = cr.RepomdRecord("primary", str(path))
    record.fill(cr.SHA256)
    record.rename_file()
    repomd.set_record(record)
    (repos[0] / "repomd.xml").write_text(repomd.xml_dump())
    shutil.copytree(repos[0], repos[1])     # as copy_repodata: other inodes, same bytes
    rewrites = reuse.Rewrites()
    out = {}
    for how in ("shared", "alone"):
        for repo in repos:
            files = reuse.describe_files([str(p) for p in repo.iterdir()], old)
            entries = {os.path.basename(rel): e for rel, e in files.items()}
            dst = tmp_path / how / repo.relative_to(tmp_path / "T-1-20260101.n.0")
            written = reuse.rewrite_repodata(str(repo), str(dst), old, new, entries,
                                             rewrites if how == "shared" else None)
            out[how, repo.parent.parent.name] = dst, written
    (g, gw), (x, xw) = out["shared", "global"], out["shared", "x86_64"]
    primary = [n for n in os.listdir(g) if n.endswith("primary.xml.gz")]
    assert os.listdir(x) and primary and os.stat(g / primary[0]).st_ino == \
        os.stat(x / primary[0]).st_ino
    alone, alone_written = out["alone", "x86_64"]
    assert (x / "repomd.xml").read_bytes() == (alone / "repomd.xml").read_bytes()
    assert (x / primary[0]).read_bytes() == (alone / primary[0]).read_bytes()
    shared = {os.path.basename(p): e for p, e in xw.items() if e is not None}
    own = {os.path.basename(p): e for p, e in alone_written.items() if e is not None}
    assert {k: dict(e, stat=None) for k, e in shared.items()} == \
        {k: dict(e, stat=None) for k, e in own.items()}


def test_older_composes_records_are_read_only_when_needed(tmp_path):
    """The newest old compose's records are read at once; an older compose's only when a unit
    finds no record with its key in the ones read so far."""
    olds = []
    for n, key in ((2, "new"), (1, "mid"), (0, "old")):
        cid = f"T-1-20260101.n.{n}"
        top = tmp_path / cid
        record = {"unit": "gather.Server.x86_64", "key": key, "reusable": True}
        _write_json(top / "work" / "global" / "units" / "gather.Server.x86_64.json", record)
        _write_json(reuse.data_path(str(top), "gather.Server.x86_64"),
                    {"files": {}, "journal": []})
        olds.append((cid, str(top)))
    new_top = tmp_path / "T-1-20260102.n.0"
    pool = reuse.ReusePool(_Compose(new_top, "T-1-20260102.n.0"), olds)
    assert [s[2] for s in pool.sources] == [1, None, None]
    # the scheduler takes the first candidate whose files verify
    assert next(pool.candidates("gather.Server.x86_64", "gather", "new")).compose_id == \
        "T-1-20260101.n.2"
    assert [s[2] for s in pool.sources] == [1, None, None]
    found = pool.candidates("gather.Server.x86_64", "gather", "mid")
    assert next(found).compose_id == "T-1-20260101.n.1"
    assert [s[2] for s in pool.sources] == [1, 1, None]
    assert list(pool.candidates("gather.Server.x86_64", "gather", "gone")) == []
    assert [s[2] for s in pool.sources] == [1, 1, 1]
    assert [o.record["key"] for o in pool.by_unit["gather.Server.x86_64"]] == [
        "new", "mid", "old"]


def _write_json(path, data):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(data, fh)


def test_encoded_values_keep_their_json_form():
    """The record's JSON of a handed-over value is compared across composes (the output hash
    covers it): strings naming the compose become placeholders, fields keep their order."""
    names = reuse.Names("/srv/c/T-1-20260101.n.0", "T-1-20260101.n.0")
    header = RpmHeader(path="/srv/c/T-1-20260101.n.0/work/x-1-1.noarch.rpm", name="x", epoch=0,
                       version="1", release="1", arch="noarch", sourcerpm="x-1-1.src.rpm",
                       excludearch=["s390x", 3, None, ("a", 1.5)], buildtime=7)
    value = {"h": header, ("k", 1): [True, "T-1-20260101.n.0 was here", {"s"}]}
    assert json.dumps(reuse.encode(value, names), separators=(",", ":")) == (
        '{"__dict__":[["h",{"__dc__":"pungi_like.rpmtools.headers:RpmHeader","fields":{'
        '"path":"{topdir}/work/x-1-1.noarch.rpm","name":"x","epoch":0,"version":"1",'
        '"release":"1","arch":"noarch","sourcerpm":"x-1-1.src.rpm","sigkey":null,'
        '"excludearch":["s390x",3,null,{"__tuple__":["a",1.5]}],"exclusivearch":[],'
        '"buildtime":7}}],[{"__tuple__":["k",1]},[true,"{compose_id} was here",'
        '{"__set__":["s"]}]]]}')


def test_record_data_is_cut_and_joined_as_a_fresh_encoding_would_give(tmp_path):
    """data_text takes the old record data's text and cuts out the entries dropped (first,
    middle and last among them), adds the fresh ones and keeps the journal's text: the same
    JSON as the whole encoded again; an old layout it cannot cut is encoded again."""
    top = tmp_path / "T-1-20260101.n.0"
    entry = {"sha256": "0" * 64, "size": 3, "names_compose": False, "stat": [1, 3, 5]}
    files = {f"compose/P/{name}.rpm": dict(entry, size=i) for i, name in
             enumerate(("a", "b,\"c", "d", "e", "f"))}
    journal = [["rpm", ["S", "x86_64", "{compose_id}", "x", "y", None, "binary"]],
               ["put_json", "k", '{"files":{"x":1},"journal":[]}']]
    os.makedirs(os.path.dirname(reuse.data_path(str(top), "u")))
    for layout in ("compact", "spaced"):
        with open(reuse.data_path(str(top), "u"), "w") as fh:
            if layout == "compact":
                fh.write(json.dumps({"files": files, "journal": journal},
                                    separators=(",", ":")) + "\n")
            else:
                json.dump({"files": files, "journal": journal}, fh)
        old = reuse.OldUnit(str(top), top.name, {"unit": "u"})
        for dropped in ({"compose/P/a.rpm"}, {"compose/P/b,\"c.rpm", "compose/P/f.rpm"},
                        set(files), set()):
            fresh = {"compose/P/b,\"c.rpm": dict(entry, size=99), "work/new": entry}
            dropped = dropped | {"compose/P/b,\"c.rpm"}
            text = reuse.data_text(fresh, dropped, old)
            want = {rel: e for rel, e in files.items() if rel not in dropped}
            want.update(fresh)
            assert json.loads(text) == {"files": want, "journal": journal}
            if layout == "compact":
                assert text.endswith(old.raw[old.raw.index(',"journal":'):])


@pytest.mark.parametrize("new_id", ["T-1-20260102.n.0", "T-1-20260101.n.01", "x0"])
def test_a_direct_rewrite_equals_normalising_and_expanding(tmp_path, new_id):
    """The two-pass rewrite of a repodata file whose old entry holds its normalised digest
    gives the bytes and the record entry of the four-pass one (the entry without that
    digest), also for names where it must not be used (the new directory ends with the
    start of the old id: then both take the four passes)."""
    import gzip

    import createrepo_c as cr

    old = reuse.Names(str(tmp_path / "T-1-20260101.n.0"), "T-1-20260101.n.0")
    new = reuse.Names(str(tmp_path / new_id), new_id)
    src = tmp_path / "T-1-20260101.n.0" / "work" / "x86_64" / "repo" / "repodata"
    src.mkdir(parents=True)
    body = (f'<a xml:base="file://{old.topdir}/w"/><b>{old.compose_id}</b>'
            f'<c>{old.compose_id}0 T-1-2026 {old.topdir}</c>')
    path = src / "primary.xml.gz"
    path.write_bytes(gzip.compress(body.encode(), mtime=0))
    record = cr.RepomdRecord("primary", str(path))
    record.fill(cr.SHA256)
    record.rename_file()
    repomd = cr.Repomd()
    repomd.set_record(record)
    (src / "repomd.xml").write_text(repomd.xml_dump())
    files = reuse.describe_files([str(p) for p in src.iterdir()], old)
    entries = {os.path.basename(rel): e for rel, e in files.items()}
    assert any(e.get("content") for e in entries.values())
    plain = {k: {f: v for f, v in e.items() if f != "content"} for k, e in entries.items()}
    out = {}
    for how, given in (("direct", entries), ("four", plain)):
        dst = tmp_path / how / "repodata"
        written = reuse.rewrite_repodata(str(src), str(dst), old, new, given)
        out[how] = ({os.path.basename(p): gzip.decompress(open(p, "rb").read())
                     for p in written if p.endswith(".gz")},
                    {os.path.basename(p): dict(e, stat=None) for p, e in written.items() if e})
    assert out["direct"] == out["four"]
    want = body.replace(old.topdir, new.topdir).replace(old.compose_id, new.compose_id)
    if reuse.direct_rewrite_safe(body.encode(), old.compose_id.encode(), new.topdir.encode()):
        assert list(out["direct"][0].values()) == [want.encode()]


def test_record_data_keeps_long_journal_texts_on_lines_and_reads_old_records():
    """A record data's long journal texts (a hand-over's JSON, a tree's rpms rows) are written
    on lines after its JSON, not as JSON strings in it, and read back as the same texts; a
    record data written before (one JSON) reads as before; one cut short is refused (its
    unit runs again); ``data_text`` keeps the lines when it cuts and joins the old text."""
    from pungi_like.scheduler import compact_json_pieces

    hand_over = json.dumps({"__dict__": [["a.rpm", {"fields": ["x\n\"y\\"] * 2000}]]},
                           separators=(",", ":"))
    rows = json.dumps([["x-1-1.src", "x-0:1-1.noarch"]] * 500, separators=(",", ":"))
    journal = [["put_json", {"__tuple__": ["pkgset", "global"]}, hand_over],
               ["rpms", "Server", "x86_64", rows], ["put_json", "small", "{}"],
               ["epoch", 1, "x"]]
    files = {"work/a": {"size": 1, "sha256": "0" * 64}}
    out, lines = reuse.journal_lines(journal)
    assert lines == [hand_over, rows]
    assert out[0][2] == {"line": 0} and out[1][3] == {"line": 1} and out[2] == journal[2]
    text = "".join(reuse.data_pieces(compact_json_pieces({"files": files, "journal": out}),
                                     lines))
    assert text.count("\n") == 3 and hand_over not in text.split("\n")[0]
    assert reuse.parse_data(text) == {"files": files, "journal": journal}
    before = json.dumps({"files": files, "journal": journal}, separators=(",", ":"))
    assert reuse.parse_data(before + "\n") == reuse.parse_data(before) == json.loads(before)
    for cut in (len(text) - 1, len(text) - 40, text.index("\n") + 10, text.index("\n") + 1):
        with pytest.raises(ValueError):
            reuse.parse_data(text[:cut])

    class Old:
        raw = text
        data = reuse.parse_data(text)

    fresh = {"work/b": {"size": 2, "sha256": "1" * 64}}
    for dropped in (["work/a"], ["work/missing"]):   # cut and joined; encoded again
        got = reuse.parse_data(reuse.data_text(fresh, dropped, Old))
        assert got["journal"] == journal
        assert got["files"] == (fresh if dropped == ["work/a"] else dict(files, **fresh))


def test_a_copied_repodatas_normalised_digest_is_made_once(tmp_path, monkeypatch):
    """Two repodata files of the same bytes naming the compose (a package set arch's copy of
    the global repo's): the search of the decompressed bytes for the compose's names and the
    normalised digest are made from the first and taken for the copy, the same values; other
    bytes get their own."""
    import gzip
    top = tmp_path / "T-1-20260103.n.0"
    names = reuse.Names(str(top), top.name)
    paths = []
    for where, body in (("global", "a"), ("x86_64", "a"), ("s390x", "b")):
        repodata = top / "work" / where / "repo" / "repodata"
        repodata.mkdir(parents=True)
        (repodata / "repomd.xml").write_text("<repomd/>")
        path = repodata / "primary.xml.gz"
        path.write_bytes(gzip.compress(f'<p base="file://{top}/x">{body}</p>'.encode(),
                                       mtime=0))
        paths.append(str(path))
    made, searched, decompressed = [], [], []
    normalised = reuse.normalised_digest
    pieces, gzip_decompress = reuse_keys.gunzip_pieces, gzip.decompress
    monkeypatch.setattr(reuse, "normalised_digest",
                        lambda path, names: made.append(path) or normalised(path, names))
    monkeypatch.setattr(reuse_keys, "gunzip_pieces",
                        lambda packed, *a: searched.append(packed) or pieces(packed, *a))
    monkeypatch.setattr(gzip, "decompress",
                        lambda packed: decompressed.append(packed) or gzip_decompress(packed))
    files = reuse.describe_files(paths, names)
    assert made == [paths[0], paths[2]]
    # decompressed twice each (the search for the compose's names, the normalised digest):
    # the copy not at all
    first, third = (open(paths[i], "rb").read() for i in (0, 2))
    assert searched == [first, third] and decompressed == [first, third]
    entries = [files[f"work/{w}/repo/repodata/primary.xml.gz"] for w in ("global", "x86_64",
                                                                          "s390x")]
    assert [e["names_compose"] for e in entries] == ["repodata"] * 3
    assert entries[0]["content"] == entries[1]["content"] == normalised(paths[1], names)
    assert entries[2]["content"] == normalised(paths[2], names) != entries[0]["content"]


def test_an_image_is_recorded_as_its_unit_added_it(tmp_path, monkeypatch):
    """An image entry a unit added and a later unit changes in place (imagechecksum fills its
    checksums) is recorded as it was at the adding unit's end, also when the record thread
    gets to that unit's record after the change (held back here)."""
    from pungi_like.scheduler import Scheduler, Unit
    from test_scheduler import FakeCompose

    class _Rpms:
        def _add_checked(self, *args):
            pass

    compose = FakeCompose(tmp_path / "c0")
    compose.rpms, compose.compose_id = _Rpms(), "T-1.0-20260101.t.0"
    os.makedirs(compose.topdir, exist_ok=True)
    image = types.SimpleNamespace(**{name: None for name in reuse.IMAGE_FIELDS})
    image.path, image.checksums = "Server/x86_64/iso/a.iso", {}
    changed = threading.Event()
    build_record = reuse.build_record

    def held(compose_, unit, *args, **kwargs):
        if unit.name == "a.x":
            assert changed.wait(30)   # b.x changed the image before this record is built
        return build_record(compose_, unit, *args, **kwargs)

    monkeypatch.setattr(reuse, "build_record", held)

    def add(unit):
        reuse.note_journal("image_add", "Server", "x86_64", image)
        return {}

    def fill(unit):
        image.checksums["sha256"] = "ab" * 32
        changed.set()
        return {}

    Scheduler([Unit("a.x", add, inputs={"v": 1}), Unit("b.x", fill, needs=["a.x"])],
              compose, max_workers=2).run()
    with open(reuse.data_path(compose.topdir, "a.x"), encoding="utf-8") as fh:
        journal = reuse.parse_data(fh.read())["journal"]
    [entry] = [op for op in journal if op[0] == "image"]
    fields = dict(entry[3]["__dict__"])
    assert fields["path"] == "Server/x86_64/iso/a.iso"
    assert fields["checksums"] == {"__dict__": []}


@pytest.mark.parametrize("at", [0, 100, (1 << 20) - 7, (1 << 20) - 1, 1 << 20, 2 * (1 << 20) + 3])
def test_file_digest_finds_the_compose_in_the_first_read_and_across_read_edges(tmp_path, at):
    """``file_digest`` reads a small file in one read and a larger one 1 MiB at a time: a
    compose name is found wherever it lies (also split by a read's edge), the sha256 is the
    whole file's, and a file without it has nothing found."""
    import hashlib
    from pungi_like.reuse_keys import file_digest

    needles = (b"/srv/composes/T-1-20260101.n.0", b"T-1-20260101.n.0")
    data = bytearray(b"x" * (3 * (1 << 20) + 11))
    data[at:at + len(needles[0])] = needles[0]
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(data))
    digest, found = file_digest(str(path), needles)
    assert digest == hashlib.sha256(bytes(data)).hexdigest()
    assert found == {needles[0]: True, needles[1]: True}
    small = tmp_path / "small.rpm"
    small.write_bytes(b"head" + needles[1][:-1] + b"tail")
    digest, found = file_digest(str(small), needles)
    assert digest == hashlib.sha256(small.read_bytes()).hexdigest()
    assert found == {needles[0]: False, needles[1]: False}
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_digest(str(empty), needles) == (hashlib.sha256(b"").hexdigest(),
                                                {needles[0]: False, needles[1]: False})


def test_gunzip_pieces_give_gzips_bytes_in_pieces():
    """``reuse_keys.gunzip_pieces`` gives what ``gzip.decompress`` gives, in pieces of at most
    the size asked, members one after the other (zero padding between them), and fails as
    gzip does on a member cut short or something else after a member."""
    import gzip
    import random

    rnd = random.Random(13)
    body = bytes(rnd.getrandbits(8) % 11 + 60 for _ in range(300_000))
    packed = gzip.compress(body, 6) + b"\0\0" + gzip.compress(b"second member", 1)
    for piece in (1000, 65536, None):
        got = list(reuse_keys.gunzip_pieces(packed, piece))
        assert b"".join(got) == gzip.decompress(packed) == body + b"second member"
        assert max(map(len, got)) <= (piece or reuse_keys.GUNZIP_PIECE)
    with pytest.raises(EOFError):
        b"".join(reuse_keys.gunzip_pieces(gzip.compress(body)[:-9]))
    with pytest.raises(gzip.BadGzipFile):
        b"".join(reuse_keys.gunzip_pieces(gzip.compress(body) + b"trailing"))
    assert list(reuse_keys.gunzip_pieces(b"")) == []


@pytest.mark.parametrize("at", [0, 999, 5000, 299_990])
def test_a_gzip_file_is_searched_decompressed_across_piece_edges(tmp_path, monkeypatch, at):
    """``file_digest`` searches a ``.gz`` file's decompressed bytes for the compose's names
    (``"compressed"``) wherever they lie, also split by a piece's edge or in a second member;
    its sha256 is the compressed file's."""
    import gzip
    import hashlib

    monkeypatch.setattr(reuse_keys, "GUNZIP_PIECE", 1000)
    needles = (b"/srv/composes/T-1-20260101.n.0", b"T-1-20260101.n.0")
    data = bytearray(b"y" * 300_000)
    data[at:at + len(needles[0])] = needles[0]
    path = tmp_path / "primary.xml.gz"
    path.write_bytes(gzip.compress(bytes(data), mtime=0))
    digest, found = reuse_keys.file_digest(str(path), needles)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert found == {needles[0]: "compressed", needles[1]: "compressed"}
    other = tmp_path / "other.xml.gz"
    other.write_bytes(gzip.compress(b"z" * 5000, mtime=0) + gzip.compress(needles[1], mtime=0))
    assert reuse_keys.file_digest(str(other), needles)[1] == {needles[0]: False,
                                                              needles[1]: "compressed"}
    plain = tmp_path / "filelists.xml.gz"
    plain.write_bytes(gzip.compress(b"z" * 5000, mtime=0))
    assert reuse_keys.file_digest(str(plain), needles)[1] == {needles[0]: False,
                                                              needles[1]: False}
