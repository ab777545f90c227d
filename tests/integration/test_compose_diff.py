"""pungi-like-compose-diff on two real composes of tiny real RPM repos.

The second package set upgrades one package (with a new changelog entry), drops one and adds one;
the diff must name each, with the new changelog entry and not the old one.
"""

import json
import os
import subprocess
import sys

import pytest

from pungi_like.universe.rpmbuild import Package, Subpackage

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIFF = [sys.executable, os.path.join(ROOT, "bin", "pungi-like-compose-diff")]

COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group><id>core</id><name>Core</name><description>Core</description>
    <default>true</default><uservisible>true</uservisible>
    <packagelist>
      <packagereq type="mandatory">tool</packagereq>
      <packagereq type="mandatory">tool-doc</packagereq>
      <packagereq type="mandatory">oldie</packagereq>
      <packagereq type="mandatory">newcomer</packagereq>
      <packagereq type="mandatory">steady</packagereq>
    </packagelist>
  </group>
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
release_name = "Diff Linux"
release_short = "Diff"
release_version = "1"
release_type = "ga"
variants_file = %(variants)r
comps_file = %(comps)r
pkgset_source = "repos"
pkgset_repos = {"x86_64": [%(repo)r]}
sigkeys = [None]
gather_method = "deps"
createrepo_checksum = "sha256"
"""

OLD_ENTRY = ("Tue Nov 14 2023", "Ann Packager <ann@example.com> - 1.0-1", "First release.")
NEW_ENTRY = ("Thu Nov 16 2023", "Bob Packager <bob@example.com> - 1.1-1",
             "Fix the frobnicator (CVE-2023-0001).")


def _packages(new):
    tool_version = "1.1" if new else "1.0"
    log = [NEW_ENTRY, OLD_ENTRY] if new else [OLD_ENTRY]
    pkgs = [
        Package("tool", version=tool_version, files={"/usr/bin/tool": "#!/bin/sh\n"},
                changelog=log,
                subpackages=[Subpackage("tool-doc", arch="noarch",
                                        files={"/usr/share/doc/tool/README": "r\n"})]),
        Package("steady", arch="noarch", files={"/usr/share/steady/data": "s\n"}),
    ]
    pkgs.append(Package("newcomer", files={"/usr/bin/newcomer": "#!/bin/sh\n"}) if new else
                Package("oldie", files={"/usr/bin/oldie": "#!/bin/sh\n"}))
    return pkgs


def _compose(tmp_path, build, name, new):
    from pungi_like.rpmtools import repodata

    repo = tmp_path / name / "repo"
    build(_packages(new), repo)
    repodata.createrepo(str(repo))
    conf_dir = tmp_path / name / "conf"
    conf_dir.mkdir()
    (conf_dir / "comps.xml").write_text(COMPS)
    (conf_dir / "variants.xml").write_text(VARIANTS)
    (conf_dir / "release.conf").write_text(CONFIG % {
        "variants": str(conf_dir / "variants.xml"), "comps": str(conf_dir / "comps.xml"),
        "repo": str(repo)})
    target = tmp_path / name / "composes"
    target.mkdir()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji"),
                           "--config", str(conf_dir / "release.conf"), "--target-dir", str(target),
                           "--nightly", "--no-latest-link", "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = [d for d in os.listdir(target) if d.startswith("Diff-")
             and not os.path.islink(os.path.join(target, d))]
    assert len(found) == 1, found
    return os.path.join(target, found[0])


@pytest.fixture(scope="module")
def two_composes(tmp_path_factory):
    from pungi_like.universe.rpmbuild import build_packages

    tmp = tmp_path_factory.mktemp("composediff")

    def factory(packages, outdir):
        return build_packages(packages, outdir, workdir=tmp / "rpmbuild-work")

    return _compose(tmp, factory, "old", False), _compose(tmp, factory, "new", True)


def test_text_diff_names_upgrade_removal_addition_and_new_changelog(two_composes):
    old, new = two_composes
    proc = subprocess.run(DIFF + [old, new], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "== Server.x86_64 ==" in out
    assert "upgraded:   tool.x86_64 1.0-1 -> 1.1-1" in out
    assert "upgraded:   tool.src 1.0-1 -> 1.1-1 [source]" in out
    assert "upgraded:   tool-doc.noarch 1.0-1 -> 1.1-1" in out
    assert "removed:    oldie-0:1.0-1.x86_64" in out
    assert "added:      newcomer-0:1.0-1.x86_64" in out
    assert "steady" not in out  # unchanged packages are not listed
    changelog = out.split("== Changelogs ==", 1)[1]
    assert "tool 1.0-1 -> 1.1-1" in changelog
    assert "Bob Packager <bob@example.com> - 1.1-1" in changelog
    assert "Fix the frobnicator (CVE-2023-0001)." in changelog
    assert "First release." not in changelog  # already in the old compose
    # the DVD holds other packages: same name pattern, other bytes
    assert "changed: Server/x86_64/iso/{compose_id}-Server-x86_64-dvd1.iso" in out


def test_json_diff_and_exit_code(two_composes):
    old, new = two_composes
    proc = subprocess.run(DIFF + ["--json", "--exit-code", old, new], capture_output=True,
                          text=True)
    assert proc.returncode == 1, proc.stderr  # they differ
    diff = json.loads(proc.stdout)
    ch = diff["packages"]["Server"]["x86_64"]
    assert {u["name"] for u in ch["upgraded"]} == {"tool", "tool-doc"}
    assert [r["nevra"] for r in ch["removed"] if r["category"] == "binary"] == \
        ["oldie-0:1.0-1.x86_64"]
    assert diff["changelogs"]["tool"]["entries"][0]["text"] == "- " + NEW_ENTRY[2]
    assert len(diff["changelogs"]["tool"]["entries"]) == 1
    # the same compose against itself: nothing, and --exit-code says so
    same = subprocess.run(DIFF + ["--exit-code", new, new], capture_output=True, text=True)
    assert same.returncode == 0
    assert "no changes in packages or images" in same.stdout


def test_downgrade_is_reported_the_other_way(two_composes):
    old, new = two_composes
    proc = subprocess.run(DIFF + ["--no-changelog", new, old], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "downgraded: tool.x86_64 1.1-1 -> 1.0-1" in proc.stdout
    assert "== Changelogs ==" not in proc.stdout


def test_not_a_compose_is_a_clear_error(tmp_path, two_composes):
    proc = subprocess.run(DIFF + [str(tmp_path), two_composes[1]], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "not a finished compose (no compose/metadata/rpms.json)" in proc.stderr
    assert "Traceback" not in proc.stderr
