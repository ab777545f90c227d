"""Blocking and unblocking of group requirements (groupReqListBlock/Unblock); adding and
removing them is in groups.py."""

from __future__ import annotations

import koji
from sqlalchemy import select

from ..db import schema as s
from .common import assert_perm, get_tag_row, lock_tag, lookup, revoke
from .context import context
from .groups import groupReqListAdd
from .registry import export


@export
def groupReqListBlock(taginfo, grpinfo, reqinfo):
    """Block a group requirement in a tag (perm ``tag``)."""
    groupReqListAdd(taginfo, grpinfo, reqinfo, block=True)


@export
def groupReqListUnblock(taginfo, grpinfo, reqinfo):
    """Remove a block set directly in this tag (perm ``tag``); a fault if it is not blocked."""
    assert_perm("tag")
    tag_id = get_tag_row(taginfo, strict=True)["id"]
    lock_tag(tag_id)
    grp_id = lookup(s.groups, grpinfo, "group", strict=True)["id"]
    req_id = lookup(s.groups, reqinfo, "group", strict=True)["id"]
    grl = s.group_req_listing
    where = (grl.c.tag_id == tag_id, grl.c.group_id == grp_id, grl.c.req_id == req_id)
    blocked = context.conn.execute(select(grl.c.blocked).where(
        grl.c.active.is_(True), *where)).scalar()
    if not blocked:
        raise koji.GenericError("group req %s is NOT blocked in group %s, tag %s"
                                % (req_id, grp_id, tag_id))
    revoke(grl, *where)
