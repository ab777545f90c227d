"""User edits and user groups: editUser, newGroup, addGroupMember, dropGroupMember,
getGroupMembers, getUserGroups, getUserPermsInheritance.

Groups are users of type GROUP, as in Koji. This hub's schema has no membership table
(Koji's ``user_groups``) yet, so a group has no members: the reads answer that truthfully
(no members, no groups, permissions all direct) and adding a member is refused with a fault
that says so, instead of pretending to succeed.
"""

from __future__ import annotations

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .common import assert_admin, check_type, get_user_row
from .context import context
from .names import verify_name_internal, verify_name_user
from .registry import export, read_only
from .users import getUserPerms

GROUP = koji.USERTYPES["GROUP"]


def _user(info):
    if isinstance(info, dict):
        info = info.get("id", info.get("name", info.get("krb_principal")))
    return get_user_row(info, strict=True)


def _group(info, fault="Not a group: %s"):
    if isinstance(info, dict):
        info = info.get("id", info.get("name"))
    row = get_user_row(info)
    if not row or row["usertype"] != GROUP:
        raise koji.GenericError(fault % (info,))
    return row


@export
def editUser(userInfo, name=None, krb_principal_mappings=None):
    """Rename a user and/or change its Kerberos principals (admin).

    ``krb_principal_mappings``: ``[{'old': P or None, 'new': P or None}, ...]``."""
    assert_admin()
    user = _user(userInfo)
    if name and user["name"] != name:
        verify_name_user(name=name)
        taken = get_user_row(name)
        if taken and taken["id"] != user["id"]:
            raise koji.GenericError("Name %s already taken by user %s" % (name, taken["id"]))
        context.conn.execute(update(s.users).where(s.users.c.id == user["id"]).values(name=name))
    if not krb_principal_mappings:
        return None
    check_type(krb_principal_mappings, list, "krb_principal_mappings")
    added, removed = set(), set()
    for pair in krb_principal_mappings:
        check_type(pair, dict, "krb_principal_mappings entry")
        old, new = pair.get("old"), pair.get("new")
        if old:
            removed.add(check_type(old, str, "old principal"))
        if new:
            verify_name_user(krb=new)
            added.add(new)
    kp = s.user_krb_principals
    current = {r[0] for r in context.conn.execute(select(kp.c.krb_principal).where(
        kp.c.user_id == user["id"]))}
    missing = removed - current
    if missing:
        raise koji.GenericError("Cannot remove non-existent Kerberos principals: %s"
                                % ", ".join(sorted(missing)))
    clash = added - removed
    for principal in sorted(clash):
        owner = context.conn.execute(select(kp.c.user_id).where(
            kp.c.krb_principal == principal)).first()
        if owner:
            raise koji.GenericError("Cannot add existing Kerberos principals: %s" % principal)
    for principal in sorted(removed - added):
        context.conn.execute(delete(kp).where(kp.c.user_id == user["id"],
                                              kp.c.krb_principal == principal))
    for principal in sorted(added - removed):
        context.conn.execute(insert(kp).values(user_id=user["id"], krb_principal=principal))


@export
def newGroup(name):
    """Create a user group (admin); returns its id."""
    assert_admin()
    verify_name_internal(name)
    verify_name_user(name)
    if get_user_row(name):
        raise koji.GenericError("user/group already exists: %s" % name)
    return context.conn.execute(insert(s.users).values(
        name=name, status=koji.USER_STATUS["NORMAL"], usertype=GROUP)
        .returning(s.users.c.id)).scalar_one()


@export
def addGroupMember(group, user, strict=True):
    """Group membership needs storage this hub does not have yet: a clear fault."""
    assert_admin()
    _group(group)
    uinfo = get_user_row(user)
    if not uinfo:
        raise koji.GenericError("Not a user: %s" % (user,))
    if uinfo["usertype"] == GROUP:
        raise koji.GenericError("Groups cannot be members of other groups")
    raise koji.GenericError("Group membership is not supported by this hub")


@export
def dropGroupMember(group, user):
    """No user is a member of a group on this hub, so there is nobody to drop."""
    assert_admin()
    _user(user)
    _group(group)
    raise koji.GenericError("No such user in group: %s" % (group,))


@read_only
def getGroupMembers(group):
    """Members of a group: none on this hub (see the module docstring)."""
    _group(group, "No such group: %s")
    return []


@read_only
def getUserGroups(user):
    """Groups a user belongs to: none on this hub (see the module docstring)."""
    _user(user)
    return []


@read_only
def getUserPermsInheritance(userID):
    """``{permission: [source, ...]}`` where a source is None for a direct grant (the only
    kind on this hub) or a group name."""
    user = _user(userID)
    return {perm: [None] for perm in getUserPerms(user["id"])}
