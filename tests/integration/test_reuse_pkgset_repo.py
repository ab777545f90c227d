"""A re-run whose package set changed writes the package set repo from the old package set
repo's records (the changed files read) and gives the bytes a cold compose of the same inputs
writes: the same XML and the gzip level of a cold package set repo (repowrite.WORK_LEVEL), not
createrepo_c's (issue 12: the one-package-changed re-run)."""

import glob
import gzip
import hashlib
import json
import os
import zlib

import pytest

from pungi_like.rpmtools import repowrite

from tests.integration.test_reuse import EPOCH, compose, identity, make_release, upgrade_other

pytestmark = pytest.mark.integration

KINDS = ("primary", "filelists", "other")


def _set_repos(topdir):
    """{relative repo dir: {kind: gzip bytes}} of the package set repos in work/."""
    found = {}
    for repodata in sorted(glob.glob(os.path.join(topdir, "work/*/repo/*/repodata"))):
        repo = os.path.relpath(os.path.dirname(repodata), topdir)
        for kind in KINDS:
            [path] = glob.glob(os.path.join(repodata, f"*-{kind}.xml.gz"))
            with open(path, "rb") as fh:
                found.setdefault(repo, {})[kind] = fh.read()
    return found


def _gz(data, level):
    comp = zlib.compressobj(level, zlib.DEFLATED, 31, 8)
    return comp.compress(data) + comp.flush()


def _age(repo):
    """The RPMs of ``repo`` dated SOURCE_DATE_EPOCH and its repodata made again: a record
    describes a file by name, size and whole-second mtime only when written in a later second
    (repowrite.written_after), which a compose made in the second the RPMs were built is not."""
    from pungi_like.rpmtools import repodata

    old = int(EPOCH)
    for path in glob.glob(os.path.join(repo, "*.rpm")):
        os.utime(path, (old, old))
    repodata.createrepo(repo)


def test_a_changed_package_sets_repo_is_a_cold_composes(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in")
    _age(str(tmp_path / "in" / "repo"))
    proc, cold = compose(conf, tmp_path / "composes", env=env)
    assert proc.returncode == 0, proc.stderr
    upgrade_other(str(tmp_path / "in"))
    _age(str(tmp_path / "in" / "repo"))
    proc, warm = compose(conf, tmp_path / "composes", env=env)
    assert proc.returncode == 0, proc.stderr
    log = open(glob.glob(os.path.join(warm, "logs/global/arch_repo.*.global.log"))[0]).read()
    # written from the old package set repo's records; the upgraded package's files read
    [line] = [ln for ln in log.splitlines() if "written from records" in ln]
    old_repo = glob.glob(os.path.join(cold, "work/global/repo/*"))[0]
    assert f"records taken from {old_repo}" in line
    assert f"# 4 record entries taken from {identity(cold)[0]}'s record (the same files)" \
        in log.splitlines()
    read = [ln for ln in log.splitlines() if ln.startswith("#   read (no record")]
    assert read and all("other-2.0" in ln for ln in read), read

    proc, fresh = compose(conf, tmp_path / "fresh", "--no-reuse", env=env)
    assert proc.returncode == 0, proc.stderr
    ours, theirs = _set_repos(warm), _set_repos(fresh)
    assert ours.keys() == theirs.keys() and "work/global/repo" in {
        os.path.dirname(r) for r in ours}
    names = {warm: identity(warm)[0], fresh: identity(fresh)[0]}
    for repo, files in ours.items():
        for kind in KINDS:
            texts = {}
            for topdir, data in ((warm, files[kind]), (fresh, theirs[repo][kind])):
                text = gzip.decompress(data)
                # the gzip bytes zlib gives at the work level (a cold package set repo's)
                assert data == _gz(text, repowrite.WORK_LEVEL), (topdir, repo, kind)
                texts[topdir] = text.replace(topdir.encode(), b"{top}").replace(
                    names[topdir].encode(), b"{id}")
            assert texts[warm] == texts[fresh], (repo, kind)

    # the unit's record holds each package set file's digest (the unchanged files' taken from
    # the old record, the child hashing only the files read): the digests of the bytes
    with open(os.path.join(warm, "work/global/reuse/pkgset.global.json")) as fh:
        files = json.JSONDecoder().raw_decode(fh.read())[0]["files"]
    rpms = {rel: entry for rel, entry in files.items() if rel.endswith(".rpm")}
    assert len(rpms) == 6
    for rel, entry in rpms.items():
        with open(os.path.join(warm, rel), "rb") as fh:
            assert entry["sha256"] == hashlib.sha256(fh.read()).hexdigest(), rel
        # and the stat of the very link (the unchanged files' entries are the old record's,
        # taken by the stat of the file linked from: pkgset.entries_from_old)
        st = os.stat(os.path.join(warm, rel))
        assert entry["stat"] == [st.st_ino, st.st_size, st.st_mtime_ns], rel
        assert entry["size"] == st.st_size and entry["names_compose"] is False, rel
