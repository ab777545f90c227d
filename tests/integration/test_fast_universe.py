"""bench/fast_universe.py writes the oracle corpus generator's universe without rpmbuild: its RPMs
must be real RPMs (librpm reads them and checks their digests) and its repodata must describe the
same packages as make-repo.sh's rpmbuild universe from the same specs (everything createrepo_c
records except checksums, sizes, times and the build host)."""

import os
import shutil
import subprocess
import sys

import createrepo_c as cr
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATOR = os.path.join(os.path.dirname(ROOT), "shared", "oracles", "pungi-4.3.2", "_inputs")
sys.path.insert(0, os.path.join(ROOT, "bench"))

import fast_universe  # noqa: E402

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.path.isfile(os.path.join(GENERATOR, "make-repo.sh")),
                                 reason="oracle corpus generator not found"),
              pytest.mark.skipif(shutil.which("rpmbuild") is None or shutil.which("rpm") is None,
                                 reason="rpmbuild/rpm not installed")]

FIELDS = ("epoch", "version", "release", "summary", "description", "url", "rpm_license",
          "rpm_sourcerpm", "rpm_group", "rpm_vendor", "rpm_packager", "location_href",
          "requires", "provides", "conflicts", "obsoletes", "files", "changelogs",
          "size_installed")


def packages(repo):
    md = cr.Metadata()
    md.locate_and_load_xml(str(repo))
    found = {}
    for key in md.keys():
        pkg = md.get(key)
        found[(pkg.name, pkg.arch)] = {
            f: sorted(getattr(pkg, f)) if f in ("requires", "provides", "files")
            else getattr(pkg, f) for f in FIELDS}
    return found


def test_fast_universe_matches_rpmbuild_universe(tmp_path):
    slow, fast = tmp_path / "rpmbuild", tmp_path / "fast"
    subprocess.run(["bash", os.path.join(GENERATOR, "make-repo.sh"), str(slow), "4", "8"],
                   check=True, stdout=subprocess.DEVNULL)
    written, _seconds = fast_universe.make_universe(str(fast), 4, 8, GENERATOR)
    for kind in ("x86_64/os", "source/tree"):
        want, got = packages(slow / "repo" / kind), packages(fast / "repo" / kind)
        assert sorted(got) == sorted(want)
        for key in want:
            assert got[key] == want[key], key
    assert written == 4 * 8 + 4
    with open(slow / "comps.xml") as a, open(fast / "comps.xml") as b:
        assert a.read() == b.read()
    rpms = sorted((fast / "repo" / "x86_64" / "os" / "Packages").iterdir())
    srpm = sorted((fast / "repo" / "source" / "tree" / "Packages").iterdir())[0]
    check = subprocess.run(["rpm", "-K", "--nosignature", str(rpms[0]), str(srpm)],
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stdout.count("digests OK") == 2, check.stdout
    listing = subprocess.run(["rpm", "-qpl", str(srpm)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert listing == [srpm.name.rsplit("-", 2)[0] + ".spec"]
    payload = subprocess.run(f"rpm2cpio {rpms[0]} | cpio -t --quiet", shell=True,
                             capture_output=True, text=True, check=True).stdout.split()
    assert payload == ["./" + p.lstrip("/") for p in subprocess.run(
        ["rpm", "-qpl", str(rpms[0])], capture_output=True, text=True, check=True).stdout.split()]


def test_unknown_spec_content_is_refused():
    spec = "Name: x\nVersion: 1\nRelease: 1\nLicense: MIT\nURL: u\nSummary: s\n" \
           "BuildRequires: gcc\n"
    with pytest.raises(fast_universe.SpecError, match="BuildRequires"):
        fast_universe.parse_spec(spec)
