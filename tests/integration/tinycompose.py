"""A one-variant compose of a few real RPMs, for tests of the driver's behaviour (repos package
set, no build service, no bootable media): seconds per compose."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DRIVER = [sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji")]

COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group><id>core</id><name>Core</name><default>true</default><uservisible>true</uservisible>
    <packagelist>%s</packagelist></group>
</comps>
"""
VARIANTS = """<?xml version="1.0" encoding="UTF-8"?>
<variants>
  <variant id="Server" name="Server" type="variant">
    <arches><arch>x86_64</arch></arches>
    <groups><group default="true">core</group></groups>
  </variant>
</variants>
"""
CONFIG = """
release_name = "Tiny Linux"
release_short = "%(short)s"
release_version = "1"
release_type = "ga"
variants_file = %(variants)r
comps_file = %(comps)r
pkgset_source = "repos"
pkgset_repos = {"x86_64": [%(repo)r]}
sigkeys = [None]
gather_method = "deps"
"""


def make_inputs(tmp, packages, comps_names, short="Tiny"):
    """Build ``packages`` (rpmbuild Package objects) into ``tmp/repo`` with repodata, and write
    the comps, variants and release.conf; returns the config path."""
    from pungi_like.rpmtools import repodata
    from pungi_like.universe.rpmbuild import build_packages

    repo = os.path.join(tmp, "repo")
    build_packages(packages, repo, workdir=os.path.join(tmp, "rpmbuild"))
    repodata.createrepo(repo)
    reqs = "".join('<packagereq type="mandatory">%s</packagereq>' % n for n in comps_names)
    with open(os.path.join(tmp, "comps.xml"), "w") as fh:
        fh.write(COMPS % reqs)
    with open(os.path.join(tmp, "variants.xml"), "w") as fh:
        fh.write(VARIANTS)
    conf = os.path.join(tmp, "release.conf")
    with open(conf, "w") as fh:
        fh.write(CONFIG % {"short": short, "variants": os.path.join(tmp, "variants.xml"),
                           "comps": os.path.join(tmp, "comps.xml"), "repo": repo})
    return conf


def driver_cmd(conf, target, *extra):
    return DRIVER + ["--config", str(conf), "--target-dir", str(target), "--nightly",
                     "--no-latest-link", "--quiet", *extra]


def compose_dirs(target, short="Tiny"):
    return sorted(os.path.join(target, d) for d in os.listdir(target)
                  if d.startswith(short + "-") and not os.path.islink(os.path.join(target, d)))


def run_compose(conf, target, env=None, short="Tiny"):
    """Run a compose to its end; returns (completed process, compose directory)."""
    proc = subprocess.run(driver_cmd(conf, target), capture_output=True, text=True, env=env)
    dirs = compose_dirs(target, short)
    return proc, dirs[-1] if dirs else None
