"""Repodata written from package records (pungi_like.rpmtools.repowrite) is the repodata the
createrepo_c command writes for the same files and options, byte for byte: every file of
repodata/ (names, compressed bytes, repomd.xml) with SOURCE_DATE_EPOCH fixed, and the metadata
files themselves where the command stamps the current time into repomd.xml. Real RPMs: the demo
universe's source, binary, noarch and debuginfo packages, packages with more changelog entries
than createrepo_c keeps and with XML-special text, RPMs signed with rpmsign, and RPM file names
that XML must escape. Records come from a repo this process's library wrote (taken verbatim),
from one it did not (parsed and dumped again), or from none (each file read)."""

import json
import os
import shutil
import sys

import pytest

from phases.createrepo import make_repodata, run_createrepo
from pungi_like.rpmtools import repodata, repowrite
from pungi_like.tools import run
from pungi_like.universe.rpmbuild import Package

pytestmark = pytest.mark.integration

EPOCH = "1750000000"
ODD_NAME = "odd name &<>'\"\u00fc-1.0-1.noarch.rpm"


def changelog(count):
    return [(f"Tue Nov {14 - i % 7} 2023", f"J\u00f6rg <a&b@example.invalid> - 1.{count - i}-1",
             f"- change {count - i}: <tag> & \"quoted\" 'text' \u2713")
            for i in range(count)]


@pytest.fixture(scope="module")
def package_set(universe, tmp_path_factory):
    """A package set dir (``download``) of hard links: demo universe RPMs of every kind, two
    custom packages (12 and 3 changelog entries, XML-special text), three RPMs signed with
    rpmsign, and a noarch RPM under a file name XML must escape."""
    from pungi_like.buildsvc.seed import GpgKey, rpmsign
    from pungi_like.universe.rpmbuild import build_packages

    base = tmp_path_factory.mktemp("repowrite")
    names = sorted(os.listdir(universe.repo_dir))
    picked = [n for n in names if n.endswith(".rpm")][:60]
    picked += [n for n in names if n.endswith(".noarch.rpm")][:5]
    picked += [n for n in names if "-debuginfo-" in n][:5]
    download = base / "download"
    download.mkdir()
    for name in sorted(set(picked)):
        os.link(os.path.join(universe.repo_dir, name), download / name)
    built = build_packages(
        [Package("chatty", summary="Summary with <xml> & \"quotes\"", arch="noarch",
                 description="Description \u00fc & <b>", changelog=changelog(12),
                 files={"/usr/share/chatty/data.txt": "x"}),
         Package("short-log", changelog=changelog(3), files={"/usr/bin/short-log": "#!/bin/sh\n"})],
        base / "built", workdir=base / "work")
    key = GpgKey.create(str(base / "gnupg"))
    signed = sorted(n for n in names if n.endswith(".rpm"))[100:103]
    try:
        copies = []
        for name in signed:
            shutil.copy(os.path.join(universe.repo_dir, name), download / name)
            copies.append(str(download / name))
        rpmsign(key, copies)
    finally:
        key.stop_agent()
    for path in built.all:
        os.link(path, download / os.path.basename(path))
    # the files made here are older than the repos the tests write from them, as a compose's
    # package set is (a record is taken only when it was written in a later second than the
    # file's mtime: repowrite.written_after)
    for name in [os.path.basename(p) for p in built.all] + signed:
        os.utime(download / name, (1_700_000_000, 1_700_000_000))
    noarch = next(n for n in sorted(os.listdir(download)) if n.endswith(".noarch.rpm"))
    os.link(download / noarch, download / ODD_NAME)
    files = sorted(os.listdir(download))
    listfile = base / "pkgset.list"
    listfile.write_text("".join(f + "\n" for f in files))
    return base, download, files, listfile, signed


def make_tree(base, download, files, name):
    """A tree of hard links under Packages/<first letter>/, one file copied with another mtime
    (no record describes it), and its package list."""
    tree = base / name
    rels = []
    for f in files:
        rel = f"Packages/{f[0].lower()}/{f}"
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(download / f, tree / rel)
        rels.append(rel)
    changed = tree / rels[1]
    changed.unlink()
    shutil.copyfile(download / files[1], changed)
    os.utime(changed, (1_000_000_000, 1_000_000_000))
    listfile = base / f"{name}.list"
    listfile.write_text("".join(r + "\n" for r in rels))
    return tree, rels, listfile


def repodata_files(outputdir):
    folder = os.path.join(outputdir, "repodata")
    found = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as fh:
            found[name] = fh.read()
    return found


def command_repo(tree, listfile, outputdir, log, **options):
    os.makedirs(outputdir, exist_ok=True)
    run_createrepo(str(tree), str(outputdir), str(listfile), str(log), **options)
    return repodata_files(outputdir)


@pytest.mark.parametrize("source", ["trusted", "parsed", "none"])
def test_tree_repodata_equals_createrepo_c(package_set, monkeypatch, source):
    base, download, files, _pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    pkgset_repo = base / f"pkgset-{source}"
    pkgset_repo.mkdir()
    run([repodata.createrepo_binary(), str(download), f"--outputdir={pkgset_repo}",
         f"--baseurl=file://{download}", "--no-database", "--general-compress-type=gz"])
    if source == "trusted":
        repowrite.trust(str(pkgset_repo))
    tree, rels, listfile = make_tree(base, download, files, f"tree-{source}")
    groupfile = os.path.join(os.path.dirname(universe_comps()), "comps.xml")

    expected = command_repo(tree, listfile, base / f"cmd-{source}", base / "cmd.log",
                            checksum="sha256", groupfile=groupfile)
    result = repowrite.write_repo(
        str(tree), str(base / f"ours-{source}"), rels,
        sources=[str(pkgset_repo)] if source != "none" else [], groupfile=groupfile,
        group_gz=True, revision=EPOCH, set_timestamp_to_revision=True)
    ours = repodata_files(base / f"ours-{source}")

    assert result.packages == len(rels)
    if source == "none":
        assert result.reused == 0
    else:
        # all but the copy with another mtime, whose record describes another file
        assert result.reused == len(rels) - 1
        assert result.read == [rels[1]]
    assert sorted(ours) == sorted(expected)
    for name in expected:
        assert ours[name] == expected[name], name
    assert any(name.endswith("primary.xml.gz") for name in ours)
    assert b"group_gz" in ours["repomd.xml"] and f"<revision>{EPOCH}".encode() in ours["repomd.xml"]


def test_groupfile_as_createrepo_c_alone_writes_it(package_set, monkeypatch):
    """``createrepo_c --groupfile`` with no modifyrepo_c after it (the build service's
    createrepo task): one ``group`` record, the gzipped groupfile (group_compressed)."""
    base, download, files, _pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    tree, rels, listfile = make_tree(base, download, files, "tree-group")
    groupfile = os.path.join(os.path.dirname(universe_comps()), "comps.xml")
    cmd = base / "cmd-group"
    cmd.mkdir()
    run([repodata.createrepo_binary(), str(tree), f"--outputdir={cmd}", f"--pkglist={listfile}",
         f"--groupfile={groupfile}", "--no-database", "--general-compress-type=gz",
         "--unique-md-filenames", "--checksum=sha256", f"--revision={EPOCH}",
         "--set-timestamp-to-revision"])
    expected = repodata_files(cmd)
    repowrite.write_repo(str(tree), str(base / "ours-group"), rels, groupfile=groupfile,
                         group_compressed=True, revision=EPOCH, set_timestamp_to_revision=True)
    ours = repodata_files(base / "ours-group")
    assert sorted(ours) == sorted(expected)
    for name in expected:
        assert ours[name] == expected[name], name
    assert any(name.endswith("-comps.xml.gz") for name in ours)
    assert b"group_gz" not in ours["repomd.xml"]


def universe_comps():
    from tests.conftest import REPO_ROOT
    return os.path.join(REPO_ROOT, ".cache", "universe", "comps.xml")


def xml_text(outputdir, kind):
    import gzip
    with gzip.open(repodata.repomd_locations(str(outputdir))[kind]) as fh:
        return fh.read()


def test_package_set_repo_equals_createrepo_c(package_set, monkeypatch):
    """The package set repo (file:// base URL, no --revision: the command stamps the current
    time into repomd.xml) from the records of another repo: the same metadata files."""
    base, download, files, pkgset_list, _signed = package_set
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    source = base / "source-repo"
    source.mkdir()
    run([repodata.createrepo_binary(), str(download), f"--outputdir={source}", "--no-database"])
    cmd, ours = base / "pkgset-cmd", base / "pkgset-ours"
    repodata.createrepo(str(download), outputdir=str(cmd), pkglist=str(pkgset_list),
                        baseurl=f"file://{download}")
    # records only another createrepo_c's text holds: the command (its workers) writes it
    repodata.repo_from_records(str(download), str(base / "pkgset-untrusted"), str(pkgset_list),
                               sources=[str(source)], baseurl=f"file://{download}",
                               log_path=str(base / "untrusted.log"))
    assert "would be parsed again" in (base / "untrusted.log").read_text()
    assert (base / "pkgset-untrusted" / repowrite.MARK).exists()
    repowrite.trust(str(source))    # as a package set repo this process wrote
    repodata.repo_from_records(str(download), str(ours), str(pkgset_list),
                               sources=[str(source)], baseurl=f"file://{download}",
                               log_path=str(base / "pkgset.log"))
    log = (base / "pkgset.log").read_text()
    assert f"{len(files)} records taken" in log and "0 files read" in log
    expected, written = repodata_files(cmd), repodata_files(ours)
    assert sorted(expected) == sorted(written)
    for name in expected:
        if name != "repomd.xml":
            assert written[name] == expected[name], name
    for kind in ("primary", "filelists", "other"):
        assert xml_text(ours, kind) == xml_text(cmd, kind)
    # the escaped location and every changelog entry the command keeps
    primary = xml_text(ours, "primary")
    assert b'href="odd name &amp;&lt;&gt;\'&quot;&#xFC;-1.0-1.noarch.rpm"' in primary
    assert xml_text(ours, "other").count(b"<changelog ") >= 10 + 3


def test_signed_rpms_keep_their_own_records(package_set, universe):
    """A signed RPM is another file than the unsigned one of the same name (its own checksum
    and header range): the unsigned one's record in the universe repo is not taken for it, and
    the record written is the signed file's."""
    import createrepo_c as cr

    base, download, files, pkgset_list, signed = package_set
    ours = base / "pkgset-ours-signed"
    result = repowrite.write_repo(str(download), str(ours), files,
                                  sources=[universe.repo_dir])
    for name in signed:
        assert name in result.read
    found = {}
    cr.xml_parse_primary(repodata.repomd_locations(str(ours))["primary"],
                         pkgcb=lambda p: found.setdefault(p.location_href, p) and True,
                         do_files=False)
    for name in signed:
        direct = cr.package_from_rpm(str(download / name))
        assert found[name].pkgId == direct.pkgId
        assert (found[name].rpm_header_start, found[name].rpm_header_end) == \
            (direct.rpm_header_start, direct.rpm_header_end)


def test_options_records_cannot_write_run_the_command(package_set, monkeypatch):
    """sqlite databases (and xz, extra arguments, too many files without a record) are left
    to createrepo_c; the log says why."""
    base, download, files, _pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    tree, rels, listfile = make_tree(base, download, files, "tree-db")
    log = base / "db.log"
    slot = Slot()     # createrepo_num_threads bounds the commands, not the writes from records
    make_repodata(str(tree), str(tree), str(listfile), rels, str(log), sources=(),
                  checksum="sha256", database=True, command_slot=slot)
    text = log.read_text()
    assert "by the createrepo_c command: sqlite databases" in text
    assert any(n.endswith("primary.sqlite.bz2") for n in os.listdir(tree / "repodata"))
    assert slot.taken == 1

    log2 = base / "none.log"
    make_repodata(str(tree), str(tree), str(listfile), rels, str(log2), sources=(),
                  checksum="sha256", command_slot=slot)
    assert f"{len(rels)} of {len(rels)} files have no record" in log2.read_text()
    assert slot.taken == 2

    trusted = base / "db-trusted"
    repodata.createrepo(str(download), outputdir=str(trusted), mark_dumper=True)
    log3 = base / "records.log"
    make_repodata(str(tree), str(tree), str(listfile), rels, str(log3), sources=[str(trusted)],
                  checksum="sha256", command_slot=slot)
    assert "written from records" in log3.read_text()
    assert slot.taken == 2


class Slot:
    """A stand-in for the createrepo phase's semaphore: counts how often it was taken."""
    taken = 0

    def __enter__(self):
        self.taken += 1

    def __exit__(self, *exc):
        return False


def test_a_killed_writer_leaves_nothing_in_the_tree(package_set, monkeypatch):
    base, download, files, _pkgset_list, _signed = package_set
    tree, rels, _listfile = make_tree(base, download, files, "tree-killed")
    leftover = tree / (repowrite._STAGING + "abc")
    leftover.mkdir()
    (leftover / "x").write_text("half written")
    repowrite.write_repo(str(tree), str(tree), rels, revision=EPOCH)
    assert sorted(os.listdir(tree)) == ["Packages", "repodata"]
    assert oct(os.stat(tree / "repodata").st_mode & 0o777) == oct(0o777 & ~repowrite._UMASK)


def test_a_later_process_trusts_the_package_set_repo_it_marked(package_set, monkeypatch):
    """A package set repo written by repo_from_records carries the mark of the library that
    dumped it: a later process (``--resume``) takes its records verbatim while repomd.xml is the
    one marked, and parses them again once it changed."""
    base, download, files, pkgset_list, _signed = package_set
    repo = base / "marked"
    repodata.createrepo(str(download), outputdir=str(repo), pkglist=str(pkgset_list),
                        baseurl=f"file://{download}", mark_dumper=True)
    assert (repo / repowrite.MARK).exists()
    monkeypatch.setattr(repowrite, "_trusted", {})      # what a new process knows
    monkeypatch.setattr(repowrite, "_indexes", {})
    assert repowrite.record_index(str(repo)).verbatim
    monkeypatch.setattr(repowrite, "_trusted", {})
    monkeypatch.setattr(repowrite, "_indexes", {})
    with open(repo / "repodata" / "repomd.xml", "a", encoding="utf-8") as fh:
        fh.write("\n")
    assert not repowrite.record_index(str(repo)).verbatim


def test_a_file_the_library_cannot_read_is_left_to_the_command(package_set, monkeypatch):
    """A tree file that is no RPM: the command decides, as before (createrepo_c 1.2.5 exits 2,
    so the unit fails naming it)."""
    from pungi_like.errors import ToolError

    base, download, files, _pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    tree, rels, listfile = make_tree(base, download, files, "tree-broken")
    (tree / "Packages" / "z").mkdir(exist_ok=True)
    (tree / "Packages" / "z" / "zz-broken-1-1.noarch.rpm").write_bytes(b"not an rpm")
    rels.append("Packages/z/zz-broken-1-1.noarch.rpm")
    listfile.write_text("".join(r + "\n" for r in rels))
    log = base / "broken.log"
    with pytest.raises(repowrite.RepoWriteError):
        repowrite.write_repo(str(tree), str(base / "broken-ours"), rels)
    with pytest.raises(ToolError) as failed:
        make_repodata(str(tree), str(tree), str(listfile), rels, str(log), sources=(),
                      checksum="sha256")
    assert "zz-broken-1-1.noarch.rpm" in str(failed.value)
    assert "by the createrepo_c command" in log.read_text()


def test_locations_written_without_the_library_are_the_librarys():
    """The location of a record is written directly where libxml2 escapes nothing: for every
    character the fast path lets through (and a few it does not), the text is the library's."""
    library = repowrite.library_location_line
    safe = "ABCxyz019._+~^:/@%,=()[]{}!$*;#-"
    names = [f"Packages/{c}/p{c}q-1.0-1.noarch.rpm" for c in safe]
    names += ["a b.rpm", "a\n.rpm", "x.rpm\n", "tab\t.rpm", "q'\".rpm", "&<>.rpm", "\u00fc.rpm"]
    for base in (None, "file:///srv/pkgset download", "file:///srv/download"):
        for href in names:
            assert repowrite._location_line(href, base) == library(href, base), (href, base)


def test_a_repo_to_parse_is_left_alone_when_a_trusted_one_leaves_few_files(package_set,
                                                                          monkeypatch):
    """Sources in any order: a trusted repo's records are taken first, and another repo is not
    parsed for the few files they leave without a record (those are read): a re-run's package
    set repo takes the old one's records before the changed pkgset_repos'."""
    base, download, files, _pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    trusted, other = base / "lazy-trusted", base / "lazy-other"
    for repo in (trusted, other):
        repo.mkdir()
        run([repodata.createrepo_binary(), str(download), f"--outputdir={repo}",
             "--no-database", "--general-compress-type=gz"])
    repowrite.trust(str(trusted))
    tree, rels, listfile = make_tree(base, download, files, "tree-lazy")
    expected = command_repo(tree, listfile, base / "cmd-lazy", base / "cmd.log",
                            checksum="sha256")

    def no_parse(repo_dir):
        raise AssertionError(f"{repo_dir} parsed")
    monkeypatch.setattr(repowrite, "_parsed_index", no_parse)
    result = repowrite.write_repo(str(tree), str(base / "ours-lazy"), rels,
                                  sources=[str(other), str(trusted)], revision=EPOCH,
                                  set_timestamp_to_revision=True)
    assert result.read == [rels[1]]
    assert repodata_files(base / "ours-lazy") == expected


def test_a_record_index_whose_entries_do_not_line_up_is_refused(package_set, monkeypatch):
    """The records of a trusted repo are found by one search per field over the whole primary:
    when a field is missing from an entry, filelists or other list the packages in another
    order, or something stands between two entries, the index is refused (RepoWriteError: the
    caller runs createrepo_c) rather than pairing one package's text with another's file."""
    base, download, _files, _pkgset_list, _signed = package_set
    repo = base / "index-check"
    repo.mkdir()
    run([repodata.createrepo_binary(), str(download), f"--outputdir={repo}", "--no-database",
         "--general-compress-type=gz"])
    read = repowrite._read
    index = repowrite._verbatim_index(str(repo))
    assert len(index.records) == len(os.listdir(download))
    for name, record in index.records.items():
        assert record.primary.count(b"<package ") == 1 and record.primary.endswith(b"</package>\n")
        assert f'href="{name}"'.encode() in record.primary or "&" in name
        assert record.size == os.path.getsize(download / name)

    def broken(kind, change):
        def fake_read(path):
            text = read(path)
            return change(text) if f"-{kind}.xml" in os.path.basename(path) else text
        return fake_read

    def swap_first_two(text):
        first = text.index(b"<package ")
        second = text.index(b"<package ", first + 1)
        third = text.index(b"<package ", second + 1)
        return text[:first] + text[second:third] + text[first:second] + text[third:]

    cases = {
        "primary": lambda t: t.replace(b"\n  <location ", b"\n  <place ", 1),
        "filelists": swap_first_two,
        "other": lambda t: t.replace(b"</package>\n<package ", b"</package>\n \n<package ", 1),
    }
    for kind, change in cases.items():
        monkeypatch.setattr(repowrite, "_read", broken(kind, change))
        with pytest.raises(repowrite.RepoWriteError):
            repowrite._verbatim_index(str(repo))


def test_a_marked_repo_just_written_hands_its_records_over_in_memory(package_set, monkeypatch):
    """A package set repo write_repo just wrote with ``mark`` (records taken from a repo it had
    to parse, and files read) holds its records in memory: they are what reading its files back
    gives (every field; the primary text once relocated), its copy (the arch repo that keeps
    every package) has them too, and a tree written from them, without reading either repo's
    files back, is the command's repodata."""
    base, download, files, pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = base / "inmem-source"
    source.mkdir()
    run([repodata.createrepo_binary(), str(download), f"--outputdir={source}", "--no-database",
         "--general-compress-type=gz"])
    pkgset = base / "inmem-pkgset"
    kept = files[:-3]    # the last three have no record: read from the files
    result = repowrite.write_repo(str(download), str(pkgset), files, sources=[str(source)],
                                  baseurl=f"file://{download}", mark=True,
                                  max_read=len(files))
    assert result.read == [] and result.reused == len(files)
    mixed = base / "inmem-mixed"
    os.makedirs(mixed / "download")
    for name in files:
        os.link(download / name, mixed / "download" / name)
    # a repo of the first files only: the others are read when the mixed repo is written
    partial = base / "inmem-partial"
    partial_list = base / "inmem-partial.list"
    partial_list.write_text("".join(f + "\n" for f in kept))
    repodata.createrepo(str(download), outputdir=str(partial), pkglist=str(partial_list))
    result = repowrite.write_repo(str(mixed / "download"), str(mixed / "repo"), files,
                                  sources=[str(partial)], baseurl=f"file://{download}",
                                  mark=True, max_read=len(files))
    assert sorted(result.read) == sorted(files[-3:]) and len(result.read) == 3
    for repo in (pkgset, mixed / "repo"):
        real = os.path.realpath(repo)
        held = [index for key, index in repowrite._indexes.items() if key[0] == real]
        assert len(held) == 1
        from_disk = repowrite._verbatim_index(str(repo))
        assert held[0].records.keys() == from_disk.records.keys() == set(files)
        for name, record in from_disk.records.items():
            mine = held[0].records[name]
            assert (mine.mtime, mine.size, mine.checksum_type) == \
                (record.mtime, record.size, record.checksum_type)
            assert mine.filelists == record.filelists and mine.other == record.other
            relocated = [repowrite._relocate(r.primary, f"Packages/{name}", None)
                         for r in (mine, record)]
            assert relocated[0] == relocated[1]
    copy = base / "inmem-copy"
    import phases.pkgset as pkgset_phase
    pkgset_phase.copy_repodata(str(mixed / "repo"), str(copy), str(base / "inmem-copy.log"))

    def no_read(repo_dir):
        raise AssertionError(f"{repo_dir} read back")
    monkeypatch.setattr(repowrite, "_verbatim_index", no_read)
    monkeypatch.setattr(repowrite, "_parsed_index", no_read)
    tree, rels, listfile = make_tree(base, mixed / "download", files, "tree-inmem")
    expected = command_repo(tree, listfile, base / "cmd-inmem", base / "cmd.log",
                            checksum="sha256")
    result = repowrite.write_repo(str(tree), str(base / "ours-inmem"), rels,
                                  sources=[str(copy)], revision=EPOCH,
                                  set_timestamp_to_revision=True)
    assert result.read == [rels[1]]     # the copy make_tree gave another mtime
    assert repodata_files(base / "ours-inmem") == expected


def test_a_repo_written_from_the_files_linked_from_equals_the_one_from_the_links(package_set,
                                                                                monkeypatch):
    """``stat_from``: the package set repo written while its links are being made looks at the
    files they link (sizes, mtimes, the bytes of a file without a record) and gives the bytes
    written from the links; the links' directory may still be empty."""
    base, download, files, _list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = base / "linked-from-source"
    source.mkdir()
    # records for all but the first file: that one is read from the file it is linked from
    run([repodata.createrepo_binary(), str(download), f"--outputdir={source}", "--no-database",
         "--pkglist", str(_write_list(base / "most.list", files[1:]))])
    empty = base / "not-linked-yet"
    empty.mkdir()
    options = dict(sources=[str(source)], baseurl=f"file://{empty}", revision=EPOCH,
                   set_timestamp_to_revision=True)
    from_links = repowrite.write_repo(str(download), str(base / "from-links"), files,
                                      **options)
    linked_from = repowrite.write_repo(
        str(empty), str(base / "linked-from"), files,
        stat_from={f: str(download / f) for f in files}, **options)
    assert (from_links.reused, linked_from.reused) == (len(files) - 1, len(files) - 1)
    assert repodata_files(base / "linked-from") == repodata_files(base / "from-links")
    with pytest.raises(FileNotFoundError):
        repowrite.write_repo(str(empty), str(base / "nothing"), files, **options)
    # ``stats``: the caller's stats of the files linked from (fileutil.stat_idents), the
    # same bytes; stats that leave a file out are not taken (the files stat'ed here)
    from pungi_like.fileutil import stat_idents
    paths = [str(download / f) for f in files]
    known = dict(zip(paths, stat_idents(paths)))
    for name, stats in (("given-stats", known), ("some-stats", dict(list(known.items())[1:]))):
        written = repowrite.write_repo(
            str(empty), str(base / name), files,
            stat_from={f: str(download / f) for f in files}, stats=stats, **options)
        assert written.reused == len(files) - 1
        assert repodata_files(base / name) == repodata_files(base / "from-links")
    # the stats given are the ones looked at: a size that is not the record's, the file read
    from pungi_like.fileutil import Ident
    st = known[paths[1]]
    known[paths[1]] = Ident(st.st_dev, st.st_ino, st.st_size + 1, st.st_mtime_ns)
    written = repowrite.write_repo(
        str(download), str(base / "other-size"), files,
        stat_from={f: str(download / f) for f in files}, stats=known, **options)
    assert written.reused == len(files) - 2 and files[1] in written.read


def _write_list(path, names):
    path.write_text("".join(n + "\n" for n in names))
    return path


def test_a_file_changed_in_place_in_its_records_second_is_read_again(package_set, tmp_path):
    """A package signed in place keeps its name and size (rpm reserves room for the signature)
    and, within the second its record was written, its whole-second mtime: the record no longer
    describes it. Only a record written in a later second than the file's mtime is taken; the
    same file with an mtime a second before the record's is taken from it."""
    import createrepo_c as cr

    base, download, files, _list, _signed = package_set
    name = next(f for f in files if f.endswith(".x86_64.rpm") and "-debuginfo-" not in f)
    folder = tmp_path / "pkgs"
    folder.mkdir()
    path = folder / name
    shutil.copyfile(download / name, path)
    first = tmp_path / "first"
    repowrite.write_repo(str(folder), str(first), [name])
    made = os.stat(first / "repodata" / "repomd.xml").st_mtime_ns
    # the same size, other bytes (the payload's last byte), an mtime later in the second the
    # record was written: the record's name, size and mtime all still match
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    with open(path, "r+b") as fh:
        fh.write(bytes(data))
    second = made // 1_000_000_000 * 1_000_000_000
    os.utime(path, ns=(second + 999_000_000, second + 999_000_000))
    assert os.stat(path).st_mtime_ns // 1_000_000_000 == made // 1_000_000_000
    assert not repowrite.written_after(str(first), os.stat(path).st_mtime_ns)
    again = tmp_path / "again"
    result = repowrite.write_repo(str(folder), str(again), [name], sources=[str(first)])
    assert result.read == [name] and result.reused == 0
    found = []
    cr.xml_parse_primary(repodata.repomd_locations(str(again))["primary"],
                         pkgcb=lambda p: found.append(p.pkgId) or True, do_files=False)
    assert found == [cr.package_from_rpm(str(path)).pkgId]
    # the record was written in a later second than this mtime: it is taken
    earlier = second - 1_000_000_000
    os.utime(path, ns=(earlier, earlier))
    third = tmp_path / "third"
    repowrite.write_repo(str(folder), str(third), [name])
    assert repowrite.written_after(str(third), earlier)
    fourth = tmp_path / "fourth"
    result = repowrite.write_repo(str(folder), str(fourth), [name], sources=[str(third)])
    assert result.reused == 1 and not result.read


def _searched_index(repo):
    """The index :func:`repowrite._verbatim_index` makes by its searches (no side index)."""
    side = os.path.join(repo, repowrite.SIDE_INDEX)
    kept = side + ".kept"
    os.rename(side, kept)
    try:
        return repowrite._verbatim_index(str(repo))
    finally:
        os.rename(kept, side)


def _same_records(a, b):
    assert list(a.records) == list(b.records)
    for name, record in a.records.items():
        other = b.records[name]
        assert (record.mtime, record.size, record.checksum_type) == \
            (other.mtime, other.size, other.checksum_type), name
        assert (record.primary, record.filelists, record.other) == \
            (other.primary, other.filelists, other.other), name


def test_a_marked_repo_s_side_index_gives_the_records_its_searches_give(package_set,
                                                                          monkeypatch):
    """A repo write_repo marks carries a side index of its entries (where each starts and ends,
    its name, mtime, size and checksum type): a later process's index of the repo (records
    taken from a repo, relocated in runs and one by one, and files read) is the one the
    searches over its text give, the common location start included, without the searches.
    Refused, and the searches made, when the repodata is not the one it was written for, when
    it does not fit the texts, or when it is cut short."""
    base, download, files, _pkgset_list, _signed = package_set
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    source = base / "side-source"
    source.mkdir()
    run([repodata.createrepo_binary(), str(download), f"--outputdir={source}", "--no-database",
         "--general-compress-type=gz"])
    repo = base / "side-pkgset"
    # the last three have no record (read), the odd name is relocated one by one
    partial = base / "side-partial"
    partial_list = base / "side-partial.list"
    partial_list.write_text("".join(f + "\n" for f in files[:-3]))
    repodata.createrepo(str(download), outputdir=str(partial), pkglist=str(partial_list))
    result = repowrite.write_repo(str(download), str(repo), files, sources=[str(partial)],
                                  baseurl=f"file://{download}", mark=True,
                                  max_read=len(files), level=repowrite.WORK_LEVEL)
    assert len(result.read) == 3
    side = repo / repowrite.SIDE_INDEX
    assert side.exists()
    # it names no directory (the base names a compose's: a unit's record would find it in
    # binary data, and an old unit placed in another compose could not be taken)
    assert str(download).encode() not in side.read_bytes()
    searched = _searched_index(repo)
    searches = []
    for name in ("_CHECKSUM", "_TIME_SIZE", "_LOCATION", "_PKGID"):
        real = getattr(repowrite, name)

        class Counting:
            def __init__(self, real, name):
                self.real, self.name = real, name

            def findall(self, text):
                searches.append(self.name)
                return self.real.findall(text)

            def __getattr__(self, attr):
                return getattr(self.real, attr)
        monkeypatch.setattr(repowrite, name, Counting(real, name))
    index = repowrite._verbatim_index(str(repo))
    assert searches == []
    _same_records(index, searched)
    assert index.records[files[0]].store.location == searched.records[files[0]].store.location
    assert index.records[files[0]].store.location is not None
    # files in folders (a tree): no common location start, the same records
    tree, rels, _listfile = make_tree(base, download, files, "side-tree")
    repowrite.write_repo(str(tree), str(base / "side-tree-repo"), rels, sources=[str(repo)],
                         mark=True, max_read=len(rels))
    tree_index = repowrite._verbatim_index(str(base / "side-tree-repo"))
    assert searches == []
    _same_records(tree_index, _searched_index(base / "side-tree-repo"))
    assert tree_index.records[files[0]].store.location is None
    # refused: the repodata written again without the mark (another repomd.xml)
    good = side.read_bytes()
    repowrite.write_repo(str(download), str(base / "side-other"), files, sources=[str(repo)],
                         baseurl=f"file://{download}", mark=True, max_read=len(files))
    (base / "side-other" / repowrite.SIDE_INDEX).write_bytes(good)
    _same_records(repowrite._verbatim_index(str(base / "side-other")),
                  _searched_index(base / "side-other"))
    assert searches
    # refused: a first boundary that does not fit the text, a file cut short
    head, _, _rest = good.partition(b"\n")
    at = len(head) + 1 + json.loads(head)["names"]      # primary's first boundary
    first = int.from_bytes(good[at:at + 8], sys.byteorder)
    shifted = good[:at] + (first + 1).to_bytes(8, sys.byteorder) + good[at + 8:]
    locations = repowrite._locations(str(repo))
    texts = tuple(repowrite._read(locations[kind]) for kind in repowrite._KINDS)
    assert repowrite._side_index(str(repo), texts) is not None
    for bad in (shifted, good[:-1], good + b"\0"):
        side.write_bytes(bad)
        assert repowrite._side_index(str(repo), texts) is None
        searches.clear()
        _same_records(repowrite._verbatim_index(str(repo)), searched)
        assert searches
    side.write_bytes(good)
