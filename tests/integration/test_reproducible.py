"""Reproducible by default: two composes of the same inputs, run apart with no
SOURCE_DATE_EPOCH in the environment, have byte-identical compose/ trees (repodata, .treeinfo,
ISOs, manifests), because every file time stamp comes from the inputs (the newest build time of
a repos package set; the Koji event's time for a koji one) - while the compose id keeps today's
date."""

import filecmp
import os
import time

import pytest

from pungi_like.universe.rpmbuild import SOURCE_DATE_EPOCH, Package
from tests.integration.tinycompose import make_inputs, run_compose

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repro")
    conf = make_inputs(str(tmp), [
        Package("tool", files={"/usr/bin/tool": "#!/bin/sh\n"}, requires=["tool-data"]),
        Package("tool-data", arch="noarch", files={"/usr/share/tool/data": "d\n"})],
        ["tool"], short="Repro")
    return tmp, conf


def _compose(conf, target):
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    proc, topdir = run_compose(conf, target, env=env, short="Repro")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return topdir


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
    proc, topdir = run_compose(conf, tmp / "c", env=env, short="Repro")
    assert proc.returncode == 0, proc.stderr
    treeinfo = open(os.path.join(topdir, "compose", "Server/x86_64/os/.treeinfo")).read()
    assert "timestamp = 1234567890" in treeinfo
    # the id follows an explicit epoch, as before
    assert os.path.basename(topdir).startswith("Repro-1-20090213")
