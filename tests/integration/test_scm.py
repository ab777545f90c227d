"""pungi_like.scm on real sources: files and directories from this machine, a local git
repository (branch, tag, commit) and RPM payloads (rpm2archive)."""

import os
import subprocess

import pytest

from pungi_like import scm
from pungi_like.errors import PhaseError

pytestmark = pytest.mark.integration


def git(repo, *args):
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                          *args], cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """master: notes = "one"; tag v1 on it; then notes = "two" and docs/a/b (a second commit)."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "master")
    (path / "notes").write_text("one\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "one")
    git(path, "tag", "v1")
    first = git(path, "rev-parse", "HEAD")
    (path / "notes").write_text("two\n")
    (path / "docs" / "a").mkdir(parents=True)
    (path / "docs" / "a" / "b").write_text("b\n")
    (path / "escape").symlink_to("/etc/hostname")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "two")
    return path, first


def test_git_file_from_branch_tag_and_commit(repo, tmp_path):
    path, first = repo
    for ref, text in (("master", "two\n"), ("v1", "one\n"), (first, "one\n")):
        out = tmp_path / f"out-{ref}"
        assert scm.fetch({"scm": "git", "repo": str(path), "branch": ref, "file": "notes"},
                         str(out)) == ["notes"]
        assert (out / "notes").read_text() == text


def test_git_dir_copies_its_content_and_the_default_branch_is_master(repo, tmp_path):
    path, _ = repo
    out = tmp_path / "out"
    assert scm.fetch({"scm": "git", "repo": f"file://{path}", "dir": "docs"}, str(out)) == ["a/b"]
    assert (out / "a" / "b").read_text() == "b\n"


def test_git_errors_name_the_ref_and_the_file(repo, tmp_path):
    path, _ = repo
    with pytest.raises(PhaseError, match="cannot check out 'no-such-branch'"):
        scm.fetch({"scm": "git", "repo": str(path), "branch": "no-such-branch", "file": "notes"},
                  str(tmp_path / "o1"))
    with pytest.raises(PhaseError, match="no file missing in the repository"):
        scm.fetch({"scm": "git", "repo": str(path), "file": "missing"}, str(tmp_path / "o2"))
    # a symlink in the repository that points outside it is not followed
    with pytest.raises(PhaseError, match="escape leaves the repository"):
        scm.fetch({"scm": "git", "repo": str(path), "file": "escape"}, str(tmp_path / "o3"))


def test_file_globs_relative_to_the_config_dir_and_dirs(tmp_path):
    base = tmp_path / "conf"
    (base / "extra" / "sub").mkdir(parents=True)
    (base / "extra" / "A.txt").write_text("a")
    (base / "extra" / "B.txt").write_text("b")
    (base / "extra" / "sub" / "C").write_text("c")
    out = tmp_path / "out"
    assert scm.fetch({"scm": "file", "repo": "", "file": "extra/*.txt"}, str(out),
                     base_dir=str(base)) == ["A.txt", "B.txt"]
    assert scm.fetch({"scm": "file", "repo": "", "dir": "extra"}, str(tmp_path / "d"),
                     base_dir=str(base)) == ["A.txt", "B.txt", "sub/C"]
    with pytest.raises(PhaseError, match="extra file nothing-here matches no file"):
        scm.fetch({"scm": "file", "repo": "", "file": "nothing-here"}, str(out),
                  base_dir=str(base))


def test_rpm_file_and_dir_with_and_without_trailing_slash(rpm_factory, tmp_path):
    from pungi_like.universe.rpmbuild import Package

    built = rpm_factory([Package("scm-docs", "1.0", arch="noarch",
                                 files={"/usr/share/doc/scm-docs/README": "readme\n",
                                        "/usr/share/doc/scm-docs/x/y": "y\n"})])
    (rpm,) = built.rpms
    out = tmp_path / "f"
    assert scm.fetch({"scm": "rpm", "repo": str(rpm), "file": "/usr/share/doc/scm-docs/README"},
                     str(out)) == ["README"]
    assert (out / "README").read_text() == "readme\n"
    assert scm.fetch({"scm": "rpm", "repo": str(rpm), "dir": "/usr/share/doc/scm-docs/"},
                     str(tmp_path / "content")) == ["README", "x/y"]
    assert scm.fetch({"scm": "rpm", "repo": str(rpm), "dir": "/usr/share/doc/scm-docs"},
                     str(tmp_path / "itself")) == ["scm-docs/README", "scm-docs/x/y"]
    with pytest.raises(PhaseError, match="no RPM matches"):
        scm.fetch({"scm": "rpm", "repo": str(tmp_path / "none-*.rpm"), "file": "/x"},
                  str(tmp_path / "n"))
