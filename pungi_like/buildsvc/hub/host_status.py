"""When a host last talked to the hub: getLastHostUpdate."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db import schema as s
from .context import context, fmt_time
from .hosts import get_host
from .registry import read_only


@read_only
def getLastHostUpdate(hostID, ts=False):
    """The last time the host's sessions were used (a time string, or seconds with ``ts``);
    None if the host never logged in."""
    host = get_host(hostID, strict=True)
    last = context.conn.execute(select(func.max(s.sessions.c.update_ts)).where(
        s.sessions.c.user_id == host["user_id"])).scalar()
    if last is None:
        return None
    return last if ts else fmt_time(last)
