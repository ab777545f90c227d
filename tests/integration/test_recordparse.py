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


def _forget(repo_dir):
    """As in another process (a re-run): this one neither wrote ``repo_dir`` nor indexed it."""
    real = os.path.realpath(repo_dir)
    repowrite._trusted.pop(real, None)
    for key in [k for k in repowrite._indexes if k[0] == real]:
        del repowrite._indexes[key]


def test_a_marked_repo_indexed_in_a_child_as_it_would_be_here(download, monkeypatch):
    """--verbatim (a re-run's old package set repo): the child's index of a marked repo is
    the one record_index would read itself, and a repo written from it has the same bytes;
    record_index then reads nothing itself. An unmarked repo's verbatim index is not taken."""
    base, folder, files, _listfile, source = download
    marked = base / "marked"
    repowrite.write_repo(str(folder), str(marked), files, sources=[source],
                         baseurl=f"file://{folder}", mark=True, level=repowrite.WORK_LEVEL)
    _forget(str(marked))
    here = repowrite.record_index(str(marked))
    expected = base / "from-here"
    repowrite.write_repo(str(folder), str(expected), files, sources=[str(marked)],
                         baseurl=f"file://{folder}", max_read=0)
    _forget(str(marked))
    parsing = Parsing([str(marked)], verbatim=True)
    assert parsing.adopt() is None
    parsing.discard()

    def no_index(repo_dir):
        raise AssertionError(f"{repo_dir} indexed in the compose's process")
    monkeypatch.setattr(repowrite, "_verbatim_index", no_index)
    child = repowrite.record_index(str(marked))
    assert child.verbatim and sorted(child.records) == sorted(here.records)
    for name, record in here.records.items():
        other = child.records[name]
        assert (other.mtime, other.size, other.checksum_type) == (
            record.mtime, record.size, record.checksum_type)
        assert [other.part(k) for k in range(3)] == [record.part(k) for k in range(3)]
    ours = base / "from-child"
    result = repowrite.write_repo(str(folder), str(ours), files, sources=[str(marked)],
                                  baseurl=f"file://{folder}", max_read=0)
    assert result.reused == len(files)
    assert metadata_files(ours) == metadata_files(expected)

    # a repo without the mark: the child's index is kept but not taken (parsed instead)
    monkeypatch.undo()
    _forget(source)
    parsing = Parsing([source], verbatim=True)
    assert parsing.adopt() is None
    parsed = []
    monkeypatch.setattr(repowrite, "_parsed_index",
                        lambda repo_dir: parsed.append(repo_dir) or repowrite.RecordIndex())
    repowrite.record_index(source)
    assert parsed == [source]
