"""User edits and user groups: editUser, newGroup, addGroupMember, dropGroupMember,
getGroupMembers, getUserGroups, getUserPermsInheritance.

Groups are users of type GROUP, as in Koji; a membership is a versioned ``user_groups`` row
(schema version 5), so ``queryHistory`` shows who added or dropped whom and when. A member holds
every permission granted to its groups (``context.perms``, ``getUserPerms``), which is what
permission checks and the ``hasPerm`` policy test see.
"""

from __future__ import annotations

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .common import (
    assert_admin, check_type, get_user_row, insert_versioned, lock_rows, revoke,
)
from .context import context, group_perm_sources
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


def user_groups(user_id):
    """``{group id: group name}`` of the groups ``user_id`` is currently a member of."""
    ug, u = s.user_groups, s.users
    q = (select(ug.c.group_id, u.c.name).select_from(ug.join(u, u.c.id == ug.c.group_id))
         .where(ug.c.user_id == user_id, ug.c.active.is_(True), u.c.usertype == GROUP))
    return {r[0]: r[1] for r in context.conn.execute(q)}


@export
def addGroupMember(group, user, strict=True):
    """Make ``user`` a member of ``group`` (admin). A current member is a fault, or nothing
    with ``strict=False``."""
    assert_admin()
    ginfo = get_user_row(group) if not isinstance(group, dict) else None
    if ginfo is None or ginfo["usertype"] != GROUP:
        raise koji.GenericError("Not a group: %s" % (group,))
    uinfo = get_user_row(user) if not isinstance(user, dict) else None
    if not uinfo:
        raise koji.GenericError("Not a user: %s" % (user,))
    if uinfo["usertype"] == GROUP:
        raise koji.GenericError("Groups cannot be members of other groups")
    # concurrent adds of the same member wait here and then see the committed row
    lock_rows(s.users, ginfo["id"])
    ug = s.user_groups
    current = context.conn.execute(select(ug.c.user_id).where(
        ug.c.user_id == uinfo["id"], ug.c.group_id == ginfo["id"],
        ug.c.active.is_(True))).first()
    if current:
        if not strict:
            return None
        raise koji.GenericError("User already in group")
    insert_versioned(ug, user_id=uinfo["id"], group_id=ginfo["id"])
    return None


@export
def dropGroupMember(group, user):
    """End ``user``'s membership of ``group`` (admin)."""
    assert_admin()
    uinfo = _user(user)
    ginfo = get_user_row(group) if not isinstance(group, dict) else None
    if ginfo is None or ginfo["usertype"] != GROUP:
        raise koji.GenericError("Not a group: %s" % (group,))
    lock_rows(s.users, ginfo["id"])
    if not revoke(s.user_groups, s.user_groups.c.user_id == uinfo["id"],
                  s.user_groups.c.group_id == ginfo["id"]):
        raise koji.GenericError("No such user in group: %s" % (group,))
    return None


@read_only
def getGroupMembers(group):
    """The current members of a group: ``[{id, name, usertype, krb_principals}]``."""
    ginfo = _group(group, "No such group: %s")
    ug, u, kp = s.user_groups, s.users, s.user_krb_principals
    rows = context.conn.execute(
        select(u.c.id, u.c.name, u.c.usertype).select_from(ug.join(u, u.c.id == ug.c.user_id))
        .where(ug.c.group_id == ginfo["id"], ug.c.active.is_(True)).order_by(u.c.id)).all()
    principals = {}
    if rows:
        for uid, principal in context.conn.execute(
                select(kp.c.user_id, kp.c.krb_principal)
                .where(kp.c.user_id.in_([r[0] for r in rows])).order_by(kp.c.krb_principal)):
            principals.setdefault(uid, []).append(principal)
    return [{"id": r[0], "name": r[1], "usertype": r[2], "krb_principals": principals.get(r[0], [])}
            for r in rows]


@read_only
def getUserGroups(user):
    """The groups a user belongs to: ``[{id, name}]``."""
    uinfo = _user(user)
    return [{"id": gid, "name": name} for gid, name in sorted(user_groups(uinfo["id"]).items())]


@read_only
def getUserPermsInheritance(userID):
    """``{permission: [source, ...]}`` where a source is None for a direct grant or the name
    of a group the permission comes from."""
    user = _user(userID)
    result = {perm: [None] for perm in getUserPerms(user["id"], with_groups=False)}
    for perm, group in group_perm_sources(user["id"]):
        result.setdefault(perm, []).append(group)
    return result
