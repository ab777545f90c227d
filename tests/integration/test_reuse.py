"""Reuse of old composes and resume of killed ones, on real small composes (issue 12).

Two variants share one package set: Server carries ``tool`` (and ``tool-data`` by its
dependency), Client carries ``other``. A re-run with nothing changed takes every unit from the
first compose; after ``other`` is upgraded only the units that see it run again; Pungi's
``*_allow_reuse`` options and ``--no-reuse`` turn it off; a compose killed with SIGKILL when a
phase's first unit starts and then resumed is byte-identical to one never interrupted.
"""

import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest

from pungi_like import reuse
from pungi_like.universe.rpmbuild import Package, build_packages
from tests.integration.tinycompose import compose_dirs, driver_cmd, make_inputs

pytestmark = pytest.mark.integration

VARIANTS = """<?xml version="1.0" encoding="UTF-8"?>
<variants>
  <variant id="Server" name="Server" type="variant">
    <arches><arch>x86_64</arch></arches>
    <groups><group default="true">core</group></groups>
  </variant>
  <variant id="Client" name="Client" type="variant">
    <arches><arch>x86_64</arch></arches>
    <groups><group default="true">extra</group></groups>
  </variant>
</variants>
"""
COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group><id>core</id><name>Core</name><default>true</default><uservisible>true</uservisible>
    <packagelist><packagereq type="mandatory">tool</packagereq></packagelist></group>
  <group><id>extra</id><name>Extra</name><default>true</default><uservisible>true</uservisible>
    <packagelist><packagereq type="mandatory">other</packagereq></packagelist></group>
</comps>
"""
REUSE_ALL = "\ngather_allow_reuse = True\nbuildinstall_allow_reuse = True\n"
EPOCH = "1700000000"


def _other(version):
    return Package("other", version=version,
                   files={"/usr/bin/other": f"#!/bin/sh\n# {version}\n"})


def make_release(tmp, extra_conf=REUSE_ALL):
    conf = make_inputs(str(tmp), [
        Package("tool", files={"/usr/bin/tool": "#!/bin/sh\n"}, requires=["tool-data"]),
        Package("tool-data", arch="noarch", files={"/usr/share/tool/data": "d\n"}),
        _other("1.0")], ["tool"])
    with open(os.path.join(tmp, "variants.xml"), "w") as fh:
        fh.write(VARIANTS)
    with open(os.path.join(tmp, "comps.xml"), "w") as fh:
        fh.write(COMPS)
    with open(conf, "a") as fh:
        fh.write(extra_conf)
    return conf


def upgrade_other(tmp):
    from pungi_like.rpmtools import repodata

    repo = os.path.join(tmp, "repo")
    for name in os.listdir(repo):
        if name.startswith("other-1.0-"):
            os.unlink(os.path.join(repo, name))
    build_packages([_other("2.0")], repo, workdir=os.path.join(tmp, "rpmbuild2"))
    repodata.createrepo(repo)


def compose(conf, target, *extra, env=None):
    env = dict(os.environ if env is None else env)
    before = set(compose_dirs(target)) if os.path.isdir(target) else set()
    proc = subprocess.run(driver_cmd(conf, target, *extra), capture_output=True, text=True,
                          env=env)
    new = [d for d in compose_dirs(target) if d not in before]
    return proc, (new[-1] if new else None)


def timeline(topdir):
    with open(os.path.join(topdir, "logs", "global", "timeline.json")) as fh:
        return {u["unit"]: u for u in json.load(fh)["units"]}


def reused(topdir):
    return {name for name, u in timeline(topdir).items() if u.get("reused")}


#: units that always run: the manifests name the compose, and the checks of them follow
ALWAYS_RUN = {"metadata.write", "test.images", "test.manifests"}


def identity(topdir):
    with open(os.path.join(topdir, "work", "global", "composeinfo-base.json")) as fh:
        info = json.load(fh)
    return info["id"], info["respin"]


def tree(topdir):
    """compose/ with the compose's id (and respin in the manifests) taken out of names and
    bytes: each file's path and the SHA-256 of its bytes so changed, so that a failed
    comparison names the files that differ instead of printing their bytes."""
    cid, respin = identity(topdir)
    out = {}
    for base, _dirs, files in os.walk(os.path.join(topdir, "compose")):
        for name in sorted(files):
            path = os.path.join(base, name)
            with open(path, "rb") as fh:
                data = fh.read().replace(cid.encode(), b"{id}")
            data = data.replace(b'"respin": %d' % respin, b'"respin": N')
            out[os.path.relpath(path, topdir).replace(cid, "{id}")] = \
                hashlib.sha256(data).hexdigest()
    return out


def work_files(topdir):
    """The files under work/, relative to the compose and with its id taken out of the names,
    apart from the reuse records."""
    cid = identity(topdir)[0]
    found = set()
    for base, _dirs, files in os.walk(os.path.join(topdir, "work")):
        for name in files:
            rel = os.path.relpath(os.path.join(base, name), topdir)
            if not rel.startswith("work/global/units/"):
                # a rewritten primary (its xml:base names the compose) has another digest
                found.add(re.sub(r"/[0-9a-f]{64}-", "/{digest}-", rel.replace(cid, "{id}")))
    return found


def files_at(topdir):
    """``{unit: (top directory, compose id)}`` of the units whose records name the compose
    holding their files (taken without them)."""
    found = {}
    units = os.path.join(topdir, "work", "global", "units")
    for name in os.listdir(units):
        with open(os.path.join(units, name)) as fh:
            record = json.load(fh)
        if record.get("files_at"):
            found[record["unit"]] = tuple(record["files_at"])
    return found


def unit_work_files(topdir, units):
    """The work/ files the records of ``units`` in ``topdir`` hold, as ``work_files`` names
    them."""
    found = set()
    for unit in units:
        with open(os.path.join(topdir, "work", "global", "reuse", unit + ".json")) as fh:
            for rel in reuse.parse_data(fh.read())["files"]:
                found.add(re.sub(r"/[0-9a-f]{64}-", "/{digest}-",
                                 rel.replace("{compose_id}", "{id}")))
    return found


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reuse")
    return tmp, make_release(tmp)


def test_a_rerun_with_nothing_changed_reuses_every_unit(release, tmp_path):
    tmp, conf = release
    target = tmp_path / "composes"
    proc, cold = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert reused(cold) == set()
    proc, warm = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    units = timeline(warm)
    assert set(units) - ALWAYS_RUN == reused(warm)
    assert len(reused(warm)) >= 15
    cold_id = identity(cold)[0]
    assert {units[u]["reused_from"] for u in reused(warm)} == {cold_id}
    # the same compose/ apart from the compose id, every reused file a hard link of the old one
    assert tree(cold) == tree(warm)
    # work/: the units whose files are all there (the package set, the comps) were taken
    # without them, their records naming the compose that holds them; every other work/ file
    # of the cold compose is here
    at = files_at(warm)
    assert {"pkgset.global", "pkgset.x86_64", "init.x86_64"} <= set(at)
    assert set(at.values()) == {(cold, cold_id)}
    assert work_files(cold) - work_files(warm) == unit_work_files(cold, at)
    assert not os.path.exists(os.path.join(warm, "work/global/download"))
    iso = "compose/Server/x86_64/iso/%s-Server-x86_64-dvd1.iso"
    old_iso = os.path.join(cold, iso % cold_id)
    new_iso = os.path.join(warm, iso % identity(warm)[0])
    assert os.path.samefile(old_iso, new_iso)
    log = open(os.path.join(warm, "logs/global/pungi.global.log")).read()
    assert f"[createiso.Server.x86_64] reused from {cold_id}" in log
    # rpms.json's packages copied from the cold compose's (its gathers taken): the same bytes
    # as written from the entries (tree() above)
    assert "[metadata.write] rpms.json's packages copied from %s (" % os.path.join(
        cold, "compose", "metadata", "rpms.json") in log
    # the old compose may go: the new one is self-contained
    shutil.rmtree(cold)
    proc = subprocess.run(["rpm", "-qp", "--qf", "%{NAME}", os.path.join(
        warm, "compose/Client/x86_64/os/Packages/other-1.0-1.x86_64.rpm")],
        capture_output=True, text=True)
    assert proc.stdout == "other"
    # the compose diff against the previous compose of the release is in logs/global
    assert os.path.exists(os.path.join(warm, "logs/global/compose-diff.txt"))


def test_a_unit_that_runs_places_the_work_files_taken_without_them(tmp_path):
    # a no-op re-run takes the package set without its files; then a gather option changes:
    # the gathers run, and the package set's files are placed in that compose before they
    # start (they read its download directory and repo)
    conf = make_release(tmp_path / "in")
    target = tmp_path / "composes"
    proc, cold = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    proc, warm = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert "pkgset.global" in files_at(warm)
    with open(conf, "a") as fh:
        fh.write('\nmultilib_blacklist = {"x86_64": ["no-such-package"]}\n')
    proc, third = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    ran = set(timeline(third)) - reused(third)
    assert {"gather.Server.x86_64", "gather.Client.x86_64"} <= ran
    assert {"pkgset.global", "pkgset.x86_64", "init.x86_64"} <= reused(third)
    assert timeline(third)["pkgset.global"]["reused_from"] == identity(warm)[0]
    assert files_at(third) == {}
    assert work_files(cold) - work_files(third) == set()
    assert any(p.startswith("work/global/repo/") for p in work_files(third))
    assert tree(cold) == tree(third)
    # the composes before it may go: the next re-run takes every unit from this one
    shutil.rmtree(cold)
    shutil.rmtree(warm)
    proc, fourth = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert set(timeline(fourth)) - ALWAYS_RUN == reused(fourth)
    assert set(files_at(fourth).values()) == {(third, identity(third)[0])}
    assert tree(third) == tree(fourth)


def test_one_changed_package_reruns_exactly_the_units_that_see_it(tmp_path):
    # with the time stamps fixed: by default they come from the newest build of the package
    # set, which the upgrade changes, and then every tree's repodata changes with them
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    conf = make_release(tmp_path / "in")
    target = tmp_path / "composes"
    proc, cold = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    upgrade_other(str(tmp_path / "in"))
    proc, warm = compose(conf, target, env=env)
    assert proc.returncode == 0, proc.stderr
    ran = set(timeline(warm)) - reused(warm)
    # the package set and both gathers read the package set; only Client's trees and images
    # hold "other"
    assert ran == ALWAYS_RUN | {
        "pkgset.global", "pkgset.x86_64", "gather.Server.x86_64", "gather.Client.x86_64",
        "createrepo.Client.x86_64", "createrepo.Client.src", "createiso.Client.x86_64",
        "createiso.Client.src", "imagechecksum.Client.x86_64",
        "test.repoclosure.Client.x86_64"}, sorted(ran)
    assert "createiso.Server.x86_64" in reused(warm)
    assert os.path.exists(os.path.join(
        warm, "compose/Client/x86_64/os/Packages/other-2.0-1.x86_64.rpm"))
    assert not os.path.exists(os.path.join(
        warm, "compose/Client/x86_64/os/Packages/other-1.0-1.x86_64.rpm"))
    diff = open(os.path.join(warm, "logs/global/compose-diff.txt")).read()
    assert "other" in diff and "2.0" in diff
    # gathers ran: rpms.json written from the entries, not copied
    assert "rpms.json's packages copied" not in open(
        os.path.join(warm, "logs/global/pungi.global.log")).read()


def test_allow_reuse_false_and_no_reuse_turn_it_off(tmp_path):
    conf = make_release(tmp_path / "in", extra_conf="\ngather_allow_reuse = False\n")
    target = tmp_path / "composes"
    proc, cold = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    proc, warm = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    done = reused(warm)
    assert "gather.Server.x86_64" not in done and "gather.Client.x86_64" not in done
    # what follows gather is the same, so it is still taken over
    assert {"pkgset.global", "createrepo.Server.x86_64", "createiso.Client.x86_64"} <= done
    log = open(os.path.join(warm, "logs/global/pungi.global.log")).read()
    assert re.search(r"Reuse: off for [a-z_, ]*\bgather\b[a-z_, ]*\(\*_allow_reuse = False\)", log)
    proc, none = compose(conf, target, "--no-reuse")
    assert proc.returncode == 0, proc.stderr
    assert reused(none) == set()


def test_old_composes_option_and_a_bad_one(release, tmp_path):
    tmp, conf = release
    proc, old = compose(conf, tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    proc, new = compose(conf, tmp_path / "here", "--old-composes", str(tmp_path / "elsewhere"))
    assert proc.returncode == 0, proc.stderr
    assert "createiso.Client.x86_64" in reused(new)
    proc, _ = compose(conf, tmp_path / "here2", "--old-composes", str(tmp_path / "nowhere"))
    assert proc.returncode != 0
    assert "--old-composes" in proc.stderr and "nowhere" in proc.stderr


PHASES = ["init", "pkgset", "gather", "createrepo", "createiso", "imagechecksum", "metadata",
          "test"]


@pytest.fixture(scope="module")
def uninterrupted(release, tmp_path_factory):
    tmp, conf = release
    target = tmp_path_factory.mktemp("whole")
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    proc, topdir = compose(conf, target, "--no-reuse", env=env)
    assert proc.returncode == 0, proc.stderr
    return topdir


@pytest.mark.parametrize("phase", PHASES)
def test_a_killed_compose_resumed_equals_an_uninterrupted_one(release, uninterrupted, phase,
                                                              tmp_path):
    tmp, conf = release
    target = tmp_path / "composes"
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH, PUNGI_LIKE_KILL_AT_UNIT=f"{phase}.*")
    proc, killed = compose(conf, target, "--no-reuse", env=env)
    assert proc.returncode == -9, (proc.returncode, proc.stderr)
    assert open(os.path.join(killed, "STATUS")).read().strip() == "STARTED"
    units_dir = os.path.join(killed, "work", "global", "units")
    # a record the kill cut short is a hidden temporary file, never a finished unit's
    finished = {name[:-len(".json")] for name in (
        os.listdir(units_dir) if os.path.isdir(units_dir) else [])
        if name.endswith(".json") and not name.startswith(".")}
    assert phase == "init" or finished
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    proc = subprocess.run(driver_cmd(conf, target)[:2] + ["--resume", killed, "--quiet"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert open(os.path.join(killed, "STATUS")).read().strip() == "FINISHED"
    # every unit that had finished before the kill is kept, not run again
    assert finished - ALWAYS_RUN <= reused(killed), sorted(finished - reused(killed))
    assert {u["reused_from"] for u in timeline(killed).values() if u.get("reused")} <= {
        os.path.basename(killed)}
    # byte for byte what an uninterrupted compose made
    whole = tree(uninterrupted)
    assert os.path.basename(killed) == os.path.basename(uninterrupted)
    assert sorted(tree(killed)) == sorted(whole)
    top = os.path.join(uninterrupted, "compose")
    files = sorted(os.path.relpath(os.path.join(base, name), top)
                   for base, _dirs, names in os.walk(top) for name in names)
    assert len(files) == len(whole) > 40
    _, mismatch, errors = filecmp.cmpfiles(os.path.join(uninterrupted, "compose"),
                                           os.path.join(killed, "compose"), files, shallow=False)
    assert mismatch == [] and errors == []


def test_resume_of_a_finished_compose_is_a_no_op(release, uninterrupted):
    tmp, conf = release
    status = os.path.join(uninterrupted, "STATUS")
    mtime = os.stat(status).st_mtime_ns
    proc = subprocess.run(driver_cmd(conf, "x")[:2] + ["--resume", uninterrupted],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "is FINISHED already: nothing to resume" in proc.stdout
    assert os.stat(status).st_mtime_ns == mtime


def test_an_old_file_that_changed_is_not_reused(release, tmp_path):
    tmp, conf = release
    target = tmp_path / "composes"
    proc, cold = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    cid = identity(cold)[0]
    # same size, same modification time, other bytes: only a full read sees it
    rpm = os.path.join(cold, "compose/Client/x86_64/os/Packages/other-1.0-1.x86_64.rpm")
    st = os.stat(rpm)
    data = bytearray(open(rpm, "rb").read())
    data[-1] ^= 0xFF
    os.unlink(rpm)   # a new inode, as an editor would leave
    with open(rpm, "wb") as fh:
        fh.write(data)
    os.utime(rpm, ns=(st.st_atime_ns, st.st_mtime_ns))
    proc, warm = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert "gather.Client.x86_64" not in reused(warm)
    log = open(os.path.join(warm, "logs/global/pungi.global.log")).read()
    assert (f"[gather.Client.x86_64] not reused from {cid}: compose/Client/x86_64/os/Packages/"
            "other-1.0-1.x86_64.rpm of " in log)
    fresh = os.path.join(warm, "compose/Client/x86_64/os/Packages/other-1.0-1.x86_64.rpm")
    assert open(fresh, "rb").read() != bytes(data)
    assert "gather.Server.x86_64" in reused(warm)


def test_a_compose_whose_driver_still_runs_is_not_resumed(release, uninterrupted, tmp_path):
    from pungi_like import stale

    tmp, conf = release
    busy = str(tmp_path / os.path.basename(uninterrupted))
    shutil.copytree(uninterrupted, busy, symlinks=True)
    with open(os.path.join(busy, "STATUS"), "w") as fh:
        fh.write("STARTED\n")
    stale.record_driver(busy)   # this test's own process: alive
    proc = subprocess.run(driver_cmd(conf, "x")[:2] + ["--resume", busy],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"(pid {os.getpid()}) is still running" in proc.stderr
    assert open(os.path.join(busy, "STATUS")).read().strip() == "STARTED"
