"""Records of another createrepo_c's repo parsed in a child process
(pungi_like.rpmtools.recordparse) and handed to repowrite: the package set repo written from
them is the createrepo_c command's, and this process parses nothing itself."""

import os

import pytest

from pungi_like.rpmtools import repodata, repowrite
from pungi_like.rpmtools.recordparse import Parsing
from pungi_like.tools import run

pytestmark = pytest.mark.integration


def metadata_files(outputdir):
    folder = os.path.join(outputdir, "repodata")
    found = {}
    for name in sorted(os.listdir(folder)):
        if name != "repomd.xml":    # the command stamps the current time into it
            with open(os.path.join(folder, name), "rb") as fh:
                found[name] = fh.read()
    return found


@pytest.fixture(scope="module")
def download(universe, tmp_path_factory):
    """Hard links of every RPM of the demo universe, a package list, and a repo of them that
    another createrepo_c run wrote (this process does not trust its records)."""
    base = tmp_path_factory.mktemp("recordparse")
    folder = base / "download"
    folder.mkdir()
    files = sorted(n for n in os.listdir(universe.repo_dir) if n.endswith(".rpm"))
    for name in files:
        os.link(os.path.join(universe.repo_dir, name), folder / name)
    listfile = base / "pkgset.list"
    listfile.write_text("".join(f + "\n" for f in files))
    source = base / "source"
    source.mkdir()
    run([repodata.createrepo_binary(), str(folder), f"--outputdir={source}", "--no-database"])
    assert not repowrite.is_trusted(str(source))
    return base, folder, files, listfile, str(source)


def test_parsed_in_a_child_gives_the_commands_repodata(download, monkeypatch):
    base, folder, files, listfile, source = download
    expected = base / "cmd"
    repodata.createrepo(str(folder), outputdir=str(expected), pkglist=str(listfile),
                        baseurl=f"file://{folder}")
    parsing = Parsing([source])
    assert parsing.adopt() is None

    def no_parse(repo_dir):
        raise AssertionError(f"{repo_dir} parsed in the compose's process")
    monkeypatch.setattr(repowrite, "_parsed_index", no_parse)
    ours = base / "ours"
    result = repowrite.write_repo(str(folder), str(ours), files, sources=[source],
                                  baseurl=f"file://{folder}", max_read=0)
    parsing.discard()
    assert result.reused == len(files) and result.read == []
    assert metadata_files(ours) == metadata_files(expected)
    # handed over once: a second write parses again (here: fails, nothing is left behind)
    with pytest.raises(AssertionError, match="parsed in the compose's process"):
        repowrite.write_repo(str(folder), str(base / "again"), files, sources=[source])


def test_a_repo_that_cannot_be_parsed_hands_nothing_over(download, tmp_path, monkeypatch):
    _base, _folder, _files, _listfile, source = download
    parsing = Parsing([source, str(tmp_path)])     # tmp_path has no repodata
    reason = parsing.adopt()
    assert reason and str(tmp_path) in reason and "repomd.xml" in reason
    parsing.discard()
    parsed = []
    monkeypatch.setattr(repowrite, "_parsed_index",
                        lambda repo_dir: parsed.append(repo_dir) or repowrite.RecordIndex())
    repowrite.record_index(source)
    assert parsed == [source]


def test_a_repo_changed_while_parsed_is_not_taken(download, tmp_path):
    _base, folder, files, _listfile, _source = download
    source = tmp_path / "changing"
    source.mkdir()
    run([repodata.createrepo_binary(), str(folder), f"--outputdir={source}", "--no-database"])
    parsing = Parsing([str(source)])
    parsing.reader.join()
    os.utime(source / "repodata" / "repomd.xml", (1_000_000_000, 1_000_000_000))
    reason = parsing.adopt()
    assert reason == f"{source} changed while its records were parsed"
    assert not repowrite._adopted


def test_the_child_hands_the_start_of_the_location_lines_over(download):
    """The store parsed in the child carries what every <location> line starts with, as one
    parsed here does (write_repo relocates runs of its records by one replace with it)."""
    _base, _folder, _files, _listfile, source = download
    parsing = Parsing([source])
    parsing.reader.join()
    try:
        [(repo, _stat, index, error)] = parsing.found
        assert repo == source and error is None
        adopted = next(iter(index.records.values())).store.location
        here = next(iter(repowrite._parsed_index(source).records.values())).store.location
        assert adopted == here == b'\n  <location href="'
    finally:
        parsing.discard()
