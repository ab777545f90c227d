"""A re-run whose package set changed in one package writes the package set repo from the
old compose's records and the changed files; when the closure's pool describes every file of
the new package set (pkgset.closure_describes), the gathers solve over that pool instead of
loading the repo (28b4a31's offer, for a cold compose, extended to the re-run), and the
compose is the one a compose of the same inputs without reuse makes (issue 12)."""

import os
import time

import pytest

from pungi_like.rpmtools import repodata
from tests.integration.test_reuse import (EPOCH, compose, identity, make_release, timeline,
                                          tree, upgrade_other)
from tests.integration.test_reuse_delta import _work_files

pytestmark = pytest.mark.integration

LINE = "# the closure's pool describes every file of the package set"


def _age_repo(repo, prefix=""):
    """The RPMs of ``repo`` whose names start with ``prefix`` a minute old and its repodata
    written again now: a repomd.xml written in a later second than every file's mtime, as a
    nightly's repos are (the others are left alone: an old compose holds them, by inode,
    size and mtime)."""
    past = time.time() - 60
    for name in os.listdir(repo):
        if name.endswith(".rpm") and name.startswith(prefix):
            os.utime(os.path.join(repo, name), (past, past))
    repodata.createrepo(repo)


def _pkgset_log(topdir):
    with open(os.path.join(topdir, "logs", "global", "arch_repo.repos.global.log")) as fh:
        return fh.read()


def _cold_then_upgraded(tmp_path):
    """A cold compose of a release whose repo's files are older than its repodata, then
    ``other`` upgraded in the repo: (env, config, repo, target, the cold compose)."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in")
    repo = str(tmp_path / "in" / "repo")
    _age_repo(repo)
    target = tmp_path / "composes"
    proc, cold = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    upgrade_other(str(tmp_path / "in"))
    return env, conf, repo, target, cold


def test_a_rerun_solves_over_the_closures_pool(tmp_path):
    env, conf, repo, target, cold = _cold_then_upgraded(tmp_path)
    _age_repo(repo, "other-2.0-")
    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    assert timeline(warm)["gather.Server.x86_64"]["result_from"] == identity(cold)[0]
    assert LINE in _pkgset_log(warm)

    proc, fresh = compose(conf, tmp_path / "fresh", "--no-reuse", env=env)
    assert proc.returncode == 0, proc.stderr
    assert tree(warm) == tree(fresh)
    assert _work_files(warm, identity(warm)[0]) == _work_files(fresh, identity(fresh)[0])


def test_not_when_a_file_is_as_new_as_the_repodata(tmp_path):
    """A package changed in the second its repo's repomd.xml was written may not be the one
    the repodata describes: the pool is not taken (the gathers load the package set repo)."""
    env, conf, repo, target, _cold = _cold_then_upgraded(tmp_path)
    repomd = os.path.join(repo, "repodata", "repomd.xml")
    made = os.stat(repomd).st_mtime
    for name in os.listdir(repo):
        if name.startswith("other-2.0-"):
            os.utime(os.path.join(repo, name), (made, made))
    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    assert LINE not in _pkgset_log(warm)
