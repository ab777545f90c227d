"""Fixtures of the builder tests: demo kickstarts with %include, SRPMs with BuildRequires."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from builder_testdata import DEMO_BASE_KS, DEMO_LIVE_KS, add_buildrequires  # noqa: E402


@pytest.fixture
def demo_kickstart(tmp_path):
    """A demo kickstart that %includes another file (in a subdirectory)."""
    (tmp_path / "ks" / "parts").mkdir(parents=True)
    (tmp_path / "ks" / "parts" / "demo-base.ks").write_text(DEMO_BASE_KS)
    top = tmp_path / "ks" / "demo-live.ks"
    top.write_text(DEMO_LIVE_KS)
    return str(top)


@pytest.fixture
def srpm_with_buildrequires(rpm_factory, tmp_path):
    """``make(name, buildrequires) -> SRPM path``: an rpm_factory package's SRPM with
    BuildRequires added."""
    from pungi_like.universe.rpmbuild import Package

    def make(name, buildrequires, arch="x86_64"):
        res = rpm_factory([Package(name, "1.0", arch=arch,
                                   files={f"/usr/bin/{name}": "#!/bin/sh\necho hi\n"})],
                          outdir=tmp_path / f"rpms-{name}")
        return add_buildrequires(res.srpms[0], buildrequires, str(tmp_path / f"br-{name}"))

    return make
