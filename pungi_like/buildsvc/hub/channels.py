"""Channel administration: addChannel, editChannel, renameChannel, enableChannel,
disableChannel, removeChannel (the lookups getChannel/listChannels live in hosts.py).

Permissions as Koji's: creating, editing and removing a channel needs ``admin``; enabling and
disabling one needs ``host``. A disabled channel takes no new tasks (tasks.make_task refuses it)
and no new hosts unless forced (hosts.addHostToChannel).
"""

from __future__ import annotations

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .common import assert_admin, assert_perm, check_type, lookup
from .context import context
from .names import verify_name_internal
from .registry import export


def _channel(info):
    return lookup(s.channels, info, "channelInfo", strict=True)


def _opt_str(value, what):
    if value is not None:
        check_type(value, str, what)
    return value


@export
def addChannel(channel_name, description=None):
    """Create a channel; returns its id (admin)."""
    assert_admin()
    verify_name_internal(channel_name)
    _opt_str(description, "description")
    dup = lookup(s.channels, channel_name, "channel_name")
    if dup:
        raise koji.GenericError("channel %(name)s already exists (id=%(id)i)" % dup)
    return context.conn.execute(insert(s.channels).values(
        name=channel_name, description=description, enabled=True)
        .returning(s.channels.c.id)).scalar_one()


@export
def editChannel(channelInfo, **kw):
    """Change a channel's name, description or comment (admin); False if nothing changed."""
    assert_admin()
    chan = _channel(channelInfo)
    unknown = sorted(set(kw) - {"name", "description", "comment"})
    if unknown:
        raise koji.ParameterError("editChannel() got an unexpected keyword argument %r"
                                  % unknown[0])
    changes = {f: kw[f] for f in ("name", "description", "comment")
               if f in kw and kw[f] != chan[f]}
    if not changes:
        return False
    if "name" in changes:
        verify_name_internal(changes["name"])
        dup = lookup(s.channels, changes["name"], "name")
        if dup:
            raise koji.GenericError("channel %(name)s already exists (id=%(id)i)" % dup)
    for f in ("description", "comment"):
        if f in changes:
            _opt_str(changes[f], f)
    context.conn.execute(update(s.channels).where(s.channels.c.id == chan["id"])
                         .values(**changes))
    return True


@export
def renameChannel(old, new):
    """Rename a channel (admin)."""
    editChannel(old, name=new)


def _set_enabled(channelname, enabled, comment):
    assert_perm("host")
    _opt_str(comment, "comment")
    chan = lookup(s.channels, channelname, "channelname")
    if not chan:
        raise koji.GenericError("No such channel: %s" % channelname)
    values = {"enabled": enabled}
    if comment is not None:
        values["comment"] = comment
    context.conn.execute(update(s.channels).where(s.channels.c.id == chan["id"]).values(**values))


@export
def enableChannel(channelname, comment=None):
    """Mark a channel as enabled (perm ``host``)."""
    _set_enabled(channelname, True, comment)


@export
def disableChannel(channelname, comment=None):
    """Mark a channel as disabled: it takes no new tasks (perm ``host``)."""
    _set_enabled(channelname, False, comment)


@export
def removeChannel(channel_name, force=False):
    """Delete a channel no task refers to (admin); ``force`` drops its hosts' subscriptions."""
    assert_admin()
    chan = _channel(channel_name)
    if context.conn.execute(select(s.task.c.id).where(s.task.c.channel_id == chan["id"])
                            .limit(1)).first():
        raise koji.GenericError("channel %s has task references" % chan["name"])
    hc = s.host_channels
    if context.conn.execute(select(hc.c.host_id).where(hc.c.channel_id == chan["id"])
                            .limit(1)).first():
        active = context.conn.execute(select(hc.c.host_id).where(
            hc.c.channel_id == chan["id"], hc.c.active.is_(True)).limit(1)).first()
        if active and not force:
            raise koji.GenericError("channel %s has host references" % chan["name"])
        # the history rows of host_channels refer to the channel: they go with it, as the
        # channel's row itself (Koji deletes host_channels rows on a forced removal too)
        context.conn.execute(delete(hc).where(hc.c.channel_id == chan["id"]))
    context.conn.execute(delete(s.channels).where(s.channels.c.id == chan["id"]))
