"""The testbed workflow of Koji's users, done with the real koji CLI against a hub of our own.

A release chain of tags (release <- updates <- updates-candidate, testing, a build tag with an
override tag), a target, build groups, external repos, package lists with owners; then the
listing commands must print what Koji prints for the same data.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def _rows(text):
    """Table rows without header/separator lines, whitespace-normalised."""
    return [" ".join(line.split()) for line in text.splitlines()
            if line.strip() and not set(line.strip()) <= set("- ")
            and not line.startswith("Querying at event")][1:]


def setup_release_chain(hub):
    k = hub.koji
    k("add-user", "alice")
    k("add-tag", "f40", "--arches", "x86_64 aarch64")
    k("add-tag", "f40-updates", "--parent", "f40")
    k("add-tag", "f40-updates-candidate", "--parent", "f40-updates")
    k("add-tag", "f40-updates-testing", "--parent", "f40-updates")
    k("add-tag", "f40-override")
    k("add-tag", "f40-build", "--arches", "x86_64")
    k("add-tag-inheritance", "f40-build", "f40-override", "--priority", "0")
    k("add-tag-inheritance", "f40-build", "f40-updates", "--priority", "10")
    # A deliberately shallow, filtered, intransitive link straight to the release tag.
    k("add-tag-inheritance", "f40-build", "f40-updates-testing", "--priority", "20",
      "--maxdepth", "0", "--intransitive", "--pkg-filter", "^kernel")
    k("edit-tag", "f40-build", "-x", "mock.package_manager=dnf")
    k("add-target", "f40-candidate", "f40-build", "f40-updates-candidate")
    k("add-group", "f40-build", "build")
    k("add-group-pkg", "f40-build", "build", "bash", "coreutils", "rpm-build")
    k("add-group", "f40-build", "srpm-build")
    k("add-group-pkg", "f40-build", "srpm-build", "bash", "rpm-build")
    k("add-external-repo", "fedora-40", "https://example.com/fedora/40/$arch",
      "-t", "f40-build", "-p", "10")
    k("add-external-repo", "fedora-40-updates", "https://example.com/updates/40/$arch",
      "-t", "f40-build", "-p", "5", "-m", "bare")
    k("add-external-repo", "epel", "https://example.com/epel/",
      "-t", "f40", "-p", "15", "-m", "simple")
    k("add-pkg", "--owner", "kojiadmin", "f40", "bash", "coreutils", "foo")
    k("add-pkg", "--owner", "alice", "f40", "bar")
    k("add-pkg", "--owner", "alice", "f40-updates", "baz")
    k("block-pkg", "f40-updates-testing", "baz")
    for nvr in ("foo 1.0 1", "foo 1.1 1", "foo 1.2 1", "bar 2.0 1", "baz 3.0 1"):
        name, version, release = nvr.split()
        k("call", "--python", "createEmptyBuild", repr(name), repr(version), repr(release),
          "None")


def test_testbed_workflow(hub, koji_available):
    setup_release_chain(hub)
    out = hub.out

    # ---- inheritance, plain and reverse
    assert out("list-tag-inheritance", "f40-build", noauth=True).splitlines() == [
        "     f40-build (%s)" % _tag_id(hub, "f40-build"),
        "....  ├─f40-override (%s)" % _tag_id(hub, "f40-override"),
        "....  ├─f40-updates (%s)" % _tag_id(hub, "f40-updates"),
        "....  │  └─f40 (%s)" % _tag_id(hub, "f40"),
        "MFI.  └─f40-updates-testing (%s)" % _tag_id(hub, "f40-updates-testing"),
    ]
    rev = out("list-tag-inheritance", "--reverse", "f40", noauth=True).splitlines()
    assert [line.split("─")[-1].split(" (")[0] if "─" in line else line.split()[0]
            for line in rev] == ["f40", "f40-updates", "f40-updates-candidate",
                                 "f40-updates-testing", "f40-build"]

    # ---- taginfo: arches, groups, extra, target, external repos, inheritance
    info = out("taginfo", "f40-build", noauth=True)
    assert "Arches: x86_64\n" in info
    assert "Groups: build, srpm-build\n" in info
    assert "  mock.package_manager : 'dnf'\n" in info
    assert "Targets that build from this tag:\n  f40-candidate\n" in info
    assert ("External repos:\n"
            "    5 fedora-40-updates (https://example.com/updates/40/$arch/, merge mode: bare)"
            in info)
    assert "   10 fedora-40 (https://example.com/fedora/40/$arch/, merge mode: koji)" in info
    assert re.search(r"  20\s+MFI\. f40-updates-testing \[\d+\]\n    maxdepth: 0\n"
                     r"    package filter: \^kernel\n", info), info
    assert "This tag is a buildroot for one or more targets" in info
    dest_info = out("taginfo", "f40-updates-candidate", noauth=True)
    assert "Targets that build into this tag:\n  f40-candidate (f40-build, no active repo)" in dest_info
    assert "Arches: x86_64 aarch64\n" in dest_info  # inherited from f40

    # ---- targets
    assert _rows(out("list-targets", noauth=True)) == ["f40-candidate f40-build "
                                                       "f40-updates-candidate"]

    # ---- groups
    groups = out("list-groups", "f40-build", noauth=True)
    assert groups.splitlines() == [
        "build  [f40-build]",
        "  bash: None, mandatory  [f40-build]",
        "  coreutils: None, mandatory  [f40-build]",
        "  rpm-build: None, mandatory  [f40-build]",
        "srpm-build  [f40-build]",
        "  bash: None, mandatory  [f40-build]",
        "  rpm-build: None, mandatory  [f40-build]",
    ]
    # inherited by a child tag
    hub.koji("add-tag", "f40-build-child", "--parent", "f40-build")
    assert "build  [f40-build]" in out("list-groups", "f40-build-child", noauth=True)

    # ---- external repos
    assert _rows(out("list-external-repos", noauth=True)) == [
        "fedora-40 https://example.com/fedora/40/$arch/",
        "fedora-40-updates https://example.com/updates/40/$arch/",
        "epel https://example.com/epel/",
    ]
    assert _rows(out("list-external-repos", "--tag", "f40-build", "--inherit",
                     noauth=True)) == [
        "f40-build 5 bare fedora-40-updates",
        "f40-build 10 koji fedora-40",
        "f40 15 simple epel",
    ]

    # ---- package lists with owners, blocking and inheritance filters
    pkgs = _rows(out("list-pkgs", "--tag", "f40-build", noauth=True))
    assert sorted(pkgs) == ["bar f40 alice", "bash f40 kojiadmin", "baz f40-updates alice",
                            "coreutils f40 kojiadmin", "foo f40 kojiadmin"]
    testing = _rows(out("list-pkgs", "--tag", "f40-updates-testing", "--show-blocked",
                        noauth=True))
    assert "baz f40-updates-testing alice [BLOCKED]" in testing

    # ---- tagging: "latest" is the most recently tagged build in the nearest tag
    hub.koji("tag-build", "--nowait", "f40", "foo-1.0-1")
    hub.koji("tag-build", "--nowait", "f40-updates", "foo-1.1-1")
    hub.koji("tag-build", "--nowait", "f40", "foo-1.2-1")
    hub.koji("tag-build", "--nowait", "f40", "bar-2.0-1")
    hub.koji("tag-build", "--nowait", "f40-updates-testing", "baz-3.0-1", check=False)
    latest = _rows(out("list-tagged", "f40-build", "--latest", "--inherit", noauth=True))
    # the CLI sorts by NVR
    assert latest == ["bar-2.0-1 f40 kojiadmin", "foo-1.1-1 f40-updates kojiadmin"]
    assert _rows(out("list-tagged", "f40", noauth=True)) == [
        "bar-2.0-1 f40 kojiadmin", "foo-1.0-1 f40 kojiadmin", "foo-1.2-1 f40 kojiadmin"]
    assert _rows(out("latest-build", "f40-build", "foo", noauth=True)) == [
        "foo-1.1-1 f40-updates kojiadmin"]
    assert _rows(out("latest-build", "f40", "foo", noauth=True)) == ["foo-1.2-1 f40 kojiadmin"]

    # tag-build of a blocked package fails; of an unlisted package too
    rc, _o, err = hub.koji("tag-build", "--nowait", "f40-updates-testing", "baz-3.0-1",
                           check=False)
    assert rc != 0 and "TagError: package baz is blocked in tag f40-updates-testing" in err

    # ---- move-build and untag-build, then the history shows each step
    hub.koji("move-build", "--nowait", "f40-updates", "f40-updates-testing", "foo-1.1-1")
    assert _rows(out("latest-build", "f40-build", "foo", noauth=True)) == [
        "foo-1.2-1 f40 kojiadmin"]
    assert _rows(out("list-tagged", "f40-updates-testing", noauth=True)) == [
        "foo-1.1-1 f40-updates-testing kojiadmin"]
    hub.koji("untag-build", "f40", "foo-1.2-1")
    assert _rows(out("list-tagged", "f40", "foo", noauth=True)) == ["foo-1.0-1 f40 kojiadmin"]

    hist = out("list-history", "--tag", "f40-updates", noauth=True)
    # drop the leading time stamp ("Fri Dec  4 20:19:12 2026 "): splitting at " 20" met the
    # hour instead of the year between 20:00 and 20:59
    events = [re.sub(r"^\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4} ", "", line)
              for line in hist.splitlines()]
    assert "new tag: f40-updates by kojiadmin [still active]" in events
    assert "inheritance line f40-updates->f40 added by kojiadmin [still active]" in events
    assert "foo-1.1-1 tagged into f40-updates by kojiadmin" in events
    assert "foo-1.1-1 untagged from f40-updates by kojiadmin" in events
    history = out("list-history", "--build", "foo-1.2-1", noauth=True)
    assert "foo-1.2-1 untagged from f40 by kojiadmin" in history

    # ---- queries "as of event N": before the move, foo-1.1-1 was in f40-updates
    import json

    ev = json.loads(out("call", "--json-output", "getLastEvent", noauth=True))["id"]
    hub.koji("untag-build", "f40", "bar-2.0-1")
    assert _rows(out("list-tagged", "f40", "--event", str(ev), noauth=True)) == [
        "bar-2.0-1 f40 kojiadmin", "foo-1.0-1 f40 kojiadmin"]
    assert _rows(out("list-tagged", "f40", noauth=True)) == ["foo-1.0-1 f40 kojiadmin"]
    last = int(out("call", "tagLastChangeEvent", "f40-build", noauth=True))
    assert last > ev


def _tag_id(hub, name):
    import json

    return json.loads(hub.out("call", "--json-output", "getTag", name, noauth=True))["id"]
