"""createrepo takes the package records of the package set's repodata (createrepo_c --update
--update-md-path) instead of reading every RPM again: the repodata must be the same as a run
without reuse, also for a file that is not the package set's (another mtime: read again)."""

import gzip
import os
import shutil

import pytest

from phases.createrepo import run_createrepo
from pungi_like.rpmtools import repodata

pytestmark = pytest.mark.integration


def xml_of(repo, kind):
    path = repodata.repomd_locations(repo)[kind]
    with gzip.open(path) as fh:
        return fh.read()


def test_reused_records_give_the_same_repodata(universe, tmp_path):
    download = tmp_path / "download"
    download.mkdir()
    names = sorted(n for n in os.listdir(universe.repo_dir) if n.endswith(".rpm"))
    for name in names:
        os.link(os.path.join(universe.repo_dir, name), download / name)
    pkgset_repo = tmp_path / "pkgset"
    repodata.createrepo(str(download), outputdir=str(pkgset_repo), checksum="sha256",
                        baseurl=f"file://{download}")

    tree = tmp_path / "tree"
    binaries = [n for n in names if not n.endswith(".src.rpm")][:20]
    listed = []
    for name in binaries:
        dest = tree / "Packages" / name[0].lower() / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(download / name, dest)
        listed.append(f"Packages/{name[0].lower()}/{name}")
    # one file that is a copy with another mtime: its record must not be taken over
    changed = tree / "Packages" / binaries[0][0].lower() / binaries[0]
    changed.unlink()
    shutil.copyfile(download / binaries[0], changed)
    os.utime(changed, (1_000_000_000, 1_000_000_000))
    listfile = tmp_path / "list"
    listfile.write_text("".join(p + "\n" for p in listed))

    plain, reused = tmp_path / "plain", tmp_path / "reused"
    plain.mkdir()
    reused.mkdir()
    run_createrepo(str(tree), str(plain), str(listfile), str(tmp_path / "plain.log"))
    run_createrepo(str(tree), str(reused), str(listfile), str(tmp_path / "reused.log"),
                   update_md_paths=[str(pkgset_repo)])

    log = (tmp_path / "reused.log").read_text()
    assert f"Loaded information about {len(binaries)} packages" in log
    assert b"time file=\"1000000000\"" in xml_of(str(reused), "primary")
    for kind in ("primary", "filelists", "other"):
        assert xml_of(str(reused), kind) == xml_of(str(plain), kind), kind
    assert xml_of(str(reused), "primary").count(b"<package ") == len(binaries)


def test_reuse_only_when_the_files_outweigh_the_metadata(universe, tmp_path):
    md = repodata.metadata_bytes([universe.repo_dir])
    assert md > 0
    assert repodata.reuse_worthwhile([universe.repo_dir], repodata.REUSE_MIN_RATIO * md)
    assert not repodata.reuse_worthwhile([universe.repo_dir], repodata.REUSE_MIN_RATIO * md - 1)
    # no repo (or one without repodata) to reuse from: never
    assert not repodata.reuse_worthwhile([], 10 ** 12)
    assert not repodata.reuse_worthwhile([str(tmp_path)], 10 ** 12)
