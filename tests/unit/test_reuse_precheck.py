"""The old compose's files checked by a child process (``reuse_precheck``): ``ReusePool.check``
takes the child's answer for the very record data it reads instead of a stat a file, and
checks in the process as before whenever the child found a file that is not the one recorded
(then the bytes decide), answered for another record data, or did not answer."""

import json
import os
import types

import pytest

from pungi_like import reuse, reuse_precheck

OLD_ID, NEW_ID = "T-1-20260101.n.0", "T-1-20260102.n.0"


class _Compose:
    def __init__(self, topdir, compose_id):
        self.topdir, self.compose_id = str(topdir), compose_id
        self.rpms = None
        self.results = None


def _old_unit(tmp_path, name, rels, start=1.0):
    """A unit of the old compose whose record holds the files ``rels`` (written here), with
    its record under work/global/units, as a finished compose has it."""
    top = tmp_path / "composes" / OLD_ID
    paths = []
    for i, rel in enumerate(rels):
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"file %d of %s" % (i, name.encode()))
        paths.append(str(path))
    files = reuse.describe_files(paths, reuse.Names(str(top), OLD_ID))
    journal, lines = reuse.journal_lines([["put_json", ["k", name], "x" * 5000],
                                          ["epoch", 1700000000, "test"]])
    data = reuse.data_path(str(top), name)
    os.makedirs(os.path.dirname(data), exist_ok=True)
    with open(data, "w") as fh:
        fh.write("".join(reuse.data_pieces(
            [json.dumps({"files": files, "journal": journal}, separators=(",", ":"))], lines)))
    record = {"unit": name, "key": "k-" + name, "reusable": True, "outputs": {},
              "start": start}
    units = top / "work" / "global" / "units"
    units.mkdir(parents=True, exist_ok=True)
    (units / (name + ".json")).write_text(json.dumps(record))
    (top / "COMPOSE_ID").write_text(OLD_ID)
    return top, paths


def _pool(tmp_path, top, precheck=True):
    new_top = tmp_path / "composes" / NEW_ID
    new_top.mkdir(exist_ok=True)
    pool = reuse.ReusePool(_Compose(new_top, NEW_ID))
    if precheck:
        pool.precheck = reuse_precheck.Precheck(str(top), OLD_ID)
    return pool, new_top


def _old(top, name):
    with open(top / "work" / "global" / "units" / (name + ".json")) as fh:
        return reuse.OldUnit(str(top), OLD_ID, json.load(fh))


UNIT = types.SimpleNamespace(name="pkgset.global")
WORK_FILES = [f"work/global/download/p{i}-1-1.noarch.rpm" for i in range(3)]


@pytest.fixture
def no_stats(monkeypatch):
    """The check may not stat the files itself."""
    def refuse(paths):
        raise AssertionError("the files were stat'ed in the process")
    monkeypatch.setattr(reuse, "stat_all", refuse)



def _replace_by_copy(path):
    """``path`` made a file of its own: another inode with the same bytes, size and times."""
    st = os.stat(path)
    with open(path, "rb") as fh:
        data = fh.read()
    os.unlink(path)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

def test_the_child_answers_for_each_unit_in_their_order(tmp_path):
    top, _ = _old_unit(tmp_path, "pkgset.global", WORK_FILES, start=1.0)
    _old_unit(tmp_path, "gather.S.x86_64", ["compose/S/x86_64/os/Packages/a.rpm"], start=2.0)
    pre = reuse_precheck.Precheck(str(top), OLD_ID)
    try:
        first = pre.answer("pkgset.global")
        second = pre.answer("gather.S.x86_64")
        assert first[4:] == [True, True, None]
        assert second[4:6] == [True, False]
        assert second[6] == {"plain": {"compose/S/x86_64/os/Packages": ["a.rpm"]},
                             "named": [], "special": {}}
        assert first[2:4] == [str(top), OLD_ID]
    finally:
        pre.close()
    assert pre.proc.returncode is not None


def test_a_deferred_unit_is_taken_without_decoding_its_files(tmp_path, no_stats):
    top, _ = _old_unit(tmp_path, UNIT.name, WORK_FILES)
    pool, new_top = _pool(tmp_path, top)
    old = _old(top, UNIT.name)
    plan = pool.check(UNIT, old)
    assert plan.deferred
    assert old._data is None
    pool.place(plan)
    assert [[reuse.line_text(v) for v in op] for op in old.journal] == [
        ["put_json", ["k", UNIT.name], "x" * 5000], ["epoch", 1700000000, "test"]]
    assert old._data is None and old._raw is None   # its text never decoded whole
    assert not os.path.exists(new_top / "work")
    pool.precheck.close()


def test_placed_files_are_linked_without_a_stat_each(tmp_path, no_stats):
    rels = [f"compose/S/x86_64/os/Packages/p{i}.rpm" for i in range(40)]
    top, paths = _old_unit(tmp_path, "gather.S.x86_64", rels)
    pool, new_top = _pool(tmp_path, top)
    unit = types.SimpleNamespace(name="gather.S.x86_64")
    plan = pool.check(unit, _old(top, unit.name))
    pool.place(plan)
    for rel, path in zip(rels, paths):
        assert (new_top / rel).stat().st_ino == os.stat(path).st_ino
    pool.precheck.close()


def _changed_in_place(path):
    st = os.stat(path)
    with open(path, "r+b") as fh:
        fh.write(b"FILE")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_file_changed_in_place_is_refused(tmp_path):
    top, paths = _old_unit(tmp_path, UNIT.name, WORK_FILES)
    _changed_in_place(paths[1])
    pool, _new_top = _pool(tmp_path, top)
    old = _old(top, UNIT.name)
    assert pool.precheck.unchanged(old.__class__(str(top), OLD_ID, old.record),
                                   _read_ident(old)) == (False, True, None)
    with pytest.raises(reuse.CannotReuse, match="p1-1-1.noarch.rpm"):
        pool.check(UNIT, old)
    pool.precheck.close()


def _read_ident(old):
    old.raw    # noqa: B018
    return old.data_ident


def test_a_file_replaced_by_the_same_bytes_is_taken_by_its_bytes(tmp_path):
    top, paths = _old_unit(tmp_path, UNIT.name, WORK_FILES)
    data = open(paths[0], "rb").read()
    os.unlink(paths[0])
    with open(paths[0], "wb") as fh:
        fh.write(data)
    pool, _new_top = _pool(tmp_path, top)
    assert pool.check(UNIT, _old(top, UNIT.name)).deferred
    pool.precheck.close()


def test_an_answer_for_another_record_data_is_not_taken(tmp_path, monkeypatch):
    """The record data rewritten after the child read it (another inode): its answer is for
    other files, and the check stats them itself."""
    top, paths = _old_unit(tmp_path, UNIT.name, WORK_FILES)
    pool, _new_top = _pool(tmp_path, top)
    assert pool.precheck.answer(UNIT.name)[4] is True
    data = reuse.data_path(str(top), UNIT.name)
    text = open(data).read()
    os.unlink(data)
    with open(data, "w") as fh:
        fh.write(text)
    _changed_in_place(paths[2])
    with pytest.raises(reuse.CannotReuse, match="p2-1-1.noarch.rpm"):
        pool.check(UNIT, _old(top, UNIT.name))
    pool.precheck.close()


def test_without_an_answer_the_check_stats_the_files(tmp_path, monkeypatch):
    top, paths = _old_unit(tmp_path, UNIT.name, WORK_FILES)
    pool, _new_top = _pool(tmp_path, top)
    pool.precheck.close()
    os.unlink(paths[0])
    with pytest.raises(reuse.CannotReuse, match="p0-1-1.noarch.rpm"):
        pool.check(UNIT, _old(top, UNIT.name))


@pytest.mark.parametrize("journal", [
    [], [["epoch", 1, "x"]], [["put_json", ["k"], "y" * 5000], ["rpms", "S", "x86_64", "z" * 9000]],
])
def test_the_journal_alone_equals_the_whole_parse(journal):
    files = {"work/a": {"sha256": "0" * 64, "size": 1, "names_compose": False, "stat": [1, 1, 1]},
             "journal": {"sha256": "1" * 64, "size": 2, "names_compose": False,
                         "stat": [2, 2, 2]}}
    shaped, lines = reuse.journal_lines(journal)
    raw = "".join(reuse.data_pieces([json.dumps({"files": files, "journal": shaped},
                                                separators=(",", ":"))], lines))
    assert reuse.parse_journal(raw) == reuse.parse_data(raw)["journal"] == journal
    # laid out otherwise (spaces, another order): decoded whole
    other = json.dumps({"journal": shaped, "files": files}) + "\n" + "".join(
        line + "\n" for line in lines)
    assert reuse.parse_journal(other) == journal


def _finished(path, cid, status="FINISHED", mtime=None):
    path.mkdir(parents=True)
    (path / "COMPOSE_ID").write_text(cid)
    (path / "STATUS").write_text(status + "\n")
    if mtime:
        os.utime(path / "STATUS", (mtime, mtime))


def test_the_child_finds_the_newest_finished_compose(tmp_path):
    target = tmp_path / "composes"
    _finished(target / "T-1-20260101.n.0", "T-1-20260101.n.0", mtime=1000)
    _finished(target / "T-1-20260102.n.0", "T-1-20260102.n.0", mtime=2000)
    _finished(target / "T-1-20260103.n.0", "T-1-20260103.n.0", "STARTED", mtime=3000)
    _finished(target / "T-1-20260104.n.0", "T-1-20260104.n.0", mtime=4000)
    os.symlink("T-1-20260101.n.0", target / "latest-T-1")
    pre = reuse_precheck.Precheck(dirs=[str(target)], skip=str(target / "T-1-20260104.n.0"))
    try:
        assert pre.compose == (str(target / "T-1-20260102.n.0"), "T-1-20260102.n.0")
    finally:
        pre.close()
    pre = reuse_precheck.Precheck(dirs=[str(tmp_path / "none")])
    assert pre.compose is None
    pre.close()


def test_the_child_does_not_import_from_the_working_directory(tmp_path, monkeypatch):
    """The child runs isolated (``-I``): a module in the driver's working directory (a
    config directory holding a ``json.py``) does not stand in for the standard library's."""
    target = tmp_path / "composes"
    _finished(target / "T-1-20260102.n.0", "T-1-20260102.n.0", mtime=2000)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name in ("json", "os", "struct", "stat"):
        (cwd / f"{name}.py").write_text("raise SystemExit(99)\n")
    monkeypatch.chdir(cwd)
    pre = reuse_precheck.Precheck(dirs=[str(target)])
    try:
        assert pre.compose == (str(target / "T-1-20260102.n.0"), "T-1-20260102.n.0")
    finally:
        pre.close()


def _tree_of_links(tmp_path, count):
    """A package set unit (work/) and a gather unit whose tree holds hard links of its files
    (``count`` in one directory: listed, not stat'ed, once the package set's are checked)."""
    work = [f"work/global/download/p{i}.rpm" for i in range(count)]
    top, paths = _old_unit(tmp_path, "pkgset.global", work, start=1.0)
    tree = top / "compose" / "S" / "x86_64" / "os" / "Packages"
    tree.mkdir(parents=True)
    for path in paths:
        os.link(path, tree / os.path.basename(path))
    links = [str(tree / os.path.basename(p)) for p in paths]
    files = reuse.describe_files(links, reuse.Names(str(top), OLD_ID))
    data = reuse.data_path(str(top), "gather.S.x86_64")
    with open(data, "w") as fh:
        fh.write(json.dumps({"files": files, "journal": []}, separators=(",", ":")) + "\n")
    record = {"unit": "gather.S.x86_64", "key": "k", "reusable": True, "outputs": {},
              "start": 2.0}
    (top / "work" / "global" / "units" / "gather.S.x86_64.json").write_text(json.dumps(record))
    return top, links


def test_hard_links_of_checked_files_are_checked_by_the_listing(tmp_path):
    count = reuse_precheck.LISTING_MIN + 4
    top, links = _tree_of_links(tmp_path, count)
    pre = reuse_precheck.Precheck(str(top), OLD_ID)
    try:
        assert pre.answer("pkgset.global")[4] is True
        assert pre.answer("gather.S.x86_64")[4] is True
    finally:
        pre.close()
    # one link replaced by a copy (another inode: the same bytes, size and time): not taken
    # by the listing, and the stat then finds another inode than the one recorded
    _replace_by_copy(links[7])
    pre = reuse_precheck.Precheck(str(top), OLD_ID)
    try:
        assert pre.answer("pkgset.global")[4] is True
        assert pre.answer("gather.S.x86_64")[4] is False
    finally:
        pre.close()


def test_the_child_is_stopped_when_a_unit_has_another_key(tmp_path):
    """A unit whose key differs from its unit's in the compose the child checks (a package
    changed): the child's work is of no use to this run, and it is stopped."""
    top, _ = _old_unit(tmp_path, UNIT.name, WORK_FILES)
    new_top = tmp_path / "composes" / NEW_ID
    new_top.mkdir()
    (top / "STATUS").write_text("FINISHED\n")
    pool = reuse.ReusePool(_Compose(new_top, NEW_ID), [(OLD_ID, str(top))])
    pool.precheck = reuse_precheck.Precheck(dirs=[str(tmp_path / "composes")],
                                            skip=str(new_top))
    assert pool.precheck.compose == (str(top), OLD_ID)
    assert list(pool.candidates(UNIT.name, "pkgset", "k-" + UNIT.name))
    assert not pool.precheck._ended
    assert not list(pool.candidates(UNIT.name, "pkgset", "another key"))
    assert pool.precheck._ended and pool.precheck.proc.returncode is not None


def _mixed_unit(tmp_path):
    """A unit with packages in two directories, a file named after the compose, and a text
    naming the compose's directory (rewritten when taken)."""
    top = tmp_path / "composes" / OLD_ID
    rels = [f"compose/S/x86_64/os/Packages/p{i}.rpm" for i in range(40)] + \
        [f"compose/S/source/tree/Packages/s{i}.src.rpm" for i in range(3)] + \
        [f"compose/S/x86_64/iso/T-S-{OLD_ID}-dvd1.iso"]
    top, paths = _old_unit(tmp_path, "gather.S.x86_64", rels)
    listing = top / "work" / "x86_64" / "package_list" / "S.x86_64.rpm.conf"
    listing.parent.mkdir(parents=True)
    listing.write_text("".join(f"{p}\n" for p in paths[:40]))
    paths.append(str(listing))
    files = reuse.describe_files(paths, reuse.Names(str(top), OLD_ID))
    assert files["work/x86_64/package_list/S.x86_64.rpm.conf"]["names_compose"] == "text"
    assert "compose/S/x86_64/iso/T-S-{compose_id}-dvd1.iso" in files
    data = reuse.data_path(str(top), "gather.S.x86_64")
    with open(data, "w") as fh:
        fh.write(json.dumps({"files": files, "journal": []}, separators=(",", ":")) + "\n")
    return top


def _take(tmp_path, top, name, precheck):
    """What taking the unit ``name`` of ``top`` places (relative path: bytes, this compose's
    directory as {top}) and the record data it keeps (relative path: entry, its sha256 and
    size those of the bytes placed)."""
    import hashlib

    new_top = tmp_path / ("by-plan" if precheck else "by-entries") / NEW_ID
    new_top.mkdir(parents=True)
    pool = reuse.ReusePool(_Compose(new_top, NEW_ID))
    if precheck:
        pool.precheck = reuse_precheck.Precheck(str(top), OLD_ID)
    unit = types.SimpleNamespace(name=name)
    old = _old(top, name)
    plan = pool.check(unit, old)
    assert (plan.entries is not None) == precheck
    pool.place(plan)
    _outputs, taken = pool.finish(plan)
    if precheck:
        assert old._data is None    # the entries of the packages were never decoded
        pool.precheck.close()
    found = {}
    for base, _dirs, names in os.walk(new_top / "compose"):
        for fname in names:
            path = os.path.join(base, fname)
            with open(path, "rb") as fh:
                found[os.path.relpath(path, new_top)] = fh.read()
    data = reuse.parse_data(open(taken["data_from"]).read())
    entries = {}
    for rel, entry in data["files"].items():
        path = os.path.join(new_top, rel.replace("{compose_id}", NEW_ID))
        with open(path, "rb") as fh:
            placed = fh.read()
        assert entry["sha256"] == hashlib.sha256(placed).hexdigest()
        assert entry["size"] == len(placed)
        found.setdefault(rel, placed.replace(str(new_top).encode(), b"{top}"))
        entries[rel] = {k: v for k, v in entry.items() if k not in ("stat", "sha256", "size")}
    return found, entries


def test_a_taken_unit_placed_by_the_childs_plan_equals_one_placed_by_its_entries(tmp_path):
    top = _mixed_unit(tmp_path)
    by_entries = _take(tmp_path, top, "gather.S.x86_64", precheck=False)
    by_plan = _take(tmp_path, top, "gather.S.x86_64", precheck=True)
    assert by_plan == by_entries
    assert f"compose/S/x86_64/iso/T-S-{NEW_ID}-dvd1.iso" in by_plan[0]
    assert any(rel.endswith("S.x86_64.rpm.conf") for rel in by_plan[0])


@pytest.mark.parametrize("journal", [
    [], [["epoch", 1, "x"]], [["put_json", ["k"], "y" * 5000], ["rpms", "S", "x86_64", "z" * 9000],
                              ["put_json", ["k2"], "w" * 4500]],
])
def test_the_journal_from_the_bytes_equals_the_whole_parse(journal):
    files = {"work/a": {"sha256": "0" * 64, "size": 1, "names_compose": False, "stat": [1, 1, 1]}}
    shaped, lines = reuse.journal_lines(journal)
    raw = "".join(reuse.data_pieces([json.dumps({"files": files, "journal": shaped},
                                                separators=(",", ":"))], lines))
    got = reuse.parse_journal_bytes(raw.encode())
    assert [[reuse.line_text(v) for v in op] for op in got] == journal
    assert any(type(v) is reuse.LineText for op in got for v in op) == bool(lines)
    if lines:
        with pytest.raises(ValueError):
            reuse.parse_journal_bytes(raw.encode()[:-1])   # cut short: no last newline
    other = json.dumps({"journal": shaped, "files": files}) + "\n" + "".join(
        line + "\n" for line in lines)
    assert reuse.parse_journal_bytes(other.encode()) == journal


def test_the_files_of_a_large_directory_are_checked_relative_to_it(tmp_path):
    """A directory of LISTING_MIN files or more is stated relative to its descriptor: the
    same answers as by whole paths - a file changed in place, one replaced by a copy of other
    bytes, one gone, each refused; all as recorded, unchanged."""
    rels = [f"work/global/download/p{i}-1-1.noarch.rpm"
            for i in range(reuse_precheck.LISTING_MIN + 2)]
    top, paths = _old_unit(tmp_path, UNIT.name, rels)
    with open(reuse.data_path(str(top), UNIT.name)) as fh:
        files = reuse.parse_data(fh.read())["files"]
    assert reuse_precheck._unchanged(files, str(top), OLD_ID, {})
    _changed_in_place(paths[5])
    assert not reuse_precheck._unchanged(files, str(top), OLD_ID, {})
    top2, paths2 = _old_unit(tmp_path / "b", UNIT.name, rels)
    with open(reuse.data_path(str(top2), UNIT.name)) as fh:
        files2 = reuse.parse_data(fh.read())["files"]
    os.unlink(paths2[-1])
    assert not reuse_precheck._unchanged(files2, str(top2), OLD_ID, {})
    with open(paths2[-1], "wb") as fh:
        fh.write(b"other bytes")
    assert not reuse_precheck._unchanged(files2, str(top2), OLD_ID, {})


# ---- the record data's index (reuse_precheck.make_index, scheduler.write_index) -----------

def _indexed_units(tmp_path, count=None):
    """The package set and a gather whose tree holds hard links of its files, their record
    datas written by the scheduler's writer (each with its index), and a file named after
    the compose and a text naming it in the gather (``link_plan``'s named and special)."""
    from pungi_like import scheduler

    count = count or reuse_precheck.INDEX_FILES_MIN + 4
    top, links = _tree_of_links(tmp_path, count)
    named = top / "compose" / "S" / "x86_64" / "iso" / f"T-S-{OLD_ID}-dvd1.iso"
    named.parent.mkdir(parents=True)
    named.write_bytes(b"an image")
    text = top / "work" / "x86_64" / "package_list" / "S.x86_64.rpm.conf"
    text.parent.mkdir(parents=True)
    text.write_text("".join(f"{p}\n" for p in links[:10]))
    names = reuse.Names(str(top), OLD_ID)
    for unit, paths in (("pkgset.global", [str(top / "work" / "global" / "download" /
                                               os.path.basename(p)) for p in links]),
                        ("gather.S.x86_64", links + [str(named), str(text)])):
        scheduler._write_data(reuse.data_path(str(top), unit),
                              reuse.describe_files(paths, names), [])
    return top, links


def _answers(top, index=True, monkeypatch=None):
    """The child's answer lines for each unit of ``top``, as the child makes them (in this
    process), with or without the indexes."""
    if not index:
        monkeypatch.setattr(reuse_precheck, "read_index", lambda *args: None)
    verified = {}
    try:
        return [reuse_precheck.check_unit(str(top), OLD_ID, record, verified)
                for record in reuse_precheck._records(str(top))]
    finally:
        if not index:
            monkeypatch.undo()


def test_the_index_gives_the_answers_of_the_decoded_files(tmp_path, monkeypatch):
    top, links = _indexed_units(tmp_path)
    for unit in ("pkgset.global", "gather.S.x86_64"):
        assert os.path.exists(reuse_precheck.index_path(reuse.data_path(str(top), unit)))
    read = []
    real = reuse_precheck.read_index
    monkeypatch.setattr(reuse_precheck, "read_index",
                        lambda *args: read.append(args[0]) or real(*args))
    indexed = _answers(top)
    assert len(read) == 2     # both record datas answered from their indexes
    monkeypatch.undo()
    assert indexed == _answers(top, index=False, monkeypatch=monkeypatch)
    assert [a[4:6] for a in indexed] == [[True, True], [True, False]]
    # the gather's directory is listed (its inodes found unchanged by the package set's)
    listed = []
    real_listed = reuse_precheck._same_listed
    monkeypatch.setattr(reuse_precheck, "_same_listed",
                        lambda *args: listed.append(real_listed(*args)) or listed[-1])
    assert _answers(top) == indexed and listed == [True]
    monkeypatch.undo()
    plan = indexed[1][6]
    assert sorted(plan["plain"]["compose/S/x86_64/os/Packages"]) == sorted(
        os.path.basename(p) for p in links)
    assert plan["named"] == ["compose/S/x86_64/iso/T-S-{compose_id}-dvd1.iso"]
    assert list(plan["special"]) == ["work/x86_64/package_list/S.x86_64.rpm.conf"]
    # one link replaced by a copy (another inode: the same bytes, size and time): not taken
    # by the listing, and the stat then finds another inode than the one recorded
    _replace_by_copy(links[7])
    assert [a[4] for a in _answers(top)] == [True, False]
    assert _answers(top) == _answers(top, index=False, monkeypatch=monkeypatch)
    # the same with a file changed in place, one gone: refused both ways
    _changed_in_place(links[3])
    assert [a[4] for a in _answers(top)] == [False, False]
    assert _answers(top) == _answers(top, index=False, monkeypatch=monkeypatch)
    os.unlink(str(top / "work" / "global" / "download" / os.path.basename(links[5])))
    assert _answers(top)[0][4] is False
    assert _answers(top) == _answers(top, index=False, monkeypatch=monkeypatch)


def test_an_index_of_another_record_data_is_not_read(tmp_path):
    """An index is bound to the record data it was made for (inode, size, modification
    time): a record data written again at its path (naming a file that is gone), or changed
    in place, is decoded, whatever the index left beside it says."""
    top, links = _indexed_units(tmp_path)
    data = reuse.data_path(str(top), "gather.S.x86_64")
    index = reuse_precheck.index_path(data)
    kept = open(index, "rb").read()
    gone = top / "compose" / "S" / "x86_64" / "os" / "Packages" / "gone.rpm"
    gone.write_bytes(b"soon gone")
    files = reuse.describe_files(links + [str(gone)], reuse.Names(str(top), OLD_ID))
    from pungi_like import scheduler

    scheduler._write_data(data, files, [])
    os.unlink(gone)
    with open(index, "wb") as fh:
        fh.write(kept)      # the old index back beside the new record data
    st = os.stat(data)
    assert reuse_precheck.read_index(data, st) is None
    assert _answers(top)[1][4] is False
    # the record data's own index, then the record data touched: not read either
    scheduler.write_index(data, files)
    assert reuse_precheck.read_index(data, os.stat(data)) is not None
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    assert reuse_precheck.read_index(data, os.stat(data)) is None


def test_no_index_for_few_files_or_entries_without_stats(tmp_path):
    top, links = _tree_of_links(tmp_path, 3)
    files = reuse.describe_files(links, reuse.Names(str(top), OLD_ID))
    assert reuse_precheck.make_index(files, (1, 2, 3)) is None
    top, links = _tree_of_links(tmp_path / "b", reuse_precheck.INDEX_FILES_MIN)
    files = reuse.describe_files(links, reuse.Names(str(top), OLD_ID))
    assert reuse_precheck.make_index(files, (1, 2, 3))["count"] == len(links)
    rel = next(iter(files))
    del files[rel]["stat"]
    assert reuse_precheck.make_index(files, (1, 2, 3)) is None
    # written without one, an old index there is removed
    from pungi_like import scheduler

    data = reuse.data_path(str(top), "gather.S.x86_64")
    open(reuse_precheck.index_path(data), "w").write("{}")
    scheduler._write_data(data, files, [])
    assert not os.path.exists(reuse_precheck.index_path(data))


def test_a_linked_record_data_takes_its_index_along(tmp_path):
    from pungi_like import scheduler

    top, _links = _indexed_units(tmp_path)
    src = reuse.data_path(str(top), "gather.S.x86_64")
    dst = str(tmp_path / "new" / "work" / "global" / "reuse" / "gather.S.x86_64.json")
    os.makedirs(os.path.dirname(dst))
    reuse.place_file(src, dst)
    scheduler._place_index(src, dst)
    assert os.path.samefile(reuse_precheck.index_path(src), reuse_precheck.index_path(dst))
    assert reuse_precheck.read_index(dst, os.stat(dst)) is not None
    # a record data without one: none beside its link (an old one there removed)
    small = reuse.data_path(str(top), "small")
    open(small, "w").write('{"files":{},"journal":[]}\n')
    other = dst[:-len("gather.S.x86_64.json")] + "small.json"
    open(reuse_precheck.index_path(other), "w").write("{}")
    reuse.place_file(small, other)
    scheduler._place_index(small, other)
    assert not os.path.exists(reuse_precheck.index_path(other))


def test_a_unit_taken_by_the_plan_keeps_an_index_of_its_rewritten_record_data(tmp_path,
                                                                            monkeypatch):
    """A gather taken by the child's plan writes its record data again (its texts naming the
    compose rewritten): the old index, spliced with the rewritten entries, is the new record
    data's, and the child of a re-run of this compose answers from it as from the files."""
    top, links = _indexed_units(tmp_path)
    name = "gather.S.x86_64"
    pool, new_top = _pool(tmp_path, top)
    plan = pool.check(types.SimpleNamespace(name=name), _old(top, name))
    assert plan.entries is not None        # the child's plan
    pool.place(plan)
    _outputs, taken = pool.finish(plan)
    pool.precheck.close()
    data = taken["data_from"]
    assert data == reuse.data_path(str(new_top), name)
    index = reuse_precheck.read_index(data, os.stat(data))
    assert index is not None
    assert list(index["special"]) == ["work/x86_64/package_list/S.x86_64.rpm.conf"]
    record = {"unit": name}
    indexed = reuse_precheck.check_unit(str(new_top), NEW_ID, record, {})
    monkeypatch.setattr(reuse_precheck, "read_index", lambda *args: None)
    decoded = reuse_precheck.check_unit(str(new_top), NEW_ID, record, {})
    assert indexed == decoded and indexed[4:6] == [True, False]
    monkeypatch.undo()
    # the rewritten text changed since: refused with the spliced index as without
    _changed_in_place(str(new_top / "work" / "x86_64" / "package_list" / "S.x86_64.rpm.conf"))
    assert reuse_precheck.check_unit(str(new_top), NEW_ID, record, {})[4] is False


def test_an_index_is_spliced_only_for_its_record_data_and_special_files(tmp_path):
    top, _links = _indexed_units(tmp_path)
    data = reuse.data_path(str(top), "gather.S.x86_64")
    st = os.stat(data)
    raw = open(reuse_precheck.index_path(data), "rb").read()
    ident = (st.st_ino, st.st_size, st.st_mtime_ns)
    rel = "work/x86_64/package_list/S.x86_64.rpm.conf"
    entry = {"sha256": "0" * 64, "size": 5, "names_compose": "text", "stat": [7, 5, 9]}
    spliced = reuse_precheck.splice_index(raw, ident, {rel}, {rel: entry}, (1, 2, 3))
    made = json.loads(spliced)
    assert made["tail"] == {"count": json.loads(raw)["tail"]["count"], "data": [1, 2, 3],
                            "special": {rel: entry}}
    assert spliced[:spliced.find(b',"tail":')] == raw[:raw.find(b',"tail":')]
    assert reuse_precheck.splice_index(raw, (9, 9, 9), {rel}, {rel: entry}, (1, 2, 3)) is None
    assert reuse_precheck.splice_index(raw, ident, {rel, "compose/x"}, {rel: entry},
                                       (1, 2, 3)) is None
    assert reuse_precheck.splice_index(raw, ident, {rel}, {"work/other": entry},
                                       (1, 2, 3)) is None
    for bad in ({k: v for k, v in entry.items() if k != "stat"},
                dict(entry, names_compose=False), dict(entry, names_compose="repodata")):
        assert reuse_precheck.splice_index(raw, ident, {rel}, {rel: bad}, (1, 2, 3)) is None
