"""Build targets: createBuildTarget, getBuildTarget(s), editBuildTarget, deleteBuildTarget."""

from __future__ import annotations

import koji
from sqlalchemy import insert, select

from ..db import schema as s
from .common import (
    active_at, assert_perm, get_tag_row, insert_versioned, lock_rows, lookup, revoke,
)
from .context import context
from .names import verify_name_internal
from .registry import export, read_only


def _targets(event=None, target_id=None, name=None, build_tag=None, dest_tag=None):
    cfg = s.build_target_config
    bt, dt = s.tag.alias("bt"), s.tag.alias("dt")
    q = (select(s.build_target.c.id, s.build_target.c.name, cfg.c.build_tag,
                bt.c.name.label("build_tag_name"), cfg.c.dest_tag,
                dt.c.name.label("dest_tag_name"))
         .select_from(cfg.join(s.build_target, cfg.c.build_target_id == s.build_target.c.id)
                      .join(bt, bt.c.id == cfg.c.build_tag).join(dt, dt.c.id == cfg.c.dest_tag))
         .where(active_at(cfg, event)).order_by(s.build_target.c.name))
    if target_id is not None:
        q = q.where(s.build_target.c.id == target_id)
    if name is not None:
        q = q.where(s.build_target.c.name == name)
    if build_tag is not None:
        q = q.where(cfg.c.build_tag == build_tag)
    if dest_tag is not None:
        q = q.where(cfg.c.dest_tag == dest_tag)
    return [dict(r._mapping) for r in context.conn.execute(q)]


@read_only
def getBuildTargets(info=None, event=None, buildTagID=None, destTagID=None, queryOpts=None):
    """Targets, optionally by name/id, build tag or destination tag."""
    kw = {}
    if isinstance(info, int) and not isinstance(info, bool):
        kw["target_id"] = info
    elif isinstance(info, str):
        kw["name"] = info
    elif info is not None:
        raise koji.ParameterError("Invalid type for target info: %s" % type(info))
    if buildTagID is not None:
        kw["build_tag"] = get_tag_row(buildTagID, strict=True)["id"]
    if destTagID is not None:
        kw["dest_tag"] = get_tag_row(destTagID, strict=True)["id"]
    from .packages import apply_query_opts

    return apply_query_opts(_targets(event, **kw), queryOpts)


@read_only
def getBuildTarget(info, event=None, strict=False):
    found = getBuildTargets(info, event=event)
    if not found:
        if strict:
            raise koji.GenericError("No such build target: %s" % (info,))
        return None
    return found[0]


@export
def createBuildTarget(name, build_tag, dest_tag):
    """Create a target (perm ``target``)."""
    assert_perm("target")
    create_target(name, build_tag, dest_tag)


def create_target(name, build_tag, dest_tag):
    """createBuildTarget without the permission check (for side tags)."""
    verify_name_internal(name)
    if _targets(name=name):
        raise koji.GenericError("A build target with the name '%s' already exists" % name)
    b = get_tag_row(build_tag, strict=True)
    d = get_tag_row(dest_tag, strict=True)
    row = lookup(s.build_target, name, "target")
    tid = row["id"] if row else context.conn.execute(
        insert(s.build_target).values(name=name).returning(s.build_target.c.id)).scalar_one()
    insert_versioned(s.build_target_config, build_target_id=tid, build_tag=b["id"],
                     dest_tag=d["id"])


@export
def editBuildTarget(buildTargetInfo, name, build_tag, dest_tag):
    assert_perm("target")
    target = getBuildTarget(buildTargetInfo, strict=True)
    lock_rows(s.build_target, target["id"])
    b = get_tag_row(build_tag, strict=True)
    d = get_tag_row(dest_tag, strict=True)
    if name != target["name"]:
        verify_name_internal(name)
        if lookup(s.build_target, name, "target"):
            raise koji.GenericError("name %s already taken by a build target" % name)
        context.conn.execute(s.build_target.update().where(s.build_target.c.id == target["id"])
                             .values(name=name))
    revoke(s.build_target_config, s.build_target_config.c.build_target_id == target["id"])
    insert_versioned(s.build_target_config, build_target_id=target["id"], build_tag=b["id"],
                     dest_tag=d["id"])


@export
def deleteBuildTarget(buildTargetInfo):
    assert_perm("target")
    target = getBuildTarget(buildTargetInfo, strict=True)
    revoke(s.build_target_config, s.build_target_config.c.build_target_id == target["id"])
