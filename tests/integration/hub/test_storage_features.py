"""Features of schema version 5, driven through the real koji 1.36.1 CLI (``koji call`` where
the CLI has no command) on SQLite and PostgreSQL: group membership with inherited permissions,
side tags (the sidetag plugin's commands), draft builds and their promotion, content generator
imports, and build notifications. Each checks the data and the permission denials."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.integration


def _fault_of(err):
    return err.strip().splitlines()[-1].split("koji: ", 1)[-1]


def _call(hub, *args, user="kojiadmin", noauth=False):
    return json.loads(hub.out("call", "--json-output", *args, user=user, noauth=noauth))


def _denied(hub, *args, user="alice"):
    """Run a command expected to fail; return its last error line."""
    rc, out, err = hub.koji(*args, user=user, check=False)
    assert rc != 0, (args, out, err)
    assert "Traceback" not in err, err
    return _fault_of(err)


@pytest.fixture(scope="module")
def rpms(tmp_path_factory):
    from pungi_like.universe.rpmbuild import Package, build_packages

    out = tmp_path_factory.mktemp("rpms")
    packages = [
        Package(name="hello", version="2.1", release="3", arch="x86_64",
                files={"/usr/bin/hello": "#!/bin/sh\necho hello\n"}),
        Package(name="cgpkg", version="1.0", release="1", arch="noarch",
                files={"/usr/share/cgpkg/data": "cg\n"}),
    ]
    result = build_packages(packages, out, workdir=tmp_path_factory.mktemp("rpmbuild"))
    return sorted(result.srpms) + sorted(result.rpms)


def test_group_membership_and_inherited_permissions(hub, rpms, koji_available):
    hub.koji("import", *[p for p in rpms if "/hello-" in p])
    hub.koji("add-tag", "t1", "--arches", "x86_64")
    hub.koji("add-pkg", "--owner", "kojiadmin", "t1", "hello")
    gid = _call(hub, "newGroup", "packagers")
    # a group is a user of type GROUP with no members yet
    assert _call(hub, "getGroupMembers", "packagers", noauth=True) == []
    assert _denied(hub, "call", "addGroupMember", "packagers", "bob") == \
        "ActionNotAllowed: admin permission required (logged in as alice)"
    hub.koji("grant-permission", "tag", "packagers")
    # before membership alice cannot tag without a task
    assert _denied(hub, "call", "tagBuildBypass", "t1", "hello-2.1-3") == \
        "ActionNotAllowed: tag permission required (logged in as alice)"

    hub.koji("call", "addGroupMember", "packagers", "alice")
    members = _call(hub, "getGroupMembers", gid, noauth=True)
    assert [(m["name"], m["usertype"]) for m in members] == [("alice", 0)], members
    assert _call(hub, "getUserGroups", "alice", noauth=True) == [{"id": gid,
                                                                  "name": "packagers"}]
    assert "Groups:\n  packagers" in hub.out("userinfo", "alice", noauth=True)
    assert _call(hub, "getUserPerms", "alice", noauth=True) == ["tag"]
    assert _call(hub, "getUserPerms", "alice", "with_groups=False", noauth=True) == []
    assert _call(hub, "getUserPermsInheritance", "alice", noauth=True) == {"tag": ["packagers"]}
    perms = hub.out("list-permissions", "--user", "alice", noauth=True)
    assert "inherited from: packagers" in perms, perms
    # the member's session has the group's permission: tagging works now
    hub.koji("call", "tagBuildBypass", "t1", "hello-2.1-3", user="alice")
    assert [b["nvr"] for b in _call(hub, "listTagged", "t1", noauth=True)] == ["hello-2.1-3"]

    # faults as Koji's
    assert _denied(hub, "call", "addGroupMember", "packagers", "alice", user="kojiadmin") == \
        "GenericError: User already in group"
    hub.koji("call", "addGroupMember", "packagers", "alice", "strict=False")
    assert _denied(hub, "call", "addGroupMember", "alice", "bob", user="kojiadmin") == \
        "GenericError: Not a group: alice"
    assert _denied(hub, "call", "addGroupMember", "packagers", "nobody", user="kojiadmin") == \
        "GenericError: Not a user: nobody"
    assert _denied(hub, "call", "addGroupMember", "packagers", "packagers",
                   user="kojiadmin") == "GenericError: Groups cannot be members of other groups"
    assert _denied(hub, "call", "dropGroupMember", "packagers", "kojiadmin",
                   user="kojiadmin") == \
        "GenericError: No such user in group: packagers"
    assert _denied(hub, "call", "dropGroupMember", "packagers", "alice") == \
        "ActionNotAllowed: admin permission required (logged in as alice)"

    # dropping the member takes the permission away, and history keeps the membership
    hub.koji("call", "dropGroupMember", "packagers", "alice")
    assert _call(hub, "getGroupMembers", "packagers", noauth=True) == []
    assert _call(hub, "getUserPermsInheritance", "alice", noauth=True) == {}
    assert _denied(hub, "call", "untagBuildBypass", "t1", "hello-2.1-3") == \
        "ActionNotAllowed: tag permission required (logged in as alice)"
    hist = _call(hub, "--python", "queryHistory", "tables=['user_groups']",
                 noauth=True)["user_groups"]
    assert [(h["user_id"], h["group_id"], h["active"]) for h in hist] == \
        [(_call(hub, "getUser", "alice", noauth=True)["id"], gid, None)], hist
    hist = hub.out("list-history", "--user", "alice", noauth=True)
    assert "user alice added to group packagers" in hist, hist
    assert "user alice removed from group packagers" in hist, hist


SIDETAG_CONF = """[policy]
sidetag =
    tag other :: deny side tags are made of base only
    compare number_of_tags >= 2 :: deny at most 2 side tags per user
    all :: allow

[sidetag]
allowed_suffixes = stack,mass
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def conf_hub(request, tmp_path, pki):
    """A hub served with a hub.conf ([policy] and [sidetag] sections)."""
    from tests.integration.hub.conftest import start_hub, stop_hub

    conf = tmp_path / "hub.conf"
    conf.write_text(SIDETAG_CONF)
    h = start_hub(tmp_path, pki, request.param, extra_args=["--config", str(conf)])
    h.backend = request.param
    yield h
    stop_hub(h)


def test_side_tags(conf_hub, koji_available):
    hub = conf_hub
    hub.koji("add-tag", "base", "--arches", "x86_64")
    hub.koji("add-tag", "other", "--arches", "x86_64")
    hub.koji("call", "getLoggedInUser", user="bob")   # bob's account, made at first login
    name = hub.out("add-sidetag", "base", user="alice").strip()
    tag = _call(hub, "getTag", name, noauth=True)
    assert name == "base-side-%d" % tag["id"], name
    alice = _call(hub, "getUser", "alice", noauth=True)
    assert tag["extra"] == {"sidetag": True, "sidetag_user": "alice",
                            "sidetag_user_id": alice["id"]}, tag
    assert tag["arches"] == "x86_64"
    assert [p["name"] for p in _call(hub, "getInheritanceData", name, noauth=True)] == ["base"]
    target = _call(hub, "getBuildTarget", name, noauth=True)
    assert (target["build_tag_name"], target["dest_tag_name"]) == (name, name)
    assert hub.out("list-sidetags", "--mine", user="alice").split() == [name]
    assert hub.out("list-sidetags", "--basetag", "base", noauth=True).split() == [name]
    assert hub.out("list-sidetags", "--user", "bob", noauth=True).split() == []
    listed = _call(hub, "listSideTags", noauth=True)
    assert listed == [{"id": tag["id"], "name": name, "user_id": alice["id"],
                       "user_name": "alice"}], listed

    # hub.conf: the sidetag policy limits the base tags and the number per user
    assert _denied(hub, "call", "createSideTag", "other") == \
        "ActionNotAllowed: policy violation (sidetag): side tags are made of base only"
    stacked = hub.out("add-sidetag", "--suffix", "stack", "--debuginfo", "base",
                      user="alice").strip()
    assert stacked.startswith("base-side-") and stacked.endswith("-stack"), stacked
    assert _call(hub, "getTag", stacked, noauth=True)["extra"]["with_debuginfo"] is True
    rc, out, err = hub.koji("add-sidetag", "base", user="alice", check=False)
    assert rc != 0 and "Policy violation" in err, (out, err)
    assert _denied(hub, "call", "createSideTag", "base") == \
        "ActionNotAllowed: policy violation (sidetag): at most 2 side tags per user"
    assert _denied(hub, "call", "createSideTag", "base", "suffix=bad", user="bob") == \
        "GenericError: bad suffix is not allowed for sidetag"
    rc, _o, err = hub.koji("call", "createSideTag", "base", noauth=True, check=False)
    assert rc != 0 and _fault_of(err).startswith("ActionNotAllowed: you must be logged in"), err

    # only the owner (or an admin) edits or removes; only side tags are side tags
    assert _denied(hub, "remove-sidetag", name, user="bob") == \
        "ActionNotAllowed: This is not your sidetag"
    assert _denied(hub, "remove-sidetag", "base") == "GenericError: Not a sidetag: base"
    assert _denied(hub, "edit-sidetag", "--debuginfo", name) == \
        "GenericError: Debuginfo setting is not allowed in parent tag."
    assert _denied(hub, "edit-sidetag", "--rpm-macro", "dist=.x", name) == \
        "GenericError: RPM macros change is not allowed in parent tag."
    hub.koji("edit-tag", "base", "-x", "sidetag_debuginfo_allowed=1",
             "-x", "sidetag_rpm_macros_allowed=dist")
    hub.koji("edit-sidetag", "--debuginfo", "--rpm-macro", "dist=.side1", name, user="alice")
    extra = _call(hub, "getTag", name, noauth=True)["extra"]
    assert extra["with_debuginfo"] is True and extra["rpm.macro.dist"] == ".side1", extra
    assert _denied(hub, "edit-sidetag", "--rpm-macro", "optflags=-O0", name) == \
        "GenericError: RPM macro optflags editing is not allowed via parent tag"
    assert _denied(hub, "call", "editSideTag", name, "extra={'x': 1}") == \
        "GenericError: Extra can be modified only with sidetag_admin or admin permissions."
    hub.koji("edit-sidetag", "--remove-rpm-macro", "dist", "--no-debuginfo", name,
             user="alice")
    extra = _call(hub, "getTag", name, noauth=True)["extra"]
    assert "rpm.macro.dist" not in extra and extra["with_debuginfo"] is False, extra

    # removal takes the tag and its target; the owner may then make another
    hub.koji("remove-sidetag", name, user="alice")
    assert _call(hub, "getTag", name, noauth=True) is None
    assert _call(hub, "getBuildTarget", name, noauth=True) is None
    assert hub.out("list-sidetags", noauth=True).split() == [stacked]
    again = hub.out("add-sidetag", "base", user="alice").strip()
    assert again != name and hub.out("list-sidetags", "--mine", user="alice").split() == \
        [stacked, again]
    hub.koji("remove-sidetag", stacked)   # an admin may remove anyone's
    assert hub.out("list-sidetags", noauth=True).split() == [again]


def test_build_notifications(hub, rpms, koji_available):
    """Storage and API of build notifications (no mail is sent: DisableNotifications)."""
    hub.koji("import", *[p for p in rpms if "/hello-" in p])
    hub.koji("add-tag", "t1", "--arches", "x86_64")
    hub.koji("call", "getLoggedInUser", user="bob")   # bob's account, made at first login
    assert "No notifications" in hub.out("list-notifications", "--mine", user="alice")
    hub.koji("add-notification", "--package", "hello", user="alice")
    hub.koji("add-notification", "--tag", "t1", "--success-only", user="alice")
    alice, bob = (_call(hub, "getUser", u, noauth=True) for u in ("alice", "bob"))
    pkg = _call(hub, "getPackageID", "hello", noauth=True)
    tag = _call(hub, "getTagID", "t1", noauth=True)
    notes = _call(hub, "getBuildNotifications", "alice", noauth=True)
    assert [(n["user_id"], n["package_id"], n["tag_id"], n["success_only"]) for n in notes] == \
        [(alice["id"], pkg, None, False), (alice["id"], None, tag, True)], notes
    assert all(n["email"].startswith("alice@") for n in notes)
    listing = hub.out("list-notifications", "--mine", user="alice")
    assert "hello" in listing and "t1" in listing, listing
    # faults and permissions
    assert _denied(hub, "add-notification", "--package", "hello") == \
        "GenericError: notification already exists"
    rc, _o, err = hub.koji("add-notification", "--user", "bob", "--package", "hello",
                           user="alice", check=False)
    assert rc != 0 and "--user requires admin permission" in err, err
    assert _denied(hub, "call", "createNotification", bob["id"], pkg, None, False) == \
        "GenericError: user alice cannot create notifications for user bob"
    assert _denied(hub, "call", "updateNotification", notes[0]["id"], None, tag, True,
                   user="bob") == \
        "GenericError: user %i cannot update notifications for user %i" % (bob["id"],
                                                                            alice["id"])
    assert _denied(hub, "remove-notification", str(notes[0]["id"]), user="bob") == \
        "GenericError: user %i cannot delete notifications for user %i" % (bob["id"],
                                                                            alice["id"])
    assert _denied(hub, "call", "getBuildNotification", 99999, "strict=True") == \
        "GenericError: No notification with ID 99999 found"
    assert _denied(hub, "call", "createNotification", alice["id"], "nosuch", None, False) == \
        "GenericError: No such entry in table package: nosuch"
    # an admin acts for others
    hub.koji("add-notification", "--user", "bob", "--tag", "t1")
    assert [n["tag_id"] for n in _call(hub, "getBuildNotifications", "bob", noauth=True)] == \
        [tag]
    # edit and remove
    hub.koji("edit-notification", "--tag", "t1", "--no-success-only", str(notes[0]["id"]),
             user="alice")
    edited = _call(hub, "getBuildNotification", notes[0]["id"], noauth=True)
    assert (edited["package_id"], edited["tag_id"], edited["success_only"]) == \
        (pkg, tag, False), edited
    hub.koji("remove-notification", str(notes[1]["id"]), user="alice")
    assert [n["id"] for n in _call(hub, "getBuildNotifications", "alice", noauth=True)] == \
        [notes[0]["id"]]

    # blocks
    hub.koji("block-notification", "--package", "hello", user="alice")
    blocks = _call(hub, "getBuildNotificationBlocks", "alice", noauth=True)
    assert [(b["user_id"], b["package_id"], b["tag_id"]) for b in blocks] == \
        [(alice["id"], pkg, None)], blocks
    assert "Notification blocks" in hub.out("list-notifications", "--mine", user="alice")
    assert _denied(hub, "block-notification", "--package", "hello") == \
        "error: Notification already exists."                  # the CLI's own check
    assert _denied(hub, "call", "createNotificationBlock", alice["id"], pkg) == \
        "GenericError: notification already exists"
    assert _denied(hub, "unblock-notification", str(blocks[0]["id"]), user="bob") == \
        "GenericError: user %i cannot delete notification blocks for user %i" % (
            bob["id"], alice["id"])
    hub.koji("unblock-notification", str(blocks[0]["id"]), user="alice")
    assert _call(hub, "getBuildNotificationBlocks", "alice", noauth=True) == []
    assert _denied(hub, "call", "deleteNotificationBlock", blocks[0]["id"]) == \
        "GenericError: No notification block with ID %i found" % blocks[0]["id"]


def _cg_metadata(rpms, outdir, build_id=None):
    """A content generator's metadata (version 0) for build cgpkg-1.0-1 with its two RPMs, a
    log and an image archive, the files copied into ``outdir``; the buildroot lists an RPM the
    hub knows (hello) as a component."""
    import hashlib
    import shutil
    import tarfile

    os.makedirs(outdir, exist_ok=True)
    files = []
    for path in rpms:
        if "/cgpkg-" in path:
            shutil.copy(path, outdir)
            files.append((os.path.basename(path), "rpm", None))
    with open(os.path.join(outdir, "build.log"), "w") as fh:
        fh.write("built by the test content generator\n")
    files.append(("build.log", "log", None))
    with tarfile.open(os.path.join(outdir, "cgpkg-disk.tar.gz"), "w:gz") as tar:
        tar.add(os.path.join(outdir, "build.log"), arcname="disk/build.log")
    files.append(("cgpkg-disk.tar.gz", "image", "x86_64"))
    output = []
    for name, ftype, arch in files:
        data = open(os.path.join(outdir, name), "rb").read()
        entry = {"buildroot_id": 1, "filename": name, "filesize": len(data),
                 "checksum_type": "sha256", "checksum": hashlib.sha256(data).hexdigest(),
                 "type": ftype if ftype != "image" else "tarball",
                 "arch": arch or ("src" if name.endswith(".src.rpm") else "noarch")}
        if ftype == "image":
            entry["extra"] = {"typeinfo": {"image": {"arch": arch}}}
            entry["components"] = [{"type": "rpm", "name": "hello", "version": "2.1",
                                    "release": "3", "epoch": None, "arch": "x86_64",
                                    "sigmd5": "0" * 32, "signature": None}]
        output.append(entry)
    build = {"name": "cgpkg", "version": "1.0", "release": "1", "source": "git://example/cg",
             "start_time": 1700000000, "end_time": 1700000100,
             "extra": {"typeinfo": {"image": {}}}}
    if build_id is not None:
        build["build_id"] = build_id
    return {
        "metadata_version": 0, "build": build,
        "buildroots": [{"id": 1, "host": {"os": "Fedora 40", "arch": "x86_64"},
                        "content_generator": {"name": "testcg", "version": "0.1"},
                        "container": {"type": "none", "arch": "x86_64"},
                        "tools": [{"name": "rpm", "version": "4.18"}],
                        "components": [{"type": "rpm", "name": "hello", "version": "2.1",
                                        "release": "3", "epoch": None, "arch": "x86_64",
                                        "sigmd5": "0" * 32, "signature": None}],
                        "extra": {"note": "test"}}],
        "output": output,
    }


def test_content_generator_import(hub, rpms, koji_available, tmp_path):
    hub.koji("import", *[p for p in rpms if "/hello-" in p])
    meta = _cg_metadata(rpms, str(tmp_path / "out"))
    mfile = tmp_path / "metadata.json"
    mfile.write_text(json.dumps(meta))
    for user in ("alice", "bob"):      # their accounts, made at first login
        hub.koji("call", "getLoggedInUser", user=user)
    # access: admin grants it; without it the import is refused
    rc, _o, err = hub.koji("grant-cg-access", "alice", "testcg", check=False)
    assert rc != 0 and "No such entry in table content_generator: testcg" in err, err
    assert _denied(hub, "grant-cg-access", "--new", "bob", "testcg", user="bob").startswith(
        "ActionNotAllowed: admin permission required")
    hub.koji("grant-cg-access", "--new", "alice", "testcg")
    assert _call(hub, "listCGs", noauth=True) == {"testcg": {"id": 1, "users": ["alice"]}}
    assert _denied(hub, "grant-cg-access", "alice", "testcg", user="kojiadmin") == \
        "GenericError: User already has access to content generator testcg"
    assert _denied(hub, "import-cg", "--noprogress", str(mfile), str(tmp_path / "out"),
                   user="bob") == "AuthError: Content generator access required (testcg)"

    out = hub.out("import-cg", "--noprogress", str(mfile), str(tmp_path / "out"), user="alice")
    build = _call(hub, "getBuild", "cgpkg-1.0-1", noauth=True)
    assert "Imported build cgpkg-1.0-1 with id %d" % build["id"] in out, out
    assert build["state"] == 1 and build["owner_name"] == "alice", build
    assert build["source"] == "git://example/cg"
    assert (build["cg_id"], build["cg_name"]) == (1, "testcg"), build
    assert _call(hub, "getImageBuild", build["id"], noauth=True)["build_id"] == build["id"]
    rpm_list = _call(hub, "listRPMs", build["id"], noauth=True)
    assert sorted(r["arch"] for r in rpm_list) == ["noarch", "src"], rpm_list
    br_id = rpm_list[0]["buildroot_id"]
    br = _call(hub, "getBuildroot", br_id, noauth=True)
    assert (br["cg_name"], br["cg_version"], br["br_type"], br["host_os"],
            br["container_type"]) == ("testcg", "0.1", 1, "Fedora 40", "none"), br
    listing = _call(hub, "getBuildrootListing", br_id, noauth=True)
    assert [r["name"] for r in listing] == ["hello"], listing
    archives = _call(hub, "listArchives", build["id"], noauth=True)
    assert [(a["filename"], a["btype"]) for a in archives] == [("cgpkg-disk.tar.gz", "image")]
    img = _call(hub, "getImageArchive", archives[0]["id"], noauth=True)
    assert img["arch"] == "x86_64", img
    comps = _call(hub, "listRPMs", "imageID=%d" % archives[0]["id"], noauth=True)
    assert [(r["name"], r["version"], r["release"]) for r in comps] == \
        [("hello", "2.1", "3")], comps
    builddir = os.path.join(hub.topdir, "packages", "cgpkg", "1.0", "1")
    assert os.path.isfile(os.path.join(builddir, "noarch", "cgpkg-1.0-1.noarch.rpm"))
    assert os.path.isfile(os.path.join(builddir, "images", "cgpkg-disk.tar.gz"))
    assert os.path.isfile(os.path.join(builddir, "data", "logs", "build.log"))
    assert json.load(open(os.path.join(builddir, "metadata.json")))["build"]["name"] == "cgpkg"
    # a second import of the same NVR is refused
    assert _denied(hub, "import-cg", "--noprogress", str(mfile), str(tmp_path / "out")) == \
        "GenericError: Build already exists: cgpkg-1.0-1 (id=%d)" % build["id"]
    hist = hub.out("list-history", "--cg", "testcg", noauth=True)
    assert "user alice added to content generator testcg" in hist, hist

    # reservation: reserve-cg, a refund, then an import with the token
    out = hub.out("reserve-cg", "testcg", "cgpkg-1.0-2", user="alice")
    res_id = int(out.split()[2])
    token = out.strip().split("token ")[1].strip("'")
    assert _call(hub, "getBuild", res_id, noauth=True)["state"] == 0     # BUILDING
    assert _denied(hub, "call", "CGRefundBuild", "testcg", res_id, "wrong") == \
        "GenericError: Token doesn't match build ID %d" % res_id
    hub.koji("call", "CGRefundBuild", "testcg", res_id, token, user="alice")
    assert _call(hub, "getBuild", res_id, noauth=True)["state"] == 3     # FAILED
    out = hub.out("reserve-cg", "testcg", "cgpkg-1.0-2", user="alice")
    token = out.strip().split("token ")[1].strip("'")
    assert int(out.split()[2]) == res_id                                 # the NVR recycled
    meta2 = _cg_metadata([], str(tmp_path / "out2"), build_id=res_id)
    meta2["build"]["release"] = "2"
    meta2["output"] = [o for o in meta2["output"] if o["type"] != "rpm"]
    m2 = tmp_path / "metadata2.json"
    m2.write_text(json.dumps(meta2))
    assert _denied(hub, "import-cg", "--noprogress", "--build-id", str(res_id), str(m2),
                   str(tmp_path / "out2")) == \
        "GenericError: Token doesn't match build ID %d" % res_id
    hub.koji("import-cg", "--noprogress", "--token", token, "--build-id", str(res_id),
             str(m2), str(tmp_path / "out2"), user="alice")
    assert _call(hub, "getBuild", res_id, noauth=True)["state"] == 1
    assert [b["nvr"] for b in _call(hub, "listBuilds", "cgID=testcg", noauth=True)] == \
        ["cgpkg-1.0-1", "cgpkg-1.0-2"]

    # a corrupted upload: nothing is imported
    meta3 = _cg_metadata(rpms, str(tmp_path / "out3"))
    meta3["build"]["release"] = "3"
    for o in meta3["output"]:
        if o["filename"] == "build.log":
            o["filesize"] += 1
    m3 = tmp_path / "metadata3.json"
    m3.write_text(json.dumps(meta3))
    assert _denied(hub, "import-cg", "--noprogress", str(m3), str(tmp_path / "out3"),
                   user="alice").startswith("GenericError: File size")
    assert _call(hub, "getBuild", "cgpkg-1.0-3", noauth=True) is None

    # access revoked
    hub.koji("revoke-cg-access", "alice", "testcg")
    assert _call(hub, "listCGs", noauth=True) == {}
    assert _denied(hub, "reserve-cg", "testcg", "cgpkg-1.0-4") == \
        "AuthError: Content generator access required (testcg)"


def test_import_archive(hub, koji_available, tmp_path):
    """koji import-archive --type image: image-import permission, an image build, the file."""
    disk = tmp_path / "img-1-1.x86_64.qcow2"
    disk.write_bytes(b"QFI\xfb" + b"\0" * 4096)
    assert _denied(hub, "import-archive", "--type", "image", "--type-info", "x86_64",
                   "img-1-1", str(disk)) == "error: This action requires the image-import " \
                                             "privilege"
    assert _denied(hub, "call", "createImageBuild", "img-1-1") == \
        "ActionNotAllowed: image-import permission required (logged in as alice)"
    hub.koji("grant-permission", "--new", "image-import", "alice")
    hub.koji("import-archive", "--create-build", "--type", "image", "--type-info", "x86_64",
             "img-1-1", str(disk), user="alice")
    # an existing build that is not an image build takes no image archive (Koji's fault)
    hub.koji("call", "--python", "createEmptyBuild", "'other'", "'1'", "'1'", "None")
    assert _denied(hub, "import-archive", "--type", "image", "--type-info", "x86_64",
                   "other-1-1", str(disk)) == "ImportError: Build does not have type image"
    archives = _call(hub, "listArchives", _call(hub, "getBuild", "img-1-1", noauth=True)["id"],
                     noauth=True)
    assert [(a["filename"], a["btype"], a["size"]) for a in archives] == \
        [("img-1-1.x86_64.qcow2", "image", 4100)], archives
    assert _call(hub, "getImageArchive", archives[0]["id"], noauth=True)["arch"] == "x86_64"
    assert os.path.isfile(os.path.join(hub.topdir, "packages", "img", "1", "1", "images",
                                       "img-1-1.x86_64.qcow2"))
    assert _denied(hub, "call", "importArchive", "x/y.qcow2", "img-1-1", "maven", "{}") == \
        "GenericError: Maven support not enabled"
