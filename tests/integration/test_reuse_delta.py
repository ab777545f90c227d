"""A gather that runs again because the package set changed, and whose solve gives its old
result, takes the old unit's outputs (``pungi_like.reuse_delta``); the compose is the one a
cold run of the same inputs makes (issue 12: the one-package-changed re-run)."""

import glob
import os

import pytest

from tests.integration.test_reuse import (EPOCH, compose, identity, make_release, reused,
                                          timeline, tree, upgrade_other)

pytestmark = pytest.mark.integration


def _work_files(topdir, cid):
    """The gather's own work files (package lists, result), compose dir and id taken out."""
    out = {}
    for pattern in ("work/x86_64/package_list/*", "work/x86_64/gather_result/*"):
        for path in glob.glob(os.path.join(topdir, pattern)):
            data = open(path, "rb").read().replace(topdir.encode(), b"{top}")
            out[os.path.relpath(path, topdir)] = data.replace(cid.encode(), b"{id}")
    return out


def _cold_then_upgraded(tmp_path, extra_conf=None):
    """A cold compose, then "other" upgraded in the inputs and a second compose into the same
    target directory (time stamps fixed); both must finish. Returns (env, conf, target, cold,
    warm)."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in") if extra_conf is None else \
        make_release(tmp_path / "in", extra_conf=extra_conf)
    target = tmp_path / "composes"
    proc, cold = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    upgrade_other(str(tmp_path / "in"))
    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    return env, conf, target, cold, warm


def test_a_gather_with_its_old_result_takes_the_old_outputs(tmp_path):
    env, conf, target, cold, warm = _cold_then_upgraded(tmp_path)
    cold_id, warm_id = identity(cold)[0], identity(warm)[0]
    units = timeline(warm)
    # Server's gather ran (the package set changed) and took the cold compose's outputs;
    # Client's gather holds the upgraded package, so it made its own
    assert units["gather.Server.x86_64"]["result_from"] == cold_id
    assert not units["gather.Server.x86_64"].get("reused")
    assert "result_from" not in units["gather.Client.x86_64"]
    assert "createrepo.Server.x86_64" in reused(warm)
    log = open(os.path.join(warm, "logs/global/pungi.global.log")).read()
    assert f"[gather.Server.x86_64] same result as in {cold_id}: its outputs taken" in log
    # Server's result holds no package that changed, and none of them can enter it: its solve
    # was not made (gather_proof); Client's holds the upgraded one: solved
    assert ("[gather Server.x86_64] the package set changed in none of the packages its "
            f"solve looks at since {cold_id}: not solved") in log
    assert "[gather Client.x86_64] the package set changed in none" not in log
    packages = glob.glob(os.path.join(warm, "compose/Server/x86_64/os/Packages/**/*.rpm"),
                         recursive=True)
    assert packages
    for path in packages:
        assert os.path.samefile(path, path.replace(warm, cold))

    # the same bytes as a compose of the upgraded inputs that took nothing over
    proc, fresh = compose(conf, tmp_path / "fresh", "--no-reuse", env=env)
    assert proc.returncode == 0, proc.stderr
    fresh_id = identity(fresh)[0]
    assert tree(warm) == tree(fresh)
    assert _work_files(warm, warm_id) == _work_files(fresh, fresh_id)

    # the unit whose outputs were taken is reused by the next run like any other
    proc, again = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    assert {"gather.Server.x86_64", "gather.Client.x86_64"} <= reused(again)


def test_with_reuse_of_gather_off_nothing_is_taken(tmp_path):
    _env, _conf, _target, _cold, warm = _cold_then_upgraded(
        tmp_path, extra_conf="\ngather_allow_reuse = False\n")
    units = timeline(warm)
    assert not any(u.get("result_from") for u in units.values())
