"""Composes whose package set comes from build service tags (``pkgset_source = "koji"``).

The hub is seeded with the demo universe (every RPM signed with a throwaway key); the compose
reaches it through a koji client profile, as a compose reaches a real Koji.
"""

import json
import os
import re
import subprocess

import pytest

from kojisrc_helpers import NEWER_OLD, demo_config, rpms_json, run_compose, status

pytestmark = pytest.mark.integration

TAG = "demo-1.0-updates"


def entries(payload):
    """``{(variant, arch, srpm nevra, rpm nevra): (path, category)}`` of rpms.json."""
    out = {}
    for variant, arches in payload.items():
        for arch, srpms in arches.items():
            for srpm, rpms in srpms.items():
                for nevra, info in rpms.items():
                    out[(variant, arch, srpm, nevra)] = (info["path"], info["category"])
    return out


def sigkeys_of(payload):
    return {info["sigkey"] for arches in payload.values() for srpms in arches.values()
            for rpms in srpms.values() for info in rpms.values()}


def picked_nvrs(compose_dir):
    """N-V-R of every build the package set took (its SRPMs in the global package list)."""
    listfile = os.path.join(compose_dir, "work", "global", "package_list", f"global.{TAG}.conf")
    with open(listfile) as fh:
        return {line.strip()[:-len(".src.rpm")] for line in fh if line.strip().endswith(".src.rpm")}


def test_koji_compose_has_the_repos_compose_contents(seeded, koji_home, universe, tmp_path):
    rc, repos_dir = run_compose(demo_config(tmp_path, universe, source="repos"),
                                tmp_path / "repos")
    assert rc == 0 and status(repos_dir) == "FINISHED"
    rc, koji_dir = run_compose(demo_config(tmp_path, universe), tmp_path / "koji",
                               "--koji-event", str(seeded.event))
    assert rc == 0 and status(koji_dir) == "FINISHED"

    from_repos, from_koji = rpms_json(repos_dir), rpms_json(koji_dir)
    assert sorted(from_koji) == sorted(from_repos) == [
        "Everything", "Server", "Server-HighAvailability", "Server-optional", "Workstation"]
    for variant in from_repos:
        assert entries({variant: from_koji[variant]}) == entries({variant: from_repos[variant]}), \
            variant
    # the universe has two builds of demo-utils: the newest is in updates, the older in base
    everything = from_koji["Everything"]["x86_64"]
    assert "demo-utils-0:2.1-2.src" in everything and "demo-utils-0:2.0-1.src" not in everything
    with open(os.path.join(koji_dir, "work", "global", "koji-event")) as fh:
        assert json.load(fh)["id"] == seeded.event
    # the files were linked from the hub's top directory, not copied
    pkg = os.path.join(koji_dir, "work", "global", "download", "demo-utils-2.1-2.x86_64.rpm")
    hub_file = os.path.join(seeded.hub.topdir, "packages", "demo-utils", "2.1", "2", "x86_64",
                            "demo-utils-2.1-2.x86_64.rpm")
    assert os.path.samefile(pkg, hub_file)


def test_signed_copies_are_picked_when_every_package_is_signed(seeded, koji_home, universe,
                                                                 tmp_path):
    key = seeded.key.sigkey
    conf = demo_config(tmp_path, universe, extra=f"sigkeys = ['{key.upper()}', None]")
    rc, compose_dir = run_compose(conf, tmp_path / "c", "--koji-event", str(seeded.event))
    assert rc == 0 and status(compose_dir) == "FINISHED"
    assert sigkeys_of(rpms_json(compose_dir)) == {key}
    log = os.path.join(compose_dir, "logs", "global", f"arch_repo.{TAG}.global.log")
    picked = [line.split() for line in open(log) if re.match(r"^\S+ (\w+|unsigned) /", line)]
    assert picked and all(kind == key and f"/data/signed/{key}/" in path
                          for _nvra, kind, path in picked)
    one = os.path.join(compose_dir, "work", "global", "download", "setup-2.14.3-1.noarch.rpm")
    signed = os.path.join(seeded.hub.topdir, "packages", "setup", "2.14.3", "1", "data",
                          "signed", key, "noarch", "setup-2.14.3-1.noarch.rpm")
    assert os.path.samefile(one, signed)


def test_unsigned_package_is_refused_and_named(seeded, koji_home, universe, tmp_path,
                                              newer_build, capsys):
    key = seeded.key.sigkey
    conf = demo_config(tmp_path, universe, extra=f"sigkeys = ['{key}']")
    rc, compose_dir = run_compose(conf, tmp_path / "c")
    assert rc == 1 and status(compose_dir) == "DOOMED"
    err = capsys.readouterr().err
    message = (f"RPM(s) not found for sigs: ('{key}',). Check log for details. "
               "Unsigned packages:\n")
    assert message in err
    listed = err.split(message, 1)[1].splitlines()[:len(newer_build.nvras) + 1]
    # every unsigned N-V-R.A (the new build's SRPM and noarch RPM), and nothing else
    assert listed[:len(newer_build.nvras)] == newer_build.nvras
    assert not listed[len(newer_build.nvras):] or not re.match(r"^[\w.+-]+-[^-]+-[^-]+\.\w+$",
                                                               listed[-1])
    # pinned before the unsigned build was tagged, the same config composes
    rc, _ = run_compose(conf, tmp_path / "pinned", "--koji-event", str(newer_build.event_before))
    assert rc == 0


def test_event_pinning_ignores_builds_tagged_later(seeded, koji_home, universe, tmp_path,
                                                   newer_build):
    conf = demo_config(tmp_path, universe)
    rc, pinned = run_compose(conf, tmp_path / "pinned", "--koji-event",
                             str(newer_build.event_before))
    assert rc == 0
    rc, latest = run_compose(conf, tmp_path / "latest")
    assert rc == 0
    old = NEWER_OLD.replace("extra-figlet-", "extra-figlet-0:") + ".src"
    new = newer_build.nvr.replace("extra-figlet-", "extra-figlet-0:") + ".src"
    everything_pinned = rpms_json(pinned)["Everything"]["x86_64"]
    everything_latest = rpms_json(latest)["Everything"]["x86_64"]
    assert old in everything_pinned and new not in everything_pinned
    assert new in everything_latest and old not in everything_latest
    with open(os.path.join(latest, "work", "global", "koji-event")) as fh:
        assert json.load(fh)["id"] > newer_build.event_before
    # an old compose's directory pins a new compose to that compose's event
    rc, again = run_compose(conf, tmp_path / "again", "--koji-event", pinned)
    assert rc == 0
    assert picked_nvrs(again) == picked_nvrs(pinned)


def koji_list_tagged(hub, tag, event, inherit=True):
    args = ["list-tagged", "--latest", "--event", str(event), tag]
    if inherit:
        args.insert(2, "--inherit")
    out = hub.out(*args, noauth=True)
    lines = out.splitlines()
    assert lines[0] == f"Querying at event {event}" + lines[0][len(f"Querying at event {event}"):]
    assert lines[1].split()[:3] == ["Build", "Tag", "Built"], out
    return {line.split()[0] for line in lines[3:] if line.strip()}


@pytest.mark.parametrize("inherit", [True, False], ids=["inherit", "no-inherit"])
def test_latest_and_inheritance_match_koji_list_tagged(seeded, koji_home, universe, tmp_path,
                                                       newer_build, inherit):
    extra = "" if inherit else "pkgset_koji_inherit = False"
    conf = demo_config(tmp_path, universe, extra=extra)
    for event in (newer_build.event_before, seeded.session.getLastEvent()["id"]):
        rc, compose_dir = run_compose(conf, tmp_path / f"e{event}", "--koji-event", str(event),
                                      "--just-phase", "pkgset")
        assert rc == 0
        expected = koji_list_tagged(seeded.hub, TAG, event, inherit)
        assert picked_nvrs(compose_dir) == expected
        if inherit:
            assert "demo-utils-2.1-2" in expected and "demo-utils-2.0-1" not in expected
            assert len(expected) > 100
        else:   # only what is tagged into updates itself
            assert "demo-utils-2.1-2" in expected and "acl-tools-1.0-1" not in expected


def test_extra_builds_replace_the_tagged_build(seeded, koji_home, universe, tmp_path):
    conf = demo_config(tmp_path, universe, extra="pkgset_koji_builds = ['demo-utils-2.0-1']")
    rc, compose_dir = run_compose(conf, tmp_path / "c", "--koji-event", str(seeded.event),
                                  "--just-phase", "pkgset")
    assert rc == 0
    picked = picked_nvrs(compose_dir)
    assert "demo-utils-2.0-1" in picked and "demo-utils-2.1-2" not in picked


def test_remote_hub_files_are_downloaded_from_kojifiles(seeded, koji_home, universe, tmp_path):
    """A profile whose topdir is not on this machine: files come from the hub's /kojifiles."""
    from pungi_like.buildsvc.certs import write_koji_profile

    pki = os.path.dirname(seeded.hub.ca)
    write_koji_profile(os.path.join(koji_home, ".koji", "config.d", "remote.conf"), "remote",
                       seeded.hub.url, os.path.join(pki, "kojiadmin.pem"), seeded.hub.ca,
                       topurl=seeded.hub.url.replace("/kojihub", "/kojifiles"),
                       topdir="/nonexistent/kojidir")
    key = seeded.key.sigkey
    conf = demo_config(tmp_path, universe, extra=f"koji_profile = 'remote'\nsigkeys = ['{key}']")
    rc, compose_dir = run_compose(conf, tmp_path / "c", "--koji-event", str(seeded.event))
    assert rc == 0 and status(compose_dir) == "FINISHED"
    assert sigkeys_of(rpms_json(compose_dir)) == {key}
    one = os.path.join(compose_dir, "work", "global", "download", "setup-2.14.3-1.noarch.rpm")
    signed = os.path.join(seeded.hub.topdir, "packages", "setup", "2.14.3", "1", "data",
                          "signed", key, "noarch", "setup-2.14.3-1.noarch.rpm")
    assert not os.path.samefile(one, signed)
    assert open(one, "rb").read() == open(signed, "rb").read()
    subprocess.run(["rpm", "-K", "--nosignature", one], check=True, capture_output=True)
