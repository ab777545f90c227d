"""A package set made again (the repos changed) takes the headers of the files the old
compose's package set linked, unchanged, from that compose's record, and reads the others: a
package re-signed in place (same file name, another file) must show its new key, and the
compose must be the one a compose of the same inputs without reuse makes (issue 12)."""

import json
import os
import shutil

import pytest

from tests.integration.test_reuse import EPOCH, compose, identity, make_release, timeline, tree

pytestmark = pytest.mark.integration


def _sigkeys(topdir):
    with open(os.path.join(topdir, "compose", "metadata", "rpms.json")) as fh:
        payload = json.load(fh)["payload"]["rpms"]
    keys = {}
    for variant in payload.values():
        for arch in variant.values():
            for srpm in arch.values():
                for nevra, entry in srpm.items():
                    keys[nevra] = entry["sigkey"]
    return keys


def test_a_package_re_signed_in_place_is_read_again_the_others_taken(tmp_path):
    if shutil.which("rpmsign") is None or shutil.which("gpg") is None:
        pytest.fail("rpmsign and gpg are needed; run .ci/setup")
    from pungi_like.buildsvc.seed import GpgKey, rpmsign
    from pungi_like.rpmtools import repodata

    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in")
    target = tmp_path / "composes"
    proc, cold = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    cold_id = identity(cold)[0]
    assert set(_sigkeys(cold).values()) == {None}

    # "tool" signed in place: the same file name, another file (and header)
    repo = os.path.join(tmp_path, "in", "repo")
    signed = [os.path.join(repo, n) for n in os.listdir(repo)
              if n.startswith("tool-1") and n.endswith(".x86_64.rpm")]
    assert len(signed) == 1
    key = GpgKey.create(str(tmp_path / "gnupg"))
    try:
        rpmsign(key, signed)
    finally:
        key.stop_agent()
    repodata.createrepo(repo)

    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not timeline(warm)["pkgset.global"].get("reused")
    log = open(os.path.join(warm, "logs/global/pungi.global.log")).read()
    packages = len(os.listdir(os.path.join(warm, "work/global/download")))
    assert (f"Package set: {packages - 1} headers taken from {cold_id}'s (the same files), "
            "1 read") in log
    keys = _sigkeys(warm)
    tool = [nevra for nevra in keys if nevra.startswith("tool-0:") and ".x86_64" in nevra]
    assert tool and all(keys[nevra] == key.sigkey for nevra in tool)
    assert {k for nevra, k in keys.items() if nevra not in tool} == {None}

    # the same bytes as a compose of the same inputs that took nothing over
    proc, fresh = compose(conf, tmp_path / "fresh", "--no-reuse", env=env)
    assert proc.returncode == 0, proc.stderr
    assert tree(warm) == tree(fresh)
