"""Package lists of tags: listPackages, packageListAdd/Block/Unblock/Remove, owners."""

from __future__ import annotations

import re

import koji
from sqlalchemy import select

from ..db import schema as s
from .common import (
    active_at, assert_login, get_tag_row, get_user_row, insert_versioned, lookup,
    lock_tag, one, revoke,
)
from .context import context
from .context import user_id as current_user_id
from .inheritance import read_full_inheritance
from .registry import export, read_only


def _query(event, with_blocked):
    tp = s.tag_packages
    cols = [s.package.c.id.label("package_id"), s.package.c.name.label("package_name"),
            s.tag.c.id.label("tag_id"), s.tag.c.name.label("tag_name"),
            tp.c.extra_arches, tp.c.blocked]
    frm = tp.join(s.tag, s.tag.c.id == tp.c.tag_id).join(s.package,
                                                           s.package.c.id == tp.c.package_id)
    q = select(*cols).select_from(frm).where(active_at(tp, event))
    if not with_blocked:
        q = q.where(tp.c.blocked.is_(False))
    return q


def _owners(event, tag_id=None, pkg_id=None, user_id=None):
    """{(tag_id, package_id): (owner_id, owner_name)} of the owner rows current at ``event``.

    Read apart from the package entries and matched in Python: joined in SQL, SQLite without
    statistics (a hub never runs ANALYZE) drove the join from the owners' ``active`` index and
    looked up every entry of the tag per owner row, 15 s for a 4,000-package tag."""
    own = s.tag_package_owners
    q = (select(own.c.tag_id, own.c.package_id, s.users.c.id, s.users.c.name)
         .select_from(own.join(s.users, s.users.c.id == own.c.owner))
         .where(active_at(own, event)))
    if tag_id is not None:
        q = q.where(own.c.tag_id == tag_id)
    if pkg_id is not None:
        q = q.where(own.c.package_id == pkg_id)
    if user_id is not None:
        q = q.where(own.c.owner == user_id)
    return {(tid, pid): (uid, name) for tid, pid, uid, name in context.conn.execute(q)}


def read_package_list(tag_id=None, user_id=None, pkg_id=None, event=None, inherit=False,
                      with_dups=False, with_owners=True, with_blocked=True):
    """{package_id: entry} (or lists of entries with ``with_dups``); blocked entries included.

    With ``inherit`` the tag's own entries win, then parents in full-inheritance order, each
    filtered by the link's accumulated pkg_filter regexes; the first entry of a package wins.
    With ``with_owners`` (or ``user_id``) an entry needs a current owner row (as an inner
    join) and carries ``owner_id``/``owner_name``.
    """
    base = _query(event, with_blocked)
    if pkg_id is not None:
        base = base.where(s.package.c.id == pkg_id)
    with_owners = with_owners or user_id is not None

    packages = {}

    def add(tid, filters=()):
        rows = context.conn.execute(base if tid is None else base.where(s.tag.c.id == tid))
        owners = _owners(event, tid, pkg_id, user_id) if with_owners else None
        keys = list(rows.keys())
        for r in rows.fetchall():
            p = dict(zip(keys, r))
            if owners is not None:
                owner = owners.get((p["tag_id"], p["package_id"]))
                if owner is None:
                    continue
                p["owner_id"], p["owner_name"] = owner
            if filters and not all(f.match(p["package_name"]) for f in filters):
                continue
            if with_dups:
                packages.setdefault(p["package_id"], []).append(p)
            elif p["package_id"] not in packages:
                packages[p["package_id"]] = p

    if tag_id is None:
        add(None)
        return packages
    add(tag_id)
    if inherit:
        for link in read_full_inheritance(tag_id, event):
            add(link["parent_id"], [re.compile(p) for p in link["filter"]])
    return packages


def owner_of(tag_id, pkg_id):
    r = context.conn.execute(select(s.tag_package_owners.c.owner).where(
        s.tag_package_owners.c.tag_id == tag_id, s.tag_package_owners.c.package_id == pkg_id,
        s.tag_package_owners.c.active.is_(True))).first()
    return r[0] if r else None


@read_only
def getPackage(info, strict=False, create=False):
    row = lookup(s.package, info, "package", strict=strict)
    return {"id": row["id"], "name": row["name"]} if row else None


@read_only
def getPackageID(name, strict=False):
    row = lookup(s.package, name, "package", strict=strict)
    return row["id"] if row else None


@read_only
def listPackages(tagID=None, userID=None, pkgID=None, prefix=None, inherited=False,
                 with_dups=False, event=None, queryOpts=None, with_owners=True,
                 with_blocked=True):
    """Packages in tags (with owners and blocking), or every package when no filter is given."""
    if tagID is None and userID is None and pkgID is None:
        q = select(s.package.c.id, s.package.c.name).order_by(s.package.c.name)
        results = [{"package_id": r.id, "package_name": r.name}
                   for r in context.conn.execute(q)]
    else:
        if userID is not None and not with_owners:
            raise koji.GenericError("userID and with_owners=False can't be used together")
        # the tag must exist now, not at ``event`` (as Koji's get_tag_id): at an event before
        # the tag was made the list is simply empty
        tag_id = None
        if tagID is not None:
            tag_row = get_tag_row(tagID) or lookup(s.tag, tagID, "tagInfo")
            tag_id = (tag_row or get_tag_row(tagID, strict=True))["id"]
        user_id = get_user_row(userID, strict=True)["id"] if userID is not None else None
        pkg_id = lookup(s.package, pkgID, "package", strict=True)["id"] \
            if pkgID is not None else None
        found = read_package_list(tag_id, user_id, pkg_id, event, bool(inherited),
                                  bool(with_dups), with_owners, with_blocked)
        results = []
        for v in found.values():
            results.extend(v if with_dups else [v])
    if prefix:
        results = [p for p in results if p["package_name"].lower().startswith(prefix.lower())]
    return apply_query_opts(results, queryOpts)


def apply_query_opts(results, queryOpts):
    """Koji's queryOpts on a result list: order (``-key`` descending), offset, limit, countOnly."""
    if not queryOpts:
        return results
    if not isinstance(queryOpts, dict):
        raise koji.ParameterError("Invalid queryOpts: a struct expected, not %r" % (queryOpts,))
    order = queryOpts.get("order")
    if order:
        for key in reversed(order.split(",")):
            desc = key.startswith("-")
            key = key.lstrip("-")
            results.sort(key=lambda r: (r.get(key) is None, r.get(key)), reverse=desc)
    offset = queryOpts.get("offset") or 0
    limit = queryOpts.get("limit")
    results = results[offset:offset + limit if limit is not None else None]
    if queryOpts.get("countOnly"):
        return len(results)
    return results


def _check_package_perm(tag_id, action, package, force=False):
    """The hub's ``package_list`` policy (Koji's data: tag id, action, package, force)."""
    from .policy import assert_policy

    assert_login()
    assert_policy("package_list", {"tag": tag_id, "action": action, "package": package,
                                   "force": force}, force=force)


def pkglist_add(tag, pkg, owner=None, block=None, extra_arches=None, force=False, update=False,
                check_perm=True):
    tag_row = get_tag_row(tag, strict=True)
    tag_id = tag_row["id"]
    lock_tag(tag_id)
    if check_perm:
        _check_package_perm(tag_id, "update" if update else "block" if block else "add", pkg,
                            force)
    if not isinstance(pkg, (int, str)) or isinstance(pkg, bool):
        raise koji.ParameterError("Invalid type for package: %s" % type(pkg))
    pkg_row = lookup(s.package, pkg, "package", strict=isinstance(pkg, int), create=True)
    pkg_id = pkg_row["id"]
    owner_id = get_user_row(owner, strict=True)["id"] if owner is not None else None
    if extra_arches is not None:
        extra_arches = " ".join(str(extra_arches).replace(",", " ").split())
    # The effective entry (the tag's own or an inherited one) decides, as in Koji: a new
    # listing row is written only when there is none or blocking/extra arches change; a
    # different owner alone is recorded as an owner row of this tag, so an inherited entry
    # stays inherited (and shows its own tag's owner).
    prev = read_package_list(tag_id, pkg_id=pkg_id, inherit=True).get(pkg_id)
    changed = changed_owner = False
    if prev is None:
        block = bool(block)
        if update and not force:
            raise koji.GenericError("cannot update: tag %s has no data for package %s"
                                    % (tag_row["name"], pkg_row["name"]))
    else:
        if owner_id is None:
            owner_id = prev["owner_id"]
        changed_owner = prev["owner_id"] != owner_id
        block = prev["blocked"] if block is None else bool(block)
        if extra_arches is None:
            extra_arches = prev["extra_arches"]
        changed = prev["blocked"] != block or prev["extra_arches"] != extra_arches
        if not (changed or changed_owner or force):
            return
        if prev["blocked"] and not block and not force:
            raise koji.GenericError("package %s is blocked in tag %s"
                                    % (pkg_row["name"], tag_row["name"]))
    if owner_id is None:
        if not force:
            raise koji.GenericError("owner not specified")
        owner_id = current_user_id()
    if prev is None or changed:
        revoke(s.tag_packages, s.tag_packages.c.tag_id == tag_id,
               s.tag_packages.c.package_id == pkg_id)
        insert_versioned(s.tag_packages, tag_id=tag_id, package_id=pkg_id, blocked=block,
                         extra_arches=extra_arches)
    if prev is None or changed or changed_owner:
        revoke(s.tag_package_owners, s.tag_package_owners.c.tag_id == tag_id,
               s.tag_package_owners.c.package_id == pkg_id)
        insert_versioned(s.tag_package_owners, tag_id=tag_id, package_id=pkg_id, owner=owner_id)


@export
def packageListAdd(taginfo, pkginfo, owner=None, block=None, extra_arches=None, force=False,
                   update=False):
    """Add a package to a tag's list (the ``package_list`` policy: tag or admin by default)."""
    pkglist_add(taginfo, pkginfo, owner, block, extra_arches, force, update)


@export
def packageListBlock(taginfo, pkginfo, force=False):
    pkglist_add(taginfo, pkginfo, block=True, force=force, owner=None)


@export
def packageListUnblock(taginfo, pkginfo, force=False):
    tag_row = get_tag_row(taginfo, strict=True)
    lock_tag(tag_row["id"])
    pkg_row = lookup(s.package, pkginfo, "package", strict=True)
    _check_package_perm(tag_row["id"], "unblock", pkg_row["id"], force)
    own = one(context.conn.execute(select(s.tag_packages).where(
        s.tag_packages.c.tag_id == tag_row["id"], s.tag_packages.c.package_id == pkg_row["id"],
        s.tag_packages.c.active.is_(True))).first())
    if own is None or not own["blocked"]:
        raise koji.GenericError("package %s NOT blocked in tag %s"
                                % (pkg_row["name"], tag_row["name"]))
    revoke(s.tag_packages, s.tag_packages.c.tag_id == tag_row["id"],
           s.tag_packages.c.package_id == pkg_row["id"])
    # When no parent makes the package visible (unblocked) again, keep an unblocked entry here.
    visible = read_package_list(tag_row["id"], pkg_id=pkg_row["id"], inherit=True,
                                with_owners=False).get(pkg_row["id"])
    if visible is None or visible["blocked"]:
        insert_versioned(s.tag_packages, tag_id=tag_row["id"], package_id=pkg_row["id"],
                         blocked=False, extra_arches=own["extra_arches"])


@export
def packageListRemove(taginfo, pkginfo, force=False):
    tag_row = get_tag_row(taginfo, strict=True)
    lock_tag(tag_row["id"])
    pkg_row = lookup(s.package, pkginfo, "package", strict=True)
    _check_package_perm(tag_row["id"], "remove", pkg_row["id"], force)
    for table in (s.tag_packages, s.tag_package_owners):
        revoke(table, table.c.tag_id == tag_row["id"], table.c.package_id == pkg_row["id"])


@export
def packageListSetOwner(taginfo, pkginfo, owner, force=False):
    pkglist_add(taginfo, pkginfo, owner=owner, force=force, update=True)


@export
def packageListSetArches(taginfo, pkginfo, arches, force=False):
    pkglist_add(taginfo, pkginfo, extra_arches=arches, force=force, update=True)
