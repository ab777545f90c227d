"""A createrepo_c killed mid-run leaves ``.repodata/`` behind, and createrepo_c refuses to run
again while it is there; a resumed compose runs the tree's createrepo again, so both ways the
compose runs createrepo_c clear it first (real createrepo_c)."""

import pytest

from phases.createrepo import run_createrepo
from pungi_like.rpmtools import repodata

pytestmark = pytest.mark.integration


def leave_stale(repo):
    (repo / ".repodata").mkdir(parents=True)
    (repo / ".repodata" / "primary.xml.gz").write_bytes(b"half written")


def test_rpmtools_createrepo_clears_a_killed_runs_workdir(tmp_path):
    repo, log = tmp_path / "repo", tmp_path / "createrepo.log"
    leave_stale(repo)
    repodata.createrepo(str(repo), log_path=str(log))
    assert (repo / "repodata" / "repomd.xml").is_file()
    assert not (repo / ".repodata").exists()
    assert "interrupted createrepo_c" in log.read_text()


def test_createrepo_phase_command_clears_a_killed_runs_workdir(tmp_path):
    tree, log = tmp_path / "tree", tmp_path / "createrepo.log"
    leave_stale(tree)
    listfile = tmp_path / "pkglist"
    listfile.write_text("")
    run_createrepo(str(tree), str(tree), str(listfile), str(log))
    assert (tree / "repodata" / "repomd.xml").is_file()
    assert not (tree / ".repodata").exists()
