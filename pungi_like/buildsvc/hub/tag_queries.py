"""Small tag queries the CLI and repo tools use: getTagID, tagChangedSinceEvent."""

from __future__ import annotations

import koji
from sqlalchemy import or_, select

from ..db import schema as s
from .common import as_int, get_tag_row
from .context import context
from .registry import read_only

#: The versioned tables whose rows belong to a tag (Koji's list in tag_changed_since_event).
_TAG_TABLES = ("tag_listing", "tag_inheritance", "tag_config", "tag_extra", "tag_packages",
               "tag_external_repos", "group_package_listing", "group_req_listing",
               "group_config")


@read_only
def getTagID(info, strict=False, create=False):
    """The id of a tag given its name or id (None, or a fault with ``strict``)."""
    if create:
        raise koji.GenericError("getTagID does not create tags: use createTag")
    row = get_tag_row(info, strict=strict)
    return row["id"] if row else None


@read_only
def tagChangedSinceEvent(event, taglist):
    """True if anything of the tags in ``taglist`` changed after ``event`` (no inheritance)."""
    event = as_int(event, "event")
    if not isinstance(taglist, list):
        raise koji.ParameterError("Invalid type for taglist: %s" % type(taglist))
    ids = [as_int(t, "taglist") for t in taglist]
    if not ids:
        return False
    tu = s.tag_updates
    if context.conn.execute(select(tu.c.id).where(tu.c.update_event > event,
                                                  tu.c.tag_id.in_(ids)).limit(1)).first():
        return True
    for name in _TAG_TABLES:
        t = s.metadata.tables[name]
        if context.conn.execute(select(t.c.tag_id).where(
                or_(t.c.create_event > event, t.c.revoke_event > event),
                t.c.tag_id.in_(ids)).limit(1)).first():
            return True
    return False
