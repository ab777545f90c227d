"""The test phase's repoclosure on real repos: unresolved Requires are named with the package's
NEVRA (epoch included), file and virtual provides and lookaside repos satisfy them, rpmlib()
deps and source packages are not checked."""

import os
import shutil

import pytest

from phases.test import repoclosure
from pungi_like.rpmtools import repodata
from pungi_like.universe.rpmbuild import Package

pytestmark = pytest.mark.integration


def make_repo(path, rpms):
    os.makedirs(path)
    for rpm in rpms:
        shutil.copy(rpm, path)
    repodata.createrepo(str(path))
    return str(path)


def test_repoclosure_names_what_is_missing(rpm_factory, tmp_path):
    built = rpm_factory([
        Package("needs-much", "2.0", epoch=3,
                requires=["virt-thing", "/usr/bin/helper-tool", "from-lookaside",
                          "nowhere-at-all >= 2"], files={"/usr/share/needs-much": "n\n"}),
        Package("gives-virt", "1.0", provides=["virt-thing"],
                files={"/usr/bin/helper-tool": "#!/bin/sh\n"}),
        Package("in-lookaside", "1.0", provides=["from-lookaside"],
                files={"/usr/share/in-lookaside": "l\n"}),
    ])
    by_name = {os.path.basename(p).rsplit("-", 2)[0]: p for p in built.rpms}
    repo = make_repo(tmp_path / "repo", [by_name["needs-much"], by_name["gives-virt"]]
                     + built.srpms)
    lookaside = make_repo(tmp_path / "lookaside", [by_name["in-lookaside"]])

    assert repoclosure([repo], [lookaside]) == [
        ("needs-much-3:2.0-1.x86_64", "nowhere-at-all >= 2")]
    assert repoclosure([repo]) == [("needs-much-3:2.0-1.x86_64", "from-lookaside"),
                                   ("needs-much-3:2.0-1.x86_64", "nowhere-at-all >= 2")]
    # the lookaside's own packages are not checked, nor an empty set of repos
    assert repoclosure([lookaside]) == []
