"""Reproducible by default: two composes of the same inputs, run apart with no
SOURCE_DATE_EPOCH in the environment, have byte-identical compose/ trees (repodata, .treeinfo,
ISOs, manifests), because every file time stamp comes from the inputs (the newest build time of
a repos package set; the Koji event's time for a koji one) - while the compose id keeps today's
date."""

import filecmp
import os
import subprocess
import sys
import time

import pytest

from pungi_like.universe.rpmbuild import SOURCE_DATE_EPOCH, Package, build_packages

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group><id>core</id><name>Core</name><default>true</default><uservisible>true</uservisible>
    <packagelist><packagereq type="mandatory">tool</packagereq></packagelist></group>
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
release_name = "Repro Linux"
release_short = "Repro"
release_version = "1"
release_type = "ga"
variants_file = %(variants)r
comps_file = %(comps)r
pkgset_source = "repos"
pkgset_repos = {"x86_64": [%(repo)r]}
sigkeys = [None]
gather_method = "deps"
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from pungi_like.rpmtools import repodata

    tmp = tmp_path_factory.mktemp("repro")
    repo = tmp / "repo"
    build_packages([Package("tool", files={"/usr/bin/tool": "#!/bin/sh\n"},
                            requires=["tool-data"],
                            subpackages=[]),
                    Package("tool-data", arch="noarch",
                            files={"/usr/share/tool/data": "d\n"})],
                   repo, workdir=tmp / "rpmbuild")
    repodata.createrepo(str(repo))
    (tmp / "comps.xml").write_text(COMPS)
    (tmp / "variants.xml").write_text(VARIANTS)
    conf = tmp / "release.conf"
    conf.write_text(CONFIG % {"variants": str(tmp / "variants.xml"),
                              "comps": str(tmp / "comps.xml"), "repo": str(repo)})
    return tmp, conf


def _compose(conf, target):
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji"),
                           "--config", str(conf), "--target-dir", str(target), "--nightly",
                           "--no-latest-link", "--quiet"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (name,) = [d for d in os.listdir(target) if d.startswith("Repro-")
               and not os.path.islink(os.path.join(target, d))]
    return os.path.join(target, name)


def _files(top):
    out = []
    for d, _, files in os.walk(top):
        out += [os.path.relpath(os.path.join(d, f), top) for f in files]
    return sorted(out)


def test_two_composes_of_the_same_inputs_are_byte_identical(inputs):
    tmp, conf = inputs
    first = _compose(conf, tmp / "a")
    time.sleep(1.1)  # a later second: a time stamp taken from the clock would differ
    second = _compose(conf, tmp / "b")
    assert os.path.basename(first) == os.path.basename(second)
    # the compose's identity keeps the real date, not the inputs' (2023)
    assert time.strftime("%Y%m%d") in os.path.basename(first) or \
        time.strftime("%Y%m%d", time.gmtime()) in os.path.basename(first)
    files_a = _files(os.path.join(first, "compose"))
    files_b = _files(os.path.join(second, "compose"))
    assert files_a == files_b
    assert any(f.endswith(".iso") for f in files_a) and "Server/x86_64/os/.treeinfo" in files_a
    _, mismatch, errors = filecmp.cmpfiles(os.path.join(first, "compose"),
                                           os.path.join(second, "compose"), files_a,
                                           shallow=False)
    assert mismatch == [] and errors == []
    # the time stamp is the newest build time of the package set
    treeinfo = open(os.path.join(first, "compose", "Server/x86_64/os/.treeinfo")).read()
    assert "timestamp = %d" % SOURCE_DATE_EPOCH in treeinfo
    log = open(os.path.join(first, "logs", "global", "pungi.global.log")).read()
    assert "SOURCE_DATE_EPOCH=%d (the newest build time in the package set" % SOURCE_DATE_EPOCH \
        in log


def test_an_explicit_source_date_epoch_wins(inputs):
    tmp, conf = inputs
    env = dict(os.environ, SOURCE_DATE_EPOCH="1234567890")
    target = tmp / "c"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji"),
                           "--config", str(conf), "--target-dir", str(target), "--nightly",
                           "--no-latest-link", "--quiet"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    (name,) = [d for d in os.listdir(target) if d.startswith("Repro-")]
    treeinfo = open(os.path.join(target, name, "compose", "Server/x86_64/os/.treeinfo")).read()
    assert "timestamp = 1234567890" in treeinfo
    assert name.startswith("Repro-1-20090213")  # the id follows an explicit epoch, as before
