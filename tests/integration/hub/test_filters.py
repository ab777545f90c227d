"""Filters the hub used to ignore (issue 11), through the real koji 1.36.1 CLI on SQLite and
PostgreSQL: ``list-builds --source``'s glob reaches listBuilds, ``listUsers(perm=...)``,
``list-history --cg``, ``list-pkgs --event`` at an event before the tag existed, and the
faults of ``wrapper-rpm``/``wrapperRPM`` with Maven off."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _fault_of(err):
    return err.strip().splitlines()[-1].split("koji: ", 1)[-1]


def _call(hub, *args, user="kojiadmin", noauth=False):
    return json.loads(hub.out("call", "--json-output", *args, user=user, noauth=noauth))


def test_list_users_perm_filter(hub, koji_available):
    for user in ("alice", "bob"):      # users are made at their first login
        hub.koji("hello", user=user)
    hub.koji("grant-permission", "repo", "alice")
    names = [u["name"] for u in _call(hub, "--python", "listUsers", "perm='repo'",
                                      noauth=True)]
    assert names == ["alice"], names
    admins = [u["name"] for u in _call(hub, "--python", "listUsers", "perm='admin'",
                                       noauth=True)]
    assert admins == ["kojiadmin"], admins
    everyone = {u["name"] for u in _call(hub, "listUsers", noauth=True)}
    assert {"kojiadmin", "alice", "bob"} <= everyone
    # inherited_perm: through groups (none here, so the same users)
    names = [u["name"] for u in _call(hub, "--python", "listUsers", "perm='repo'",
                                      "inherited_perm=True", noauth=True)]
    assert names == ["alice"], names
    hub.koji("revoke-permission", "repo", "alice")
    assert _call(hub, "--python", "listUsers", "perm='repo'", noauth=True) == []
    rc, _o, err = hub.koji("call", "--python", "listUsers", "perm='nosuchperm'", noauth=True,
                           check=False)
    assert _fault_of(err) == "GenericError: No such entry in table permissions: nosuchperm"
    rc, _o, err = hub.koji("call", "--python", "listUsers", "inherited_perm=True", noauth=True,
                           check=False)
    assert _fault_of(err) == \
        "GenericError: inherited_perm option must be used with perm option", err
    # a list of user types, as Koji takes it
    types = {u["usertype"] for u in _call(hub, "--python", "listUsers", "userType=[0, 1]",
                                          noauth=True)}
    assert 0 in types


def test_list_pkgs_event_before_the_tag_and_history_cg(hub, koji_available):
    before = _call(hub, "getLastEvent", noauth=True)["id"]
    hub.koji("add-tag", "later")
    hub.koji("add-pkg", "--owner", "kojiadmin", "later", "pkg1")
    # at an event before the tag was made: an empty list, as Koji prints it (exit 1)
    rc, out, err = hub.koji("list-pkgs", "--tag", "later", "--event", before, noauth=True,
                            check=False)
    assert rc == 1 and "(no matching packages)" in err, (out, err)
    assert out.startswith("Querying at event %d" % before), out
    assert "pkg1" in hub.out("list-pkgs", "--tag", "later", "--quiet", noauth=True)
    # a tag that does not exist at all is still an error
    rc, _o, err = hub.koji("list-pkgs", "--tag", "nosuchtag", "--event", before, noauth=True,
                           check=False)
    assert rc != 0 and "No such tag: nosuchtag" in err, err
    # list-history --cg: the filter reaches the hub (it was ignored: all history came back)
    rc, out, err = hub.koji("list-history", "--cg", "nosuchcg", noauth=True, check=False)
    assert rc != 0 and "No such entry in table content_generator: nosuchcg" in err, (out, err)
    assert "later" not in out
    for user in ("alice", "bob"):
        hub.koji("hello", user=user)
    hub.koji("grant-cg-access", "alice", "mycg", "--new")
    hub.koji("grant-cg-access", "bob", "othercg", "--new")
    lines = hub.out("list-history", "--cg", "mycg", noauth=True).splitlines()
    assert len(lines) == 1 and "user alice added to content generator mycg" in lines[0], lines


def test_wrapper_rpm_answers_as_koji_without_maven(hub, koji_available):
    hub.koji("add-tag", "t1")
    hub.koji("add-tag", "t1-build", "--arches", "x86_64")
    hub.koji("add-target", "t1", "t1-build", "t1")
    rc, _o, err = hub.koji("wrapper-rpm", "t1", "foo-1-1", "git://example.invalid/x#1",
                           check=False)
    assert rc != 0 and _fault_of(err) == "GenericError: Maven support not enabled", err
    # anonymous callers are told to log in first (Koji checks the login before the feature)
    rc, _o, err = hub.koji("call", "wrapperRPM", "foo-1-1", "git://x#1", "t1", noauth=True,
                           check=False)
    assert rc != 0 and "ActionNotAllowed" in _fault_of(err), err
