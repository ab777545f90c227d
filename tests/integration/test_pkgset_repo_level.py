"""A cold package set's work repo (written from the records parsed in a child) is compressed at
repowrite.WORK_LEVEL: the XML createrepo_c writes, gzip bytes zlib gives at that level. A
tree's repodata (a compose output) stays at createrepo_c's level."""

import glob
import gzip
import os
import zlib

import pytest

from pungi_like.rpmtools import repowrite

from tests.integration.test_pkgset_early_parse import declare_units, run_units
from tests.integration.test_pkgset_repos import compose_for, two_repos  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def gz(data, level):
    comp = zlib.compressobj(level, zlib.DEFLATED, 31, 8)
    return comp.compress(data) + comp.flush()


def metadata(repo_dir):
    """{kind: gzip bytes} of primary, filelists and other."""
    found = {}
    for kind in ("primary", "filelists", "other"):
        [path] = glob.glob(os.path.join(repo_dir, "repodata", f"*-{kind}.xml.gz"))
        with open(path, "rb") as fh:
            found[kind] = fh.read()
    return found


def test_a_cold_package_sets_repo_is_compressed_at_the_work_level(two_repos, tmp_path):
    from phases.pkgset import PkgsetPhase
    assert repowrite.WORK_LEVEL != repowrite.GZ_LEVEL
    first, _second = two_repos
    compose = compose_for(tmp_path, {"*": [first]})
    phase = PkgsetPhase(compose)
    units = declare_units(compose, phase)
    phase.start_early()
    run_units({name: unit for name, unit in units.items() if name.startswith(("init", "pkgset"))})
    log = open(compose.paths.log_file("global", "arch_repo.repos")).read()
    assert "repos written from records: 4 packages" in log
    repo = compose.paths.pkgset_repo(phase.pkgset_name)
    for kind, data in metadata(repo).items():
        text = gzip.decompress(data)
        assert b"<package " in text or kind != "primary"
        assert data == gz(text, repowrite.WORK_LEVEL), kind
    # the records are the same text: the arch's repo (a copy) and the gathers read them
    assert repowrite.is_trusted(repo)


def test_write_repo_gives_createrepo_cs_level_unless_asked(two_repos, tmp_path):
    first, _second = two_repos
    names = sorted(n for n in os.listdir(first) if n.endswith(".rpm"))
    plain = tmp_path / "plain"
    work = tmp_path / "work"
    repowrite.write_repo(first, str(plain), names, sources=[first])
    repowrite.write_repo(first, str(work), names, sources=[first], level=repowrite.WORK_LEVEL)
    plain_files, work_files = metadata(str(plain)), metadata(str(work))
    for kind in plain_files:
        text = gzip.decompress(plain_files[kind])
        assert gzip.decompress(work_files[kind]) == text
        assert plain_files[kind] == repowrite.gzip_bytes(text)
        assert work_files[kind] == gz(text, repowrite.WORK_LEVEL)
