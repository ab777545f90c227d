"""The hub methods issue 11 added, driven through the real koji 1.36.1 CLI: channels,
set-task-priority, clone-tag, list-untagged, search, rpminfo and the RPM content calls,
signatures renamed, build administration, volumes, users and groups, and the faults of
features this hub does not have."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.integration


def _fault_of(err):
    return err.strip().splitlines()[-1].split("koji: ", 1)[-1]


def _call(hub, *args, user="kojiadmin", noauth=False):
    return json.loads(hub.out("call", "--json-output", *args, user=user, noauth=noauth))


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    from pungi_like.universe.rpmbuild import Package, build_packages

    out = tmp_path_factory.mktemp("rpms")
    packages = [
        Package(name="hello", version="2.1", release="3", arch="x86_64", license="GPLv2+",
                requires=["bash"], provides=["greeting = 2.1"],
                files={"/usr/bin/hello": "#!/bin/sh\necho hello\n"},
                changelog=[("Wed Nov 15 2023", "Ann Author <ann@example.org> - 2.1-3",
                            "- say hello louder"),
                           ("Tue Nov 14 2023", "Bob Builder <bob@example.org> - 2.1-2",
                            "- first hello")]),
        Package(name="hello", version="2.2", release="1", arch="x86_64",
                files={"/usr/bin/hello": "#!/bin/sh\necho hello again\n"}),
        Package(name="other_pkg", version="1.0", release="1", arch="noarch",
                files={"/usr/share/other/data": "x\n"}),
    ]
    result = build_packages(packages, out, workdir=tmp_path_factory.mktemp("rpmbuild"))
    return sorted(result.srpms) + sorted(result.rpms)


def test_channels(hub, koji_available):
    hub.koji("add-channel", "bigjobs", "--description", "large builds")
    chan = _call(hub, "getChannel", "bigjobs", noauth=True)
    assert chan["description"] == "large builds" and chan["enabled"] is True
    rc, _o, err = hub.koji("add-channel", "bigjobs", check=False)
    assert rc != 0 and "channel bigjobs already exists" in err, err
    rc, _o, err = hub.koji("call", "addChannel", "bigjobs", check=False)
    assert _fault_of(err) == "GenericError: channel bigjobs already exists (id=%d)" % chan["id"]
    hub.koji("edit-channel", "bigjobs", "--name", "hugejobs", "--comment", "renamed")
    renamed = _call(hub, "getChannel", chan["id"], noauth=True)
    assert (renamed["name"], renamed["comment"]) == ("hugejobs", "renamed")
    # disable-channel used to report success and change nothing
    hub.koji("disable-channel", "hugejobs", "--comment", "maintenance")
    assert _call(hub, "getChannel", "hugejobs", noauth=True)["enabled"] is False
    disabled = hub.out("list-channels", "--disabled", "--quiet", "--simple", noauth=True).split()
    assert disabled == ["hugejobs", "[disabled]"], disabled
    # a disabled channel takes no new tasks and no hosts unless forced
    hub.koji("add-host", "builder9", "x86_64")
    rc, _o, err = hub.koji("add-host-to-channel", "builder9", "hugejobs", check=False)
    assert rc != 0 and "channel hugejobs is disabled" in err, err
    rc, _o, err = hub.koji("call", "--python", "makeTask", "'newRepo'", "[]",
                           "channel='hugejobs'", check=False)
    assert "channel hugejobs is disabled" in _fault_of(err), err
    hub.koji("enable-channel", "hugejobs")
    assert "hugejobs" in hub.out("list-channels", "--enabled", "--quiet", "--simple",
                                 noauth=True).split()
    # permissions: enable/disable need 'host', editing needs admin
    rc, _o, err = hub.koji("call", "disableChannel", "hugejobs", user="alice", check=False)
    assert _fault_of(err).startswith("ActionNotAllowed: host permission required"), err
    rc, _o, err = hub.koji("call", "renameChannel", "hugejobs", "x", user="alice", check=False)
    assert _fault_of(err).startswith("ActionNotAllowed: admin permission required"), err
    # bad names are refused by the hub's name checks
    rc, _o, err = hub.koji("call", "addChannel", "../evil", check=False)
    assert rc != 0 and "GenericError" in _fault_of(err), err
    # removal: refused while a host is subscribed, done with force
    hub.koji("add-host-to-channel", "builder9", "hugejobs")
    rc, _o, err = hub.koji("call", "removeChannel", "hugejobs", check=False)
    assert _fault_of(err) == "GenericError: channel hugejobs has host references", err
    hub.koji("call", "removeChannel", "hugejobs", "force=True")
    assert _call(hub, "getChannel", "hugejobs", noauth=True) is None
    assert "hugejobs" not in hub.out("list-channels", "--quiet", "--simple", noauth=True)


def test_builds_rpms_tags(hub, rpms, koji_available):
    hub.koji("add-tag", "dist", "--arches", "x86_64")
    hub.koji("add-pkg", "--owner", "kojiadmin", "dist", "hello", "other_pkg")
    hub.koji("import", *rpms)
    hub.koji("tag-build", "--nowait", "dist", "hello-2.1-3", "hello-2.2-1")

    # list-untagged: only other_pkg is in no tag
    assert hub.out("list-untagged", noauth=True).split() == ["other_pkg-1.0-1"]
    assert hub.out("list-untagged", "hello", noauth=True).strip() == ""

    # rpminfo goes past getRPMHeaders now and prints the License header
    info = hub.out("rpminfo", "hello-2.1-3.x86_64", noauth=True)
    assert "License: GPLv2+" in info, info
    rpm = _call(hub, "getRPM", "hello-2.1-3.x86_64", noauth=True)
    deps = _call(hub, "getRPMDeps", rpm["id"], noauth=True)
    assert {"name": "bash", "version": "", "flags": 0, "type": 0} in deps, deps
    assert any(d["name"] == "greeting" and d["version"] == "2.1" and d["type"] == 1
               for d in deps), deps
    files = _call(hub, "listRPMFiles", rpm["id"], noauth=True)
    assert [f["name"] for f in files] == ["/usr/bin/hello"]
    one = _call(hub, "getRPMFile", rpm["id"], "/usr/bin/hello", noauth=True)
    assert one["rpm_id"] == rpm["id"] and one["size"] == len("#!/bin/sh\necho hello\n")
    assert _call(hub, "getRPMFile", rpm["id"], "/nope", noauth=True) == {}
    rc, _o, err = hub.koji("call", "getRPMFile", rpm["id"], "/nope", "strict=True",
                           noauth=True, check=False)
    assert _fault_of(err) == "GenericError: No file: /nope found in RPM: %d" % rpm["id"]
    rc, _o, err = hub.koji("call", "--python", "getRPMHeaders", "rpmID=%d" % rpm["id"],
                           "headers=['nosuchheader']", noauth=True, check=False)
    assert rc != 0 and "GenericError" in _fault_of(err), err
    # the changelog of the build's SRPM, newest first
    log = hub.out("buildinfo", "--changelog", "hello-2.1-3", noauth=True)
    assert log.index("- say hello louder") < log.index("- first hello"), log
    entries = _call(hub, "getChangelogEntries", "hello-2.1-3", noauth=True)
    assert [e["author"] for e in entries] == ["Ann Author <ann@example.org> - 2.1-3",
                                              "Bob Builder <bob@example.org> - 2.1-2"]

    # search, every type and match kind
    assert hub.out("search", "package", "hel*", noauth=True).split() == ["hello"]
    assert hub.out("search", "package", "HEL?O", noauth=True).split() == ["hello"]
    # '_' is literal in a glob, as in Koji
    assert hub.out("search", "package", "other_pkg", noauth=True).split() == ["other_pkg"]
    assert hub.out("search", "package", "other?pkg", noauth=True).split() == ["other_pkg"]
    assert hub.out("search", "package", "ot_er*", noauth=True).split() == []
    assert sorted(hub.out("search", "build", "-r", "^hello-2\\.[12]-", noauth=True).split()) \
        == ["hello-2.1-3", "hello-2.2-1"]
    assert hub.out("search", "--exact", "rpm", "hello-2.2-1.x86_64.rpm", noauth=True).split() \
        == ["hello-2.2-1.x86_64.rpm"]
    assert hub.out("search", "tag", "d*", noauth=True).split() == ["dist"]
    assert hub.out("search", "user", "-r", "^kojiadm", noauth=True).split() == ["kojiadmin"]
    assert hub.out("search", "target", "*", noauth=True).split() == []
    hub.koji("add-host", "builder9", "x86_64")
    assert hub.out("search", "host", "builder?", noauth=True).split() == ["builder9"]
    assert hub.out("search", "maven", "*", noauth=True).split() == []
    rc, _o, err = hub.koji("call", "search", "[", "package", "regexp", noauth=True,
                           check=False)
    assert _fault_of(err).startswith("GenericError: Invalid regular expression"), err
    rc, _o, err = hub.koji("call", "search", "x", "nosuch", "glob", noauth=True, check=False)
    assert _fault_of(err) == "GenericError: No such search type: nosuch"

    # clone-tag: a new tag (snapshotTag), then an existing one (snapshotTagModify)
    hub.koji("add-group", "dist", "build")
    hub.koji("add-group-pkg", "dist", "build", "hello")
    hub.koji("clone-tag", "--all", "--latest-only", "dist", "dist-clone")
    assert hub.out("list-tagged", "--quiet", "dist-clone", noauth=True).split()[0] == \
        "hello-2.2-1"
    assert len(hub.out("list-tagged", "--quiet", "dist-clone", noauth=True).splitlines()) == 1
    assert "hello" in hub.out("list-pkgs", "--quiet", "--tag", "dist-clone", noauth=True)
    groups = _call(hub, "getTagGroups", "dist-clone", noauth=True)
    assert [(g["name"], [p["package"] for p in g["packagelist"]]) for g in groups] == \
        [("build", ["hello"])]
    assert _call(hub, "getTag", "dist-clone", noauth=True)["arches"] == "x86_64"
    hub.koji("call", "snapshotTagModify", "dist", "dist-clone", "latest_only=False")
    assert sorted(hub.out("list-tagged", "--quiet", "dist-clone", noauth=True).split()[::3]) \
        == ["hello-2.1-3", "hello-2.2-1"]
    # the CLI on an existing tag: snapshotTagModify with remove (no --no-delete) drops what
    # the source lacks: only the latest build stays
    hub.koji("clone-tag", "--all", "--latest-only", "dist", "dist-clone")
    assert hub.out("list-tagged", "--quiet", "dist-clone", noauth=True).split()[::3] == \
        ["hello-2.2-1"]
    rc, _o, err = hub.koji("call", "snapshotTag", "dist", "dist-clone", check=False)
    assert _fault_of(err) == "GenericError: Target tag already exists"
    rc, _o, err = hub.koji("call", "snapshotTag", "dist", "x2", "pkgs=False", check=False)
    assert _fault_of(err).startswith("ParameterError: builds can't be used without pkgs")
    rc, _o, err = hub.koji("call", "snapshotTag", "dist", "x3", user="alice", check=False)
    assert _fault_of(err).startswith("ActionNotAllowed: tag permission required"), err

    # massTag, tagChangedSinceEvent, getTagID
    event = _call(hub, "getLastEvent", noauth=True)["id"]
    dist_id = _call(hub, "getTagID", "dist", noauth=True)
    assert _call(hub, "--python", "tagChangedSinceEvent", event, [dist_id], noauth=True) is False
    hub.koji("add-tag", "mass")
    hub.koji("add-pkg", "--owner", "kojiadmin", "mass", "hello", "other_pkg")
    hub.koji("call", "--python", "massTag", "'mass'", '["hello-2.1-3", "other_pkg-1.0-1"]')
    assert sorted(hub.out("list-tagged", "--quiet", "mass", noauth=True).split()[::3]) == \
        ["hello-2.1-3", "other_pkg-1.0-1"]
    mass_id = _call(hub, "getTagID", "mass", noauth=True)
    assert _call(hub, "--python", "tagChangedSinceEvent", event, [mass_id], noauth=True) is True

    # moveAllBuilds: every build of the package, oldest first, one tagBuild task each
    hub.koji("add-tag", "moved")
    hub.koji("add-pkg", "--owner", "kojiadmin", "moved", "hello")
    tasks = _call(hub, "moveAllBuilds", "dist", "moved", "hello")
    assert len(tasks) == 2
    assert [_call(hub, "getTaskInfo", t, noauth=True)["state"] for t in tasks] == [2, 2]
    assert hub.out("list-tagged", "--quiet", "dist", noauth=True).strip() == ""
    assert sorted(hub.out("list-tagged", "--quiet", "moved", noauth=True).split()[::3]) == \
        ["hello-2.1-3", "hello-2.2-1"]

    # getBuildLogs lists the files under the build's data/logs
    logdir = os.path.join(hub.topdir, "packages", "hello", "2.2", "1", "data", "logs", "x86_64")
    os.makedirs(logdir)
    with open(os.path.join(logdir, "build.log"), "w") as f:
        f.write("built\n")
    assert _call(hub, "getBuildLogs", "hello-2.2-1", noauth=True) == [
        {"name": "build.log", "dir": "x86_64",
         "path": "packages/hello/2.2/1/data/logs/x86_64/build.log"}]
    assert _call(hub, "getBuildLogs", "hello-2.1-3", noauth=True) == []

    # buildReferences / deleteBuild / resetBuild / owner and timestamp
    refs = _call(hub, "buildReferences", "hello-2.1-3", noauth=True)
    assert sorted(t["name"] for t in refs["tags"]) == ["mass", "moved"]
    rc, _o, err = hub.koji("call", "deleteBuild", "hello-2.1-3", check=False)
    assert _fault_of(err).startswith("GenericError: Cannot delete build, tagged:"), err
    hub.koji("untag-build", "mass", "other_pkg-1.0-1")
    builddir = os.path.join(hub.topdir, "packages", "other_pkg", "1.0", "1")
    assert os.path.isdir(builddir)
    rc, _o, err = hub.koji("call", "deleteBuild", "other_pkg-1.0-1", user="alice", check=False)
    assert _fault_of(err).startswith("ActionNotAllowed: admin permission required")
    assert _call(hub, "deleteBuild", "other_pkg-1.0-1") is True
    assert _call(hub, "getBuild", "other_pkg-1.0-1", noauth=True)["state"] == 2   # DELETED
    assert not os.path.exists(builddir)
    hub.koji("call", "setBuildOwner", "hello-2.2-1", "alice")
    hub.koji("call", "setBuildTimestamp", "hello-2.2-1", "1700000000")
    build = _call(hub, "getBuild", "hello-2.2-1", noauth=True)
    assert build["owner_name"] == "alice" and build["completion_ts"] == 1700000000
    rc, _o, err = hub.koji("call", "setBuildTimestamp", "hello-2.2-1", "'soon'", check=False)
    assert _fault_of(err) == "GenericError: Invalid type for timestamp"
    hub.koji("call", "resetBuild", "other_pkg-1.0-1")
    reset = _call(hub, "getBuild", "other_pkg-1.0-1", noauth=True)
    assert reset["state"] == 4 and reset["task_id"] is None    # CANCELED
    assert _call(hub, "listRPMs", reset["id"], noauth=True) == []


def test_sigs_volumes_users_tasks(hub, rpms, koji_available, tmp_path):
    import shutil

    from pungi_like.buildsvc.seed import GpgKey, rpmsign

    hub.koji("import", *rpms)
    rpm = _call(hub, "getRPM", "hello-2.1-3.x86_64", noauth=True)
    # rename-sig: a real signature made by rpmsign, imported with import-sig
    key = GpgKey.create(str(tmp_path / "gnupg"), uid="Test Key <test@example.invalid>")
    try:
        copy = str(tmp_path / "hello-2.1-3.x86_64.rpm")
        shutil.copyfile([p for p in rpms if p.endswith("/hello-2.1-3.x86_64.rpm")][0], copy)
        rpmsign(key, [copy])
        hub.koji("import-sig", copy)
    finally:
        key.stop_agent()
    builddir = os.path.join(hub.topdir, "packages", "hello", "2.1", "3")
    old_signed = os.path.join(builddir, "data", "signed", key.sigkey, "x86_64",
                              "hello-2.1-3.x86_64.rpm")
    assert os.path.isfile(old_signed)
    hub.koji("rename-sig", "hello-2.1-3.x86_64", key.sigkey, "BEEF0001")
    sigs = _call(hub, "queryRPMSigs", rpm["id"], noauth=True)
    # the '' entry is the unsigned header kept at import
    assert sorted(s["sigkey"] for s in sigs) == ["", "beef0001"], sigs
    assert not os.path.exists(old_signed)
    assert os.path.isfile(old_signed.replace("/%s/" % key.sigkey, "/beef0001/"))
    assert os.path.isfile(os.path.join(builddir, "data", "sigcache", "beef0001", "x86_64",
                                       "hello-2.1-3.x86_64.rpm.sig"))
    rc, _o, err = hub.koji("rename-sig", "hello-2.1-3.x86_64", key.sigkey, "beef0002",
                           check=False)
    assert rc != 0 and "has no matching signatures to rename" in err, err
    rc, _o, err = hub.koji("call", "renameRPMSig", rpm["id"], "beef0001", "../x", check=False)
    assert rc != 0 and "GenericError" in _fault_of(err), err
    rc, _o, err = hub.koji("rename-sig", "hello-2.1-3.x86_64", "beef0001", "beef0002",
                           user="alice", check=False)
    assert rc != 0 and "admin permission required" in err, err
    # remove-sig removes the renamed signature
    hub.koji("remove-sig", "--sigkey", "beef0001", "hello-2.1-3.x86_64")
    assert [s["sigkey"] for s in _call(hub, "queryRPMSigs", rpm["id"], noauth=True)] == [""]

    # volumes
    assert [v["name"] for v in _call(hub, "listVolumes", noauth=True)] == ["DEFAULT"]
    rc, _o, err = hub.koji("add-volume", "fast", check=False)
    assert rc != 0 and "please create the volume directory first" in err, err
    os.makedirs(os.path.join(hub.topdir, "vol", "fast"), exist_ok=True)
    hub.koji("add-volume", "fast")
    assert [v["name"] for v in _call(hub, "listVolumes", noauth=True)] == ["DEFAULT", "fast"]
    hub.koji("set-build-volume", "fast", "hello-2.1-3")
    build = _call(hub, "getBuild", "hello-2.1-3", noauth=True)
    assert build["volume_name"] == "fast"
    moved = os.path.join(hub.topdir, "vol", "fast", "packages", "hello", "2.1", "3",
                         "x86_64", "hello-2.1-3.x86_64.rpm")
    assert os.path.isfile(moved)
    # the DEFAULT place is a symlink to the new one, so packages/... still finds the file
    link = os.path.join(hub.topdir, "packages", "hello", "2.1", "3")
    assert os.path.islink(link) and os.path.isfile(os.path.join(link, "x86_64",
                                                                "hello-2.1-3.x86_64.rpm"))
    assert "License:" in hub.out("rpminfo", "hello-2.1-3.x86_64", noauth=True)
    rc, _o, err = hub.koji("call", "removeVolume", "fast", check=False)
    assert _fault_of(err) == "GenericError: volume fast has build references"
    hub.koji("set-build-volume", "DEFAULT", "hello-2.1-3")
    assert not os.path.islink(link) and os.path.isdir(link)
    hub.koji("call", "applyVolumePolicy", "hello-2.1-3")   # default policy: DEFAULT, no move
    hub.koji("call", "removeVolume", "fast")
    assert _call(hub, "getVolume", "fast", noauth=True) is None

    # users and groups
    hub.koji("edit-user", "alice", "--rename", "alicia", "--add-krb", "alicia@EXAMPLE.ORG")
    user = _call(hub, "getUser", "alicia", noauth=True)
    assert user["krb_principals"] == ["alicia@EXAMPLE.ORG"]
    hub.koji("edit-user", "alicia", "--rename", "alice", "--remove-krb", "alicia@EXAMPLE.ORG")
    assert _call(hub, "getUser", "alice", noauth=True)["krb_principals"] == []
    gid = _call(hub, "newGroup", "packagers")
    assert _call(hub, "getUser", gid, noauth=True)["usertype"] == 2
    assert _call(hub, "getGroupMembers", "packagers", noauth=True) == []
    # membership and inherited permissions: test_storage_features.py
    hub.koji("grant-permission", "repo", "alice")
    assert _call(hub, "getUserPermsInheritance", "alice", noauth=True) == {"repo": [None]}
    perms = hub.out("list-permissions", "--user", "alice", noauth=True)
    assert "Old hub" not in perms and "repo" in perms, perms
    rc, _o, err = hub.koji("call", "getGroupMembers", "alice", noauth=True, check=False)
    assert _fault_of(err) == "GenericError: No such group: alice"

    # set-task-priority (it said "closed task" before) and the refusal for finished tasks
    hub.koji("add-tag", "t1")
    task_id = _call(hub, "--python", "makeTask", "'newRepo'", '["t1"]')
    hub.koji("set-task-priority", "--priority", "7", str(task_id))
    assert _call(hub, "getTaskInfo", task_id, noauth=True)["priority"] == 7
    rc, _o, err = hub.koji("call", "setTaskPriority", task_id, 3, user="alice", check=False)
    assert _fault_of(err).startswith("ActionNotAllowed: admin permission required")
    hub.koji("cancel", str(task_id))
    rc, _o, err = hub.koji("call", "setTaskPriority", task_id, 3, check=False)
    assert _fault_of(err) == "GenericError: Finished task's priority can't be updated"

    # getLastHostUpdate: a host that never logged in
    hub.koji("add-host", "builder9", "x86_64")
    assert _call(hub, "getLastHostUpdate", "builder9", noauth=True) is None

    # groupReqListBlock/Unblock
    hub.koji("add-group", "t1", "build")
    hub.koji("add-group", "t1", "base")
    hub.koji("block-group-req", "t1", "build", "base")
    req = _call(hub, "getTagGroups", "t1", "incl_blocked=True", noauth=True)
    blocked = [r for g in req for r in g["grouplist"] if r["blocked"]]
    assert [r["name"] for r in blocked] == ["base"], req
    hub.koji("unblock-group-req", "t1", "build", "base")
    rc, _o, err = hub.koji("unblock-group-req", "t1", "build", "base", check=False)
    assert rc != 0 and "is NOT blocked" in err, err


def test_disabled_and_missing_features(hub, koji_available):
    """Features this hub lacks answer with Koji's own fault, never "Invalid method"."""
    hub.koji("add-tag", "t1", "--arches", "x86_64")
    hub.koji("add-target", "t1", "t1", "t1")
    for args, fault in (
            (("maven-build", "t1", "git://x"), "Maven support not enabled"),
            (("win-build", "t1", "git://x", "vm"), "Windows support not enabled"),
            (("call", "kiwiBuild", "t1", "[]", "u", "p"), "kiwi support not enabled"),
            (("call", "dudBuild", "n", "1", "[]", "t1", "[]"), "dud support not enabled"),
    ):
        rc, out, err = hub.koji(*args, check=False)
        assert rc != 0 and fault in out + err, (args, out, err)
        assert "Invalid method" not in out + err
    assert hub.out("list-notifications", "--user", "kojiadmin").strip() == "" or \
        "No notifications" in hub.out("list-notifications", "--user", "kojiadmin")


def test_scheduler_info(hub, koji_available):
    """koji scheduler-info / scheduler-logs read the scheduler calls; a task given to a host
    shows as a run."""
    hub.koji("add-host", "builder9", "x86_64")
    hub.koji("add-tag", "t1", "--arches", "x86_64")
    task_id = _call(hub, "--python", "makeTask", "'newRepo'", '["t1"]')
    hub.koji("assign-task", str(task_id), "builder9")
    out = hub.out("scheduler-info", "--task", str(task_id), noauth=True)
    assert "builder9" in out and str(task_id) in out, out
    runs = _call(hub, "--python", "scheduler.getTaskRuns", "[['task_id', %d]]" % task_id,
                 noauth=True)
    assert [(r["task_id"], r["active"]) for r in runs] == [(task_id, True)], runs
    assert hub.koji("scheduler-logs", noauth=True)[0] == 0
    rc, _o, err = hub.koji("call", "--python", "scheduler.getTaskRuns", "[['nosuch', 1]]",
                           noauth=True, check=False)
    assert _fault_of(err) == "ParameterError: Invalid field: 'nosuch'", err
