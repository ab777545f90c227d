"""Fixtures of the builder tests: demo kickstarts with %include, SRPMs with BuildRequires."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from srpmtools import add_buildrequires  # noqa: E402

REALWORLD_KICKSTARTS = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "realworld",
    "kickstarts"))

DEMO_BASE_KS = """\
lang en_US.UTF-8
repo --name=upstream --baseurl=http://example.invalid/repo
part / --size 64 --fstype ext4 --label demoroot
bootloader --location=none
%packages
kernel
busybox
%end
%post
echo "post ran in the root" > /etc/demo-post-marker
%end
"""

DEMO_LIVE_KS = """\
# a live image of the demo base system
%include parts/demo-base.ks
%packages --excludedocs
demo-base
-demo-docs*
%end
%post --nochroot
echo "nochroot saw $INSTALL_ROOT" > "$INSTALL_ROOT/etc/demo-nochroot-marker"
%end
"""


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
