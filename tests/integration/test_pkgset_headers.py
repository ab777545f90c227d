"""pkgset from repos takes package headers from repodata (plus a raw read of the signature and,
for source RPMs, ExcludeArch/ExclusiveArch) instead of librpm: the result must equal what librpm
reads, on real unsigned and signed RPMs."""

import os
import shutil

import pytest

from phases.pkgset import header_from_repodata
from pungi_like.errors import PhaseError
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.headers import read_header, read_raw_tags

pytestmark = pytest.mark.integration


def test_headers_from_repodata_equal_librpm_headers(universe):
    solver = Depsolver([Repo("universe", universe.repo_dir)], "x86_64")
    compared, with_arch_tags = 0, 0
    for pkg in solver.pkgs.values():
        gathered = pkg.gathered(set())
        ours = header_from_repodata(gathered, gathered.path, solver)
        assert ours == read_header(gathered.path), gathered.path
        compared += 1
        with_arch_tags += bool(ours.excludearch or ours.exclusivearch)
    assert compared > 50
    # the demo universe has source packages with ExclusiveArch and with ExcludeArch
    assert with_arch_tags >= 2


def test_signing_key_read_raw_equals_librpm(universe, tmp_path):
    if shutil.which("rpmsign") is None or shutil.which("gpg") is None:
        pytest.fail("rpmsign and gpg are needed; run .ci/setup")
    from pungi_like.buildsvc.seed import GpgKey, rpmsign

    packages = sorted(os.listdir(universe.repo_dir))
    picked = [next(n for n in packages if n.endswith(".src.rpm")),
              next(n for n in packages if n.endswith(".x86_64.rpm")),
              next(n for n in packages if n.endswith(".noarch.rpm"))]
    copies = []
    for name in picked:
        shutil.copy(os.path.join(universe.repo_dir, name), tmp_path / name)
        copies.append(str(tmp_path / name))
    assert all(read_raw_tags(path).sigkey is None for path in copies)
    key = GpgKey.create(str(tmp_path / "gnupg"))
    try:
        rpmsign(key, copies)
    finally:
        key.stop_agent()
    for path in copies:
        assert read_raw_tags(path, arch_tags=True).sigkey == key.sigkey
        assert read_header(path).sigkey == key.sigkey
    _check_prefill_tags(copies)


def _check_prefill_tags(paths, unreadable=()):
    """The digest prefill's child reads the same raw tags as read_raw_tags (the arch tags of
    source packages, the key alone of the others); None for a file that is no RPM."""
    from pungi_like.digest_prefill import Prefill

    tags = [p.endswith(".src.rpm") for p in paths] + [False] * len(unreadable)
    prefill = Prefill(list(paths) + list(unreadable), (b"/nowhere", b"no-id"), tags=tags)
    try:
        for path, arch in zip(paths, tags):
            assert prefill.raw_tags(path) == read_raw_tags(path, arch_tags=arch), path
        for path in unreadable:
            assert prefill.raw_tags(path) is None
    finally:
        prefill.wait()


def test_prefill_child_reads_the_raw_tags(universe, tmp_path):
    broken = tmp_path / "broken.rpm"
    broken.write_bytes(b"not an rpm at all" * 10)
    paths = sorted(os.path.join(universe.repo_dir, n) for n in os.listdir(universe.repo_dir)
                   if n.endswith(".rpm"))
    assert any(read_raw_tags(p, arch_tags=True).exclusivearch for p in paths)
    _check_prefill_tags(paths, unreadable=[str(broken), str(tmp_path / "missing.rpm")])


def test_a_file_that_is_no_rpm_is_named(tmp_path, universe):
    solver = Depsolver([Repo("universe", universe.repo_dir)], "x86_64")
    gathered = next(iter(solver.pkgs.values())).gathered(set())
    broken = tmp_path / gathered.filename
    broken.write_bytes(b"not an rpm at all" * 10)
    with pytest.raises(PhaseError, match=f"{broken}: not an RPM file .*universe"):
        header_from_repodata(gathered, str(broken), solver)


def test_a_header_claiming_more_than_the_file_holds_is_named_truncated(tmp_path, universe):
    # a hostile or damaged RPM whose signature header claims 2^32 entries and a 4 GiB store:
    # reading what it claims raised a bare MemoryError; what the file holds is read instead
    import struct
    solver = Depsolver([Repo("universe", universe.repo_dir)], "x86_64")
    gathered = next(iter(solver.pkgs.values())).gathered(set())
    broken = tmp_path / gathered.filename
    broken.write_bytes(b"\xed\xab\xee\xdb" + b"\0" * 92 + b"\x8e\xad\xe8\x01\0\0\0\0"
                       + struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF) + b"\0" * 64)
    with pytest.raises(ValueError, match="truncated RPM header"):
        read_raw_tags(str(broken))
    with pytest.raises(PhaseError, match=f"{broken}: truncated RPM header .*universe"):
        header_from_repodata(gathered, str(broken), solver)
