"""Features of schema version 5, driven through the real koji 1.36.1 CLI (``koji call`` where
the CLI has no command) on SQLite and PostgreSQL: group membership with inherited permissions,
side tags (the sidetag plugin's commands), draft builds and their promotion, content generator
imports, and build notifications. Each checks the data and the permission denials."""

from __future__ import annotations

import json

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
