"""Tags: listTags, getTag, createTag, editTag2, deleteTag, getBuildConfig."""

from __future__ import annotations

import fnmatch
import json

import koji
from sqlalchemy import insert, select

from ..db import schema as s
from .common import (
    active_at, as_bool, assert_perm, get_tag_row, insert_versioned, lock_tag, lookup,
    name_map, note_tag_update, one, revoke,
)
from .context import context
from .names import verify_name_internal
from .registry import export, read_only

_CONFIG_FIELDS = ("arches", "perm_id", "locked", "maven_support", "maven_include_all")


def _config(tag_id, event=None):
    return one(context.conn.execute(select(s.tag_config).where(
        s.tag_config.c.tag_id == tag_id, active_at(s.tag_config, event))).first())


def read_extra(tag_id, event=None, blocked=False):
    """A tag's own extra values; with ``blocked`` as ``{key: [is_blocked, value]}``."""
    rows = context.conn.execute(select(s.tag_extra.c.key, s.tag_extra.c.value).where(
        s.tag_extra.c.tag_id == tag_id, active_at(s.tag_extra, event)))
    extra = {}
    for key, value in rows:
        if value is None:
            if blocked:
                extra[key] = [True, None]
        else:
            v = json.loads(value)
            extra[key] = [False, v] if blocked else v
    return extra


def tag_info(row, event=None, blocked=False):
    """The getTag dict of a tag row ``{id, name}``."""
    cfg = _config(row["id"], event)
    perm = name_map(s.permissions, [cfg["perm_id"]]).get(cfg["perm_id"])
    info = {"id": row["id"], "name": row["name"], "perm_id": cfg["perm_id"], "perm": perm,
            "arches": cfg["arches"], "locked": cfg["locked"],
            "maven_support": cfg["maven_support"], "maven_include_all": cfg["maven_include_all"],
            "extra": read_extra(row["id"], event, blocked)}
    if event is not None:
        info["query_event"] = event
    return info


@read_only
def getTag(tagInfo, strict=False, event=None, blocked=False):
    """A tag by id or name (as of ``event``), or None."""
    row = get_tag_row(tagInfo, strict=strict, event=event)
    return tag_info(row, event, blocked) if row else None


@read_only
def listTags(build=None, package=None, perms=True, queryOpts=None, pattern=None):
    """Every current tag, or those a build is tagged in, or those listing a package; in the
    order the tags were created, as Koji (the CLI sorts where it prints a list)."""
    conn = context.conn
    q = select(s.tag.c.id, s.tag.c.name).select_from(
        s.tag.join(s.tag_config, s.tag_config.c.tag_id == s.tag.c.id)).where(
        s.tag_config.c.active.is_(True)).order_by(s.tag.c.id)
    pkg_rows = {}
    if build is not None:
        from .builds import get_build_row

        b = get_build_row(build, strict=True)
        q = q.where(s.tag.c.id.in_(select(s.tag_listing.c.tag_id).where(
            s.tag_listing.c.build_id == b["id"], s.tag_listing.c.active.is_(True))))
    if package is not None:
        pkg = lookup(s.package, package, "package", strict=True)
        for r in conn.execute(select(s.tag_packages).where(
                s.tag_packages.c.package_id == pkg["id"], s.tag_packages.c.active.is_(True))):
            pkg_rows[r.tag_id] = r
        q = q.where(s.tag.c.id.in_(list(pkg_rows)))
    out = []
    for r in conn.execute(q):
        if pattern and not fnmatch.fnmatchcase(r.name, pattern):
            continue
        info = tag_info({"id": r.id, "name": r.name})
        del info["extra"]
        if package is not None:
            from .packages import owner_of

            pr = pkg_rows[r.id]
            owner_id = owner_of(r.id, pr.package_id)
            info.update(blocked=pr.blocked, extra_arches=pr.extra_arches, owner_id=owner_id,
                        owner_name=name_map(s.users, [owner_id]).get(owner_id),
                        package_id=pr.package_id, package_name=package
                        if isinstance(package, str) else None)
        out.append(info)
    return out


def _check_name(name):
    verify_name_internal(name)


def _perm_id(perm):
    if perm is None:
        return None
    return lookup(s.permissions, perm, "permission", strict=True)["id"]


def _arches(arches):
    if arches is None:
        return None
    if isinstance(arches, list):
        arches = " ".join(str(a) for a in arches)
    if not isinstance(arches, str):
        raise koji.ParameterError("Invalid type for arches: %s" % type(arches))
    # Koji's rule ([a-zA-Z0-9_-]): arches name repo directories (repos/<tag>/<id>/<arch>)
    return koji.parse_arches(arches) or None


def _set_extra(tag_id, extra=None, remove_extra=(), block_extra=()):
    for key in list(remove_extra or ()) + list(block_extra or ()):
        revoke(s.tag_extra, s.tag_extra.c.tag_id == tag_id, s.tag_extra.c.key == key)
    for key in block_extra or ():
        insert_versioned(s.tag_extra, tag_id=tag_id, key=key, value=None)
    for key, value in sorted((extra or {}).items()):
        revoke(s.tag_extra, s.tag_extra.c.tag_id == tag_id, s.tag_extra.c.key == key)
        insert_versioned(s.tag_extra, tag_id=tag_id, key=key, value=json.dumps(value))


@export
def createTag(name, parent=None, arches=None, perm=None, locked=False, maven_support=False,
              maven_include_all=False, extra=None):
    """Create a tag (perm ``tag``); a parent becomes an inheritance link at priority 0."""
    assert_perm("tag")
    return create_tag(name, parent, arches, perm, locked, maven_support, maven_include_all,
                      extra)


def create_tag(name, parent=None, arches=None, perm=None, locked=False, maven_support=False,
               maven_include_all=False, extra=None):
    """createTag without the permission check (side tags are made by their users)."""
    _check_name(name)
    if get_tag_row(name):
        raise koji.GenericError("A tag with the name '%s' already exists" % name)
    parent_row = get_tag_row(parent) if parent is not None else None
    if parent is not None and parent_row is None:
        raise koji.GenericError("Parent tag '%s' could not be found" % (parent,))
    # A deleted tag keeps its id; re-creating the name reuses it.
    row = lookup(s.tag, name, "tag")
    if row is None:
        tag_id = context.conn.execute(insert(s.tag).values(name=name)
                                      .returning(s.tag.c.id)).scalar_one()
    else:
        tag_id = row["id"]
    insert_versioned(s.tag_config, tag_id=tag_id, arches=_arches(arches), perm_id=_perm_id(perm),
                     locked=as_bool(locked), maven_support=as_bool(maven_support),
                     maven_include_all=as_bool(maven_include_all))
    _set_extra(tag_id, extra)
    if parent_row:
        insert_versioned(s.tag_inheritance, tag_id=tag_id, parent_id=parent_row["id"],
                         priority=0, maxdepth=None, intransitive=False, noconfig=False,
                         pkg_filter="")
    return tag_id


@export
def editTag2(tagInfo, **kwargs):
    """Change a tag: name, arches, locked, perm/perm_id, maven_*, extra, remove/block_extra."""
    assert_perm("tag")
    row = get_tag_row(tagInfo, strict=True)
    lock_tag(row["id"])
    known = {"name", "arches", "locked", "perm", "perm_id", "maven_support",
             "maven_include_all", "extra", "remove_extra", "block_extra"}
    unknown = set(kwargs) - known
    if unknown:
        raise koji.ParameterError("editTag2() got an unexpected keyword argument %r"
                                  % sorted(unknown)[0])
    tag_id = row["id"]
    new_name = kwargs.get("name")
    if new_name and new_name != row["name"]:
        _check_name(new_name)
        if lookup(s.tag, new_name, "tag"):
            raise koji.GenericError("Name %s already taken by tag" % new_name)
        context.conn.execute(s.tag.update().where(s.tag.c.id == tag_id).values(name=new_name))
        note_tag_update(tag_id)
    cfg = _config(tag_id)
    new = {f: cfg[f] for f in _CONFIG_FIELDS}
    if "perm" in kwargs or "perm_id" in kwargs:
        new["perm_id"] = _perm_id(kwargs.get("perm", kwargs.get("perm_id")))
    if "arches" in kwargs:
        new["arches"] = _arches(kwargs["arches"])
    for f in ("locked", "maven_support", "maven_include_all"):
        if f in kwargs and kwargs[f] is not None:
            new[f] = bool(kwargs[f])
    if new != {f: cfg[f] for f in _CONFIG_FIELDS}:
        revoke(s.tag_config, s.tag_config.c.tag_id == tag_id)
        insert_versioned(s.tag_config, tag_id=tag_id, **new)
    remove = kwargs.get("remove_extra") or []
    current = read_extra(tag_id, blocked=True)
    for key in remove:
        if key not in current:
            raise koji.GenericError("Tag %s has no extra key %s" % (row["name"], key))
    if kwargs.get("extra") or remove or kwargs.get("block_extra"):
        _set_extra(tag_id, kwargs.get("extra"), remove, kwargs.get("block_extra"))


def edit_tag_extra(tag_id, extra=None, remove_extra=()):
    """Set and remove extra keys of a tag without the permission check (editSideTag)."""
    lock_tag(tag_id)
    current = read_extra(tag_id, blocked=True)
    for key in remove_extra or ():
        if key not in current:
            name = name_map(s.tag, [tag_id]).get(tag_id)
            raise koji.GenericError("Tag %s has no extra key %s" % (name, key))
    if extra or remove_extra:
        _set_extra(tag_id, extra, remove_extra)


@export
def editTag(tagInfo, name=None, arches=None, locked=None, permissionID=None, extra=None):
    """The older form of editTag2."""
    kw = {"name": name, "arches": arches, "locked": locked, "extra": extra}
    if permissionID is not None:
        kw["perm_id"] = permissionID
    return editTag2(tagInfo, **{k: v for k, v in kw.items() if v is not None})


@export
def deleteTag(tagInfo):
    """Revoke the tag's config and everything hanging off it (the name/id stays)."""
    assert_perm("tag")
    delete_tag(get_tag_row(tagInfo, strict=True)["id"])


def delete_tag(tag_id):
    """deleteTag without the permission check (side tags are removed by their owners)."""
    lock_tag(tag_id)
    for table, col in ((s.tag_config, "tag_id"), (s.tag_extra, "tag_id"),
                       (s.tag_inheritance, "tag_id"), (s.tag_inheritance, "parent_id"),
                       (s.build_target_config, "build_tag"), (s.build_target_config, "dest_tag"),
                       (s.tag_listing, "tag_id"), (s.tag_packages, "tag_id"),
                       (s.tag_package_owners, "tag_id"), (s.tag_external_repos, "tag_id"),
                       (s.group_config, "tag_id"), (s.group_req_listing, "tag_id"),
                       (s.group_package_listing, "tag_id")):
        revoke(table, table.c[col] == tag_id)


@read_only
def getBuildConfig(tag, event=None):
    """getTag data with arches and extra inherited along config-carrying links."""
    from .inheritance import read_full_inheritance

    row = get_tag_row(tag, strict=True, event=event)
    info = tag_info(row, event)
    inh = {"arches": None, "extra": {}}
    extra = read_extra(row["id"], event, blocked=True)
    seen = set(extra)
    extra = {k: v[1] for k, v in extra.items() if not v[0]}
    arches_found = info["arches"] is not None
    for link in read_full_inheritance(row["id"], event):
        if link["noconfig"]:
            continue
        pid = link["parent_id"]
        if not arches_found:
            pcfg = _config(pid, event)
            if pcfg and pcfg["arches"] is not None:
                info["arches"] = pcfg["arches"]
                inh["arches"] = {"id": pid, "name": link["name"]}
                arches_found = True
        for key, (blocked, value) in read_extra(pid, event, blocked=True).items():
            if key in seen:
                continue
            seen.add(key)
            if not blocked:
                extra[key] = value
                inh["extra"][key] = {"id": pid, "name": link["name"]}
    info["extra"] = extra
    info["config_inheritance"] = inh
    return info
