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
from tests.integration.tinycompose import make_inputs, run_compose

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIFF = [sys.executable, os.path.join(ROOT, "bin", "pungi-like-compose-diff")]

COMPS_NAMES = ["tool", "tool-doc", "oldie", "newcomer", "steady"]

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


@pytest.fixture(scope="module")
def two_composes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("composediff")
    composes = []
    for name, new in (("old", False), ("new", True)):
        os.makedirs(tmp / name)
        conf = make_inputs(str(tmp / name), _packages(new), COMPS_NAMES, short="Diff")
        proc, topdir = run_compose(conf, tmp / name / "composes", short="Diff")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        composes.append(topdir)
    return tuple(composes)


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
