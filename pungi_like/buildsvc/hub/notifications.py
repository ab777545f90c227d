"""Build notifications, as Koji's: who wants mail about which builds (by package and/or tag,
optionally only successful ones) and who blocks which. Tables ``build_notifications`` and
``build_notifications_block`` (schema version 5).

This is the storage and the API (``koji add-notification``, ``edit-notification``,
``remove-notification``, ``block-notification``, ``unblock-notification``,
``list-notifications``). No mail is sent: this hub behaves as a Koji hub with
``DisableNotifications = True`` (the address recorded is ``<user>@<EmailDomain>``, Koji's rule).

A user manages their own entries; an admin manages anyone's. Faults are Koji's words.
"""

from __future__ import annotations

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .common import as_int, get_tag_id, get_user_row, has_perm, lock_rows, lookup
from .context import context
from .registry import export, read_only

N, B = s.build_notifications, s.build_notifications_block
_N_COLS = (N.c.id, N.c.user_id, N.c.package_id, N.c.tag_id, N.c.success_only, N.c.email)
_B_COLS = (B.c.id, B.c.user_id, B.c.package_id, B.c.tag_id)


def _rows(q):
    return [dict(r._mapping) for r in context.conn.execute(q)]


def _current_user():
    if not context.user:
        raise koji.GenericError("Not logged-in")
    return context.user


def _package_id(package_id):
    if package_id is None:
        return None
    row = lookup(s.package, package_id, "package")
    if row is None:
        raise koji.GenericError("No such entry in table package: %s" % (package_id,))
    return row["id"]


def _tag_id(tag_id):
    return None if tag_id is None else get_tag_id(tag_id, strict=True)


def _target_user(user_id, what):
    me = _current_user()
    user = get_user_row(user_id) if not isinstance(user_id, (dict, list, float)) else None
    if not user:
        raise koji.GenericError("No such user ID: %s" % (user_id,))
    if user["id"] != me["id"] and not has_perm("admin"):
        raise koji.GenericError("user %s cannot create %s for user %s"
                                % (me["name"], what, user["name"]))
    # two concurrent creations for one user must see each other's row (duplicate check)
    lock_rows(s.users, user["id"])
    return user


def _email(user):
    domain = getattr(getattr(context.hub, "config", None), "email_domain", None)
    return "%s@%s" % (user["name"], domain)


def _user_id(userID):
    if userID is None and context.user:
        return context.user["id"]
    if userID is None:
        raise koji.GenericError("No user provided")
    return get_user_row(userID, strict=True)["id"]


@read_only
def getBuildNotifications(userID=None):
    """The notifications of a user (default: the logged-in one)."""
    return _rows(select(*_N_COLS).where(N.c.user_id == _user_id(userID)).order_by(N.c.id))


def _one(table, cols, id, strict, what):
    id = as_int(id, "id")
    rows = _rows(select(*cols).where(table.c.id == id))
    if not rows and strict:
        raise koji.GenericError("No %s with ID %i found" % (what, id))
    return rows[0] if rows else None


@read_only
def getBuildNotification(id, strict=False):
    """One notification by id (None, or a fault with ``strict``)."""
    return _one(N, _N_COLS, id, strict, "notification")


@read_only
def getBuildNotificationBlocks(userID=None):
    """The notification blocks of a user (default: the logged-in one)."""
    return _rows(select(*_B_COLS).where(B.c.user_id == _user_id(userID)).order_by(B.c.id))


@read_only
def getBuildNotificationBlock(id, strict=False):
    """One notification block by id (None, or a fault with ``strict``)."""
    return _one(B, _B_COLS, id, strict, "notification block")


def _exists(user_id, package_id, tag_id, success_only, exclude=None):
    q = select(N.c.id).where(N.c.user_id == user_id, N.c.success_only == success_only)
    q = q.where(N.c.package_id.is_(None) if package_id is None else N.c.package_id == package_id)
    q = q.where(N.c.tag_id.is_(None) if tag_id is None else N.c.tag_id == tag_id)
    if exclude is not None:
        q = q.where(N.c.id != exclude)
    return context.conn.execute(q).first() is not None


@export
def createNotification(user_id, package_id, tag_id, success_only):
    """Ask for mail about builds of a package and/or into a tag (None: any)."""
    user = _target_user(user_id, "notifications")
    package_id, tag_id = _package_id(package_id), _tag_id(tag_id)
    success_only = bool(success_only)
    if _exists(user["id"], package_id, tag_id, success_only):
        raise koji.GenericError("notification already exists")
    context.conn.execute(insert(N).values(user_id=user["id"], package_id=package_id,
                                          tag_id=tag_id, success_only=success_only,
                                          email=_email(user)))


def _own(row, verb, what):
    me = _current_user()
    if row["user_id"] != me["id"] and not has_perm("admin"):
        raise koji.GenericError("user %i cannot %s %s for user %i"
                                % (me["id"], verb, what, row["user_id"]))


@export
def updateNotification(id, package_id, tag_id, success_only):
    """Change a notification (its owner or an admin)."""
    _current_user()
    orig = getBuildNotification(id, strict=True)
    _own(orig, "update", "notifications")
    lock_rows(s.users, orig["user_id"])
    package_id, tag_id = _package_id(package_id), _tag_id(tag_id)
    success_only = bool(success_only)
    if _exists(orig["user_id"], package_id, tag_id, success_only):
        raise koji.GenericError("notification already exists")
    context.conn.execute(update(N).where(N.c.id == orig["id"]).values(
        package_id=package_id, tag_id=tag_id, success_only=success_only))


@export
def deleteNotification(id):
    """Remove a notification (its owner or an admin)."""
    row = getBuildNotification(id, strict=True)
    _current_user()
    _own(row, "delete", "notifications")
    context.conn.execute(delete(N).where(N.c.id == row["id"]))


@export
def createNotificationBlock(user_id, package_id=None, tag_id=None):
    """Block mail about builds of a package and/or into a tag."""
    user = _target_user(user_id, "notification blocks")
    package_id, tag_id = _package_id(package_id), _tag_id(tag_id)
    q = select(B.c.id).where(B.c.user_id == user["id"])
    q = q.where(B.c.package_id.is_(None) if package_id is None else B.c.package_id == package_id)
    q = q.where(B.c.tag_id.is_(None) if tag_id is None else B.c.tag_id == tag_id)
    if context.conn.execute(q).first():
        raise koji.GenericError("notification already exists")
    context.conn.execute(insert(B).values(user_id=user["id"], package_id=package_id,
                                          tag_id=tag_id))


@export
def deleteNotificationBlock(id):
    """Remove a notification block (its owner or an admin)."""
    row = getBuildNotificationBlock(id, strict=True)
    _current_user()
    _own(row, "delete", "notification blocks")
    context.conn.execute(delete(B).where(B.c.id == row["id"]))
