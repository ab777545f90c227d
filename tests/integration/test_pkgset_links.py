"""The package set's links (phases.pkgset.link_set): hard links made by ln runs, the unit's
record told of them, and every case ln refuses handled one by one as before."""

import os

import pytest

from phases import pkgset
from pungi_like.errors import PhaseError
from pungi_like.reuse_capture import capturing

pytestmark = pytest.mark.integration


def _sources(root, count):
    root.mkdir()
    paths = []
    for i in range(count):
        path = root / f"pkg{i:04d}-1.0-1.noarch.rpm"
        path.write_bytes(b"r" * (i + 1))
        paths.append(str(path))
    return paths


def test_links_by_batches_are_hard_links_noted_for_the_record(tmp_path, monkeypatch):
    sources = _sources(tmp_path / "repo", 150)
    top = tmp_path / "compose"
    download = top / "work" / "global" / "download"
    download.mkdir(parents=True)
    monkeypatch.setattr(pkgset, "LINK_BATCH", 64)     # three ln runs
    pairs = [(src, os.path.join(str(download), os.path.basename(src))) for src in sources]
    with capturing(str(top)) as capture:
        pkgset.link_set(str(download), pairs)
    for src, dest in pairs:
        assert os.path.samefile(src, dest)
    assert capture.paths() == {dest for _src, dest in pairs}


def test_what_ln_refuses_is_linked_one_by_one(tmp_path):
    sources = _sources(tmp_path / "repo", 100)
    download = tmp_path / "download"
    download.mkdir()
    # a file there already (a resumed unit), a symlinked source (its target is linked), a
    # name of its own
    os.link(sources[3], download / os.path.basename(sources[3]))
    os.symlink(sources[5], tmp_path / "repo" / "linked.rpm")
    pairs = [(src, os.path.join(str(download), os.path.basename(src))) for src in sources]
    pairs.append((str(tmp_path / "repo" / "linked.rpm"), str(download / "linked.rpm")))
    pairs.append((sources[7], str(download / "renamed.rpm")))
    with capturing(str(tmp_path)) as capture:
        pkgset.link_set(str(download), pairs)
    # the run that failed linked the others before the one-by-one path saw them there: every
    # file is noted for the record all the same
    assert capture.paths() == {dest for _src, dest in pairs}
    for src, dest in pairs:
        assert os.path.samefile(src, dest)
    assert not os.path.islink(download / "linked.rpm")
    assert os.path.samefile(download / "linked.rpm", sources[5])


def test_a_missing_file_is_named(tmp_path):
    sources = _sources(tmp_path / "repo", 80)
    download = tmp_path / "download"
    download.mkdir()
    os.unlink(sources[40])
    pairs = [(src, os.path.join(str(download), os.path.basename(src))) for src in sources]
    with pytest.raises(PhaseError, match="pkg0040-1.0-1.noarch.rpm: listed in repodata but "
                                         "missing"):
        pkgset.link_set(str(download), pairs)
