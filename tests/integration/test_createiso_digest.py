"""A DVD unit's outputs carry a digest of its images' implanted MD5s: when an image changed,
the units after it (checksums, tests) know at once that no old unit has their key
(pungi_like.reuse_differs) instead of waiting for the DVD unit's record (issue 12)."""

import json
import os

import pytest

from tests.integration.test_reuse import (EPOCH, compose, make_release, reused,
                                          upgrade_other)

pytestmark = pytest.mark.integration


def _outputs(topdir):
    units = os.path.join(topdir, "work", "global", "units")
    found = {}
    for name in os.listdir(units):
        if name.startswith("createiso.") and name.endswith(".json"):
            with open(os.path.join(units, name)) as fh:
                found[name[:-len(".json")]] = json.load(fh)["outputs"]
    return found


def test_the_dvds_outputs_name_their_images(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in")
    target = tmp_path / "composes"
    proc, cold = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    before = _outputs(cold)
    with_images = {name: out for name, out in before.items() if out.get("isos")}
    assert with_images
    for out in with_images.values():
        assert len(out["digest"]) == 32

    upgrade_other(str(tmp_path / "in"))
    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    after = _outputs(warm)
    taken = reused(warm)
    changed = [name for name in with_images if name not in taken]
    assert changed      # the upgraded package is on some image
    for name in changed:
        assert after[name]["digest"] != before[name]["digest"]
    for name in with_images:
        if name in taken:
            assert after[name]["digest"] == before[name]["digest"]
