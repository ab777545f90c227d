"""Comps groups of tags: getTagGroups (with inheritance and blocking), groupListAdd, ..."""

from __future__ import annotations

import koji
from sqlalchemy import select

from ..db import schema as s
from .common import (
    active_at, assert_perm, get_tag_row, insert_versioned, lock_tag, lookup, one, revoke,
)
from .context import context
from .inheritance import read_full_inheritance
from .names import verify_name_internal
from .registry import export, read_only

_GROUP_COLS = ("blocked", "exported", "display_name", "is_default", "uservisible", "description",
               "langonly", "biarchonly")


def get_tag_groups(tag_id, event=None, inherit=True, incl_pkgs=True, incl_reqs=True):
    """{group_id: group} for a tag; the first entry of a group along the inheritance wins."""
    taglist = [tag_id]
    if inherit:
        taglist += [link["parent_id"] for link in read_full_inheritance(tag_id, event)]
    conn = context.conn
    gc, gpl, grl = s.group_config, s.group_package_listing, s.group_req_listing
    groups = {}
    for tid in taglist:
        q = (select(s.groups.c.name, gc.c.group_id, gc.c.tag_id, *[gc.c[c] for c in _GROUP_COLS])
             .select_from(gc.join(s.groups, gc.c.group_id == s.groups.c.id))
             .where(gc.c.tag_id == tid, active_at(gc, event)).order_by(gc.c.group_id))
        for r in conn.execute(q):
            groups.setdefault(r.group_id, dict(r._mapping))
    if incl_pkgs:
        for g in groups.values():
            g["packagelist"] = {}
        for tid in taglist:
            q = (select(gpl.c.group_id, gpl.c.tag_id, gpl.c.package, gpl.c.blocked, gpl.c.type,
                        gpl.c.basearchonly, gpl.c.requires)
                 .where(gpl.c.tag_id == tid, active_at(gpl, event)).order_by(gpl.c.package))
            for r in conn.execute(q):
                g = groups.get(r.group_id)
                if g is None or g["blocked"]:
                    continue
                g["packagelist"].setdefault(r.package, dict(r._mapping))
    if incl_reqs:
        for g in groups.values():
            g["grouplist"] = {}
        for tid in taglist:
            q = (select(grl.c.group_id, grl.c.tag_id, grl.c.req_id, grl.c.blocked, grl.c.type,
                        grl.c.is_metapkg, s.groups.c.name)
                 .select_from(grl.join(s.groups, grl.c.req_id == s.groups.c.id))
                 .where(grl.c.tag_id == tid, active_at(grl, event)))
            for r in conn.execute(q):
                g = groups.get(r.group_id)
                req = groups.get(r.req_id)
                if g is None or g["blocked"] or req is None or req["blocked"]:
                    continue
                g["grouplist"].setdefault(r.req_id, dict(r._mapping))
    return groups


@read_only
def getTagGroups(tag, event=None, inherit=True, incl_pkgs=True, incl_reqs=True,
                 incl_blocked=False):
    """Groups of a tag with package and group lists; blocked entries dropped unless asked."""
    tag_id = get_tag_row(tag, strict=True, event=event)["id"]
    return tag_group_list(tag_id, event, inherit, incl_pkgs, incl_reqs, incl_blocked)


def tag_group_list(tag_id, event=None, inherit=True, incl_pkgs=True, incl_reqs=True,
                   incl_blocked=False):
    """getTagGroups' answer for the tag ``tag_id``, known to exist at ``event``."""
    out = []
    for g in get_tag_groups(tag_id, event, bool(inherit), incl_pkgs, incl_reqs).values():
        for key in ("packagelist", "grouplist"):
            if key in g:
                g[key] = [x for x in g[key].values() if incl_blocked or not x["blocked"]]
        if incl_blocked or not g["blocked"]:
            out.append(g)
    return out


def _group_entry(tag_id, group_id):
    return one(context.conn.execute(select(s.group_config).where(
        s.group_config.c.tag_id == tag_id, s.group_config.c.group_id == group_id,
        s.group_config.c.active.is_(True))).first())


def _bool_opt(opts, key, default):
    return bool(opts[key]) if opts.get(key) is not None else default


@export
def groupListAdd(taginfo, grpinfo, block=False, force=False, **opts):
    """Add (or change, or block) a group in a tag (perm ``tag``)."""
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = lookup(s.groups, grpinfo, "group", create=True)
    inherited = get_tag_groups(tag_id, inherit=True, incl_pkgs=False, incl_reqs=False)
    prev = inherited.get(group["id"])
    if prev and prev["blocked"] and prev["tag_id"] != tag_id and not force:
        raise koji.GenericError("group %s is blocked in tag %s" % (group["name"], taginfo))
    base = prev or {}
    values = {
        "blocked": bool(block),
        "exported": _bool_opt(opts, "exported", base.get("exported", True)),
        "display_name": opts.get("display_name") or base.get("display_name") or group["name"],
        "is_default": _bool_opt(opts, "is_default", base.get("is_default")),
        "uservisible": _bool_opt(opts, "uservisible", base.get("uservisible", True)),
        "description": opts.get("description", base.get("description")),
        "langonly": opts.get("langonly", base.get("langonly")),
        # Koji's group_config.biarchonly is NOT NULL DEFAULT FALSE
        "biarchonly": _bool_opt(opts, "biarchonly", bool(base.get("biarchonly"))),
    }
    current = _group_entry(tag_id, group["id"])
    if current and all(current[k] == v for k, v in values.items()):
        return None
    revoke(s.group_config, s.group_config.c.tag_id == tag_id,
           s.group_config.c.group_id == group["id"])
    insert_versioned(s.group_config, tag_id=tag_id, group_id=group["id"], **values)


@export
def groupListBlock(taginfo, grpinfo):
    groupListAdd(taginfo, grpinfo, block=True)


@export
def groupListRemove(taginfo, grpinfo, force=False):
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = lookup(s.groups, grpinfo, "group", strict=True)
    if not revoke(s.group_config, s.group_config.c.tag_id == tag_id,
                  s.group_config.c.group_id == group["id"]):
        raise koji.GenericError("group %s not present in tag %s" % (group["name"], taginfo))


@export
def groupListUnblock(taginfo, grpinfo):
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = lookup(s.groups, grpinfo, "group", strict=True)
    cur = _group_entry(tag_id, group["id"])
    if not cur or not cur["blocked"]:
        raise koji.GenericError("group %s is NOT blocked in tag %s" % (group["name"], taginfo))
    revoke(s.group_config, s.group_config.c.tag_id == tag_id,
           s.group_config.c.group_id == group["id"])


def _group_of(tag_id, grpinfo):
    group = lookup(s.groups, grpinfo, "group", strict=True)
    if group["id"] not in get_tag_groups(tag_id, incl_pkgs=False, incl_reqs=False):
        raise koji.GenericError("group %s not present in tag" % group["name"])
    return group


@export
def groupPackageListAdd(taginfo, grpinfo, pkg_name, block=False, force=False, **opts):
    """Add a package to a group of a tag; type defaults to mandatory (perm ``tag``)."""
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = _group_of(tag_id, grpinfo)
    verify_name_internal(pkg_name)
    gpl = s.group_package_listing
    values = {"blocked": bool(block), "type": opts.get("type") or "mandatory",
              "basearchonly": opts.get("basearchonly"), "requires": opts.get("requires")}
    cur = one(context.conn.execute(select(gpl).where(
        gpl.c.tag_id == tag_id, gpl.c.group_id == group["id"], gpl.c.package == pkg_name,
        gpl.c.active.is_(True))).first())
    if cur and all(cur[k] == v for k, v in values.items()):
        return None
    revoke(gpl, gpl.c.tag_id == tag_id, gpl.c.group_id == group["id"], gpl.c.package == pkg_name)
    insert_versioned(gpl, tag_id=tag_id, group_id=group["id"], package=pkg_name, **values)


@export
def groupPackageListBlock(taginfo, grpinfo, pkg_name):
    groupPackageListAdd(taginfo, grpinfo, pkg_name, block=True)


@export
def groupPackageListRemove(taginfo, grpinfo, pkg_name, force=False):
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = lookup(s.groups, grpinfo, "group", strict=True)
    gpl = s.group_package_listing
    if not revoke(gpl, gpl.c.tag_id == tag_id, gpl.c.group_id == group["id"],
                  gpl.c.package == pkg_name):
        raise koji.GenericError("package %s not in group %s" % (pkg_name, group["name"]))


@export
def groupPackageListUnblock(taginfo, grpinfo, pkg_name):
    groupPackageListRemove(taginfo, grpinfo, pkg_name)


@export
def groupReqListAdd(taginfo, grpinfo, reqinfo, block=False, force=False, **opts):
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = _group_of(tag_id, grpinfo)
    req = _group_of(tag_id, reqinfo)
    grl = s.group_req_listing
    revoke(grl, grl.c.tag_id == tag_id, grl.c.group_id == group["id"], grl.c.req_id == req["id"])
    insert_versioned(grl, tag_id=tag_id, group_id=group["id"], req_id=req["id"],
                     blocked=bool(block), type=opts.get("type") or "mandatory",
                     is_metapkg=bool(opts.get("is_metapkg")))


@export
def groupReqListRemove(taginfo, grpinfo, reqinfo, force=None):
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    group = lookup(s.groups, grpinfo, "group", strict=True)
    req = lookup(s.groups, reqinfo, "group", strict=True)
    grl = s.group_req_listing
    revoke(grl, grl.c.tag_id == tag_id, grl.c.group_id == group["id"], grl.c.req_id == req["id"])
