"""A nightly whose changed package changed its dependencies: the re-run's solve must give the
new closure (not the old result, however fast), and the compose must be the one a compose of
the same inputs without reuse makes (issue 12: the one-package-changed re-run)."""

import glob
import json
import os

import pytest

from pungi_like.universe.rpmbuild import Package, build_packages
from tests.integration.test_reuse import (EPOCH, compose, identity, make_release, timeline,
                                          tree)

pytestmark = pytest.mark.integration


def _packages(topdir, variant):
    return sorted(os.path.basename(p) for p in glob.glob(
        os.path.join(topdir, "compose", variant, "x86_64", "os", "Packages", "**", "*.rpm"),
        recursive=True))


def _upgrade_other_with_a_new_dependency(tmp):
    """``other`` 2.0 requires ``tool-data`` (until now only Server's, by ``tool``)."""
    from pungi_like.rpmtools import repodata

    repo = os.path.join(tmp, "repo")
    for name in os.listdir(repo):
        if name.startswith("other-1.0-"):
            os.unlink(os.path.join(repo, name))
    build_packages([Package("other", version="2.0", requires=["tool-data"],
                            files={"/usr/bin/other": "#!/bin/sh\n# 2.0\n"})],
                   repo, workdir=os.path.join(tmp, "rpmbuild2"))
    repodata.createrepo(repo)


def test_a_changed_package_with_a_new_dependency_is_solved_again(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in")
    target = tmp_path / "composes"
    proc, cold = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not any(n.startswith("tool-data") for n in _packages(cold, "Client"))

    _upgrade_other_with_a_new_dependency(str(tmp_path / "in"))
    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    units = timeline(warm)
    # the package set and Client's gather ran; Server's gather solved to its old result
    for name in ("pkgset.global", "pkgset.x86_64", "gather.Client.x86_64"):
        assert not units[name].get("reused"), name
    assert "result_from" not in units["gather.Client.x86_64"]
    assert units["gather.Server.x86_64"].get("result_from") == identity(cold)[0]
    client = _packages(warm, "Client")
    assert any(n.startswith("other-2.0-") for n in client)
    assert any(n.startswith("tool-data-") for n in client), client
    with open(os.path.join(warm, "compose", "metadata", "rpms.json")) as fh:
        rpms = json.load(fh)["payload"]["rpms"]["Client"]["x86_64"]
    assert any(nevra.startswith("tool-data-") for srpm in rpms.values() for nevra in srpm)

    # the same bytes as a compose of the changed inputs that took nothing over
    proc, fresh = compose(conf, tmp_path / "fresh", "--no-reuse", env=env)
    assert proc.returncode == 0, proc.stderr
    assert tree(warm) == tree(fresh)
    assert _packages(fresh, "Client") == client
