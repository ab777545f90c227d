"""Users and permissions: getUser, createUser, grantPermission, revokePermission, ..."""

from __future__ import annotations

import koji
from sqlalchemy import insert, select, update

from ..db import schema as s
from .common import (
    active_at, as_int, assert_admin, check_type, get_user_row, insert_versioned, lock_rows,
    lookup, revoke,
)
from .context import context, group_perm_sources
from .names import verify_name_internal, verify_name_user
from .registry import export, read_only


def user_info(row, krb_princs=True):
    principals = [r[0] for r in context.conn.execute(
        select(s.user_krb_principals.c.krb_principal)
        .where(s.user_krb_principals.c.user_id == row["id"]))]
    info = {"id": row["id"], "name": row["name"], "status": row["status"],
            "usertype": row["usertype"]}
    if krb_princs:
        info["krb_principals"] = principals
    else:
        info["krb_principal"] = principals[0] if principals else None
    return info


@read_only
def getUser(userInfo=None, strict=False, krb_princs=True, groups=False):
    """A user by id, name or Kerberos principal (default: the logged-in user)."""
    if userInfo is None:
        if not context.user:
            if strict:
                raise koji.GenericError("No user provided")
            return None
        userInfo = context.user["id"]
    if isinstance(userInfo, dict):
        userInfo = userInfo.get("id", userInfo.get("name"))
    row = get_user_row(userInfo, strict=strict)
    if not row:
        return None
    info = user_info(row, krb_princs)
    if groups:
        from .usergroups import user_groups

        info["groups"] = list(user_groups(row["id"]).values())
    return info


@read_only
def listUsers(userType=koji.USERTYPES["NORMAL"], prefix=None, queryOpts=None, perm=None,
              inherited_perm=False):
    """Users of a type (or list of types), name prefix, permission (``perm``; with
    ``inherited_perm`` also through the groups they belong to), as Koji's listUsers."""
    if inherited_perm and not perm:
        raise koji.GenericError("inherited_perm option must be used with perm option")
    u = s.users
    q = select(u).order_by(u.c.id)
    if userType is not None:
        if isinstance(userType, (list, tuple)):
            types = [as_int(x, "userType") for x in userType]
        elif isinstance(userType, int) and not isinstance(userType, bool):
            types = [userType]
        else:
            raise koji.ParameterError("userType must be integer, list, tuple or None")
        q = q.where(u.c.usertype.in_(types))
    if prefix:
        q = q.where(u.c.name.like(check_type(prefix, str, "prefix") + "%"))
    if perm:
        perm_row = lookup(s.permissions, perm, "permission")
        if perm_row is None:
            raise koji.GenericError("No such entry in table permissions: %s" % perm)
        up = s.user_perms
        ug = getattr(s, "user_groups", None)      # group membership: schema version 5
        holders = select(up.c.user_id).where(up.c.active.is_(True),
                                             up.c.perm_id == perm_row["id"])
        cond = u.c.id.in_(holders)
        if inherited_perm and ug is not None:
            cond = cond | u.c.id.in_(select(ug.c.user_id).where(
                ug.c.active.is_(True), ug.c.group_id.in_(holders)))
        q = q.where(cond)
    return [user_info(dict(r._mapping)) for r in context.conn.execute(q)]


@export
def createUser(username, status=None, krb_principal=None):
    """Create a normal user; admin only. Returns the new id."""
    assert_admin()
    verify_name_user(username, krb_principal)
    if get_user_row(username):
        raise koji.GenericError("user already exists: %s" % username)
    uid = context.conn.execute(insert(s.users).values(
        name=username, status=status or 0, usertype=0).returning(s.users.c.id)).scalar_one()
    if krb_principal:
        context.conn.execute(insert(s.user_krb_principals).values(
            user_id=uid, krb_principal=krb_principal))
    return uid


def _set_status(userInfo, status):
    assert_admin()
    row = get_user_row(userInfo, strict=True)
    context.conn.execute(update(s.users).where(s.users.c.id == row["id"]).values(status=status))


@export
def enableUser(username):
    _set_status(username, 0)


@export
def disableUser(username):
    _set_status(username, 1)


def grant(user_id, perm_name, create=False, description=None):
    """Give ``perm_name`` to a user (internal; no permission check)."""
    lock_rows(s.users, user_id)
    perm = lookup(s.permissions, perm_name, "permission")
    if perm is None:
        if not create:
            raise koji.GenericError("No such entry in table permissions: %s" % perm_name)
        verify_name_internal(perm_name)
        pid = context.conn.execute(insert(s.permissions).values(
            name=perm_name, description=description).returning(s.permissions.c.id)).scalar_one()
        perm = {"id": pid}
    held = context.conn.execute(select(s.user_perms.c.perm_id).where(
        s.user_perms.c.user_id == user_id, s.user_perms.c.perm_id == perm["id"],
        active_at(s.user_perms))).first()
    if held:
        raise koji.GenericError("user already has permission: %s" % perm_name)
    insert_versioned(s.user_perms, user_id=user_id, perm_id=perm["id"])


@export
def grantPermission(userinfo, permission, create=False, description=None):
    """Grant ``permission`` to a user (admin)."""
    assert_admin()
    user = get_user_row(userinfo, strict=True)
    grant(user["id"], permission, create=create, description=description)


@export
def revokePermission(userinfo, permission):
    assert_admin()
    user = get_user_row(userinfo, strict=True)
    perm = lookup(s.permissions, permission, "permission", strict=True)
    if not revoke(s.user_perms, s.user_perms.c.user_id == user["id"],
                  s.user_perms.c.perm_id == perm["id"]):
        raise koji.GenericError("user does not have permission: %s" % permission)


@read_only
def getUserPerms(userID=None, with_groups=True):
    if userID is None:
        if not context.user:
            return []
        userID = context.user["id"]
    user = get_user_row(userID, strict=True)
    # as Koji: the user's own permissions in the order they were granted, then those only its
    # groups give
    up = s.user_perms
    q = (select(s.permissions.c.name)
         .select_from(up.join(s.permissions, up.c.perm_id == s.permissions.c.id))
         .where(up.c.user_id == user["id"], up.c.active.is_(True))
         .order_by(up.c.create_event, up.c.perm_id))
    names = [r[0] for r in context.conn.execute(q)]
    if with_groups:
        for perm, _group in group_perm_sources(user["id"]):
            if perm not in names:
                names.append(perm)
    return names


@export
def editPermission(permission, description):
    assert_admin()
    perm = lookup(s.permissions, permission, "permission", strict=True)
    context.conn.execute(update(s.permissions).where(s.permissions.c.id == perm["id"])
                         .values(description=description))
