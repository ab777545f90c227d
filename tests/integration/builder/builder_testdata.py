"""Test data of the builder tests: the demo kickstarts, the real-world kickstart collection's
location, and an SRPM made by ``rpm_factory`` given extra BuildRequires.

The factory builds with an empty private rpm database, so it cannot make packages that declare
BuildRequires; we unpack its SRPM, add the lines to the spec and rebuild the SRPM alone with
``rpmbuild -bs --nodeps`` (an SRPM build never needs its BuildRequires installed).
"""

import glob
import os
import subprocess

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


def add_buildrequires(srpm, buildrequires, outdir):
    work = os.path.join(outdir, "unpack-" + os.path.basename(srpm))
    os.makedirs(work, exist_ok=True)
    subprocess.run(f"rpm2cpio {srpm} | cpio -idm --quiet", shell=True, cwd=work, check=True)
    spec = glob.glob(os.path.join(work, "*.spec"))[0]
    with open(spec, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("%description"))
    lines[at:at] = [f"BuildRequires: {br}" for br in buildrequires]
    with open(spec, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    out = os.path.join(outdir, "srpms")
    subprocess.run(["rpmbuild", "-bs", "--nodeps", "--quiet", "--define", f"_sourcedir {work}",
                    "--define", f"_srcrpmdir {out}", "--define", f"_topdir {work}/top",
                    "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
                    spec], check=True, capture_output=True)
    return glob.glob(os.path.join(out, os.path.basename(srpm).rsplit("-", 2)[0] + "-*.src.rpm"))[0]
