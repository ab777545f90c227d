"""Hosts and channels: addHost, getHost, listHosts, getChannel, listChannels, addHostToChannel."""

from __future__ import annotations

import koji
from sqlalchemy import insert, select

from ..db import schema as s
from .common import (
    active_at, assert_perm, get_user_row, insert_versioned, lock_rows, lookup, revoke,
)
from .context import context
from .names import verify_host_name, verify_name_user
from .registry import export, read_only


def host_columns():
    """The columns of a host row as :func:`_hosts` gives it (host and host_config)."""
    hc = s.host_config
    return (s.host.c.id, s.host.c.user_id, s.host.c.name, s.host.c.update_ts, s.host.c.ready,
            s.host.c.task_load, hc.c.arches, hc.c.capacity, hc.c.description, hc.c.comment,
            hc.c.enabled)


def _hosts(event=None, host_id=None, name=None, user_id=None):
    hc = s.host_config
    q = (select(*host_columns())
         .select_from(s.host.join(hc, hc.c.host_id == s.host.c.id))
         .where(active_at(hc, event)).order_by(s.host.c.name))
    if host_id is not None:
        q = q.where(s.host.c.id == host_id)
    if name is not None:
        q = q.where(s.host.c.name == name)
    if user_id is not None:
        q = q.where(s.host.c.user_id == user_id)
    return [dict(r._mapping) for r in context.conn.execute(q)]


def get_host(info, strict=False, event=None):
    if isinstance(info, dict):
        info = info.get("id", info.get("name"))
    if isinstance(info, bool) or not isinstance(info, (int, str)):
        raise koji.ParameterError("Invalid type for hostInfo: %s" % type(info))
    found = _hosts(event, host_id=info) if isinstance(info, int) else _hosts(event, name=info)
    if not found:
        if strict:
            raise koji.GenericError("Invalid hostInfo: %s" % (info,))
        return None
    return found[0]


@read_only
def getHost(hostInfo, strict=False, event=None):
    return get_host(hostInfo, strict, event)


@read_only
def listHosts(arches=None, channelID=None, ready=None, enabled=None, userID=None,
              queryOpts=None):
    hosts = _hosts()
    if arches:
        arches = set(arches if isinstance(arches, list) else arches.split())
        hosts = [h for h in hosts if arches & set((h["arches"] or "").split())]
    if channelID is not None:
        chan = _get_channel(channelID, strict=True)
        members = {r[0] for r in context.conn.execute(select(s.host_channels.c.host_id).where(
            s.host_channels.c.channel_id == chan["id"], s.host_channels.c.active.is_(True)))}
        hosts = [h for h in hosts if h["id"] in members]
    if ready is not None:
        hosts = [h for h in hosts if bool(h["ready"]) == bool(ready)]
    if enabled is not None:
        hosts = [h for h in hosts if bool(h["enabled"]) == bool(enabled)]
    if userID is not None:
        uid = get_user_row(userID, strict=True)["id"]
        hosts = [h for h in hosts if h["user_id"] == uid]
    from .packages import apply_query_opts

    return apply_query_opts(hosts, queryOpts)


@export
def addHost(hostname, arches, krb_principal=None, force=False):
    """Create a host (its user, config and membership of ``default``); perm ``host``."""
    assert_perm("host")
    verify_host_name(hostname)
    verify_name_user(krb=krb_principal)
    if isinstance(arches, str):
        arches = arches.split()
    if not isinstance(arches, list):
        raise koji.ParameterError("Invalid type for arches: %s" % type(arches))
    arches = koji.parse_arches([str(a) for a in arches], to_list=True)
    if get_host(hostname):
        raise koji.GenericError("host already exists: %s" % hostname)
    user = get_user_row(hostname)
    if user:
        if user["usertype"] != koji.USERTYPES["HOST"] and not force:
            raise koji.GenericError("user %s already exists and is not a host" % hostname)
        uid = user["id"]
        context.conn.execute(s.users.update().where(s.users.c.id == uid)
                             .values(usertype=koji.USERTYPES["HOST"]))
    else:
        uid = context.conn.execute(insert(s.users).values(
            name=hostname, status=0, usertype=koji.USERTYPES["HOST"])
            .returning(s.users.c.id)).scalar_one()
        if krb_principal:
            context.conn.execute(insert(s.user_krb_principals).values(
                user_id=uid, krb_principal=krb_principal))
    hid = context.conn.execute(insert(s.host).values(
        user_id=uid, name=hostname, ready=False, task_load=0.0)
        .returning(s.host.c.id)).scalar_one()
    insert_versioned(s.host_config, host_id=hid, arches=" ".join(arches), capacity=2.0,
                     enabled=True)
    default = lookup(s.channels, "default", "channel", strict=True)
    insert_versioned(s.host_channels, host_id=hid, channel_id=default["id"])
    return hid


@export
def editHost(hostInfo, **kw):
    assert_perm("host")
    host = get_host(hostInfo, strict=True)
    lock_rows(s.host, host["id"])
    host = get_host(host["id"], strict=True)
    fields = ("arches", "capacity", "description", "comment", "enabled")
    new = {f: host[f] for f in fields}
    for f in fields:
        if f in kw:
            new[f] = kw[f]
    if isinstance(new["arches"], list):
        new["arches"] = " ".join(new["arches"])
    if new == {f: host[f] for f in fields}:
        return False
    revoke(s.host_config, s.host_config.c.host_id == host["id"])
    insert_versioned(s.host_config, host_id=host["id"], **new)
    return True


@export
def enableHost(hostname):
    editHost(hostname, enabled=True)


@export
def disableHost(hostname):
    editHost(hostname, enabled=False)


def _get_channel(info, strict=False):
    return lookup(s.channels, info, "channel", strict=strict)


@read_only
def getChannel(channelInfo, strict=False):
    row = _get_channel(channelInfo, strict)
    return row


@read_only
def listChannels(hostID=None, event=None, enabled=None):
    q = select(s.channels).order_by(s.channels.c.id)
    if hostID is not None:
        host = get_host(hostID, strict=True)
        q = q.where(s.channels.c.id.in_(select(s.host_channels.c.channel_id).where(
            s.host_channels.c.host_id == host["id"], active_at(s.host_channels, event))))
    if enabled is not None:
        q = q.where(s.channels.c.enabled.is_(bool(enabled)))
    return [dict(r._mapping) for r in context.conn.execute(q)]


@export
def addHostToChannel(hostname, channel_name, create=False, force=False):
    assert_perm("host")
    host = get_host(hostname)
    if host is None:
        raise koji.GenericError("host does not exist: %s" % hostname)
    lock_rows(s.host, host["id"])
    chan = lookup(s.channels, channel_name, "channel", create=bool(create))
    if chan is None:
        raise koji.GenericError("channel does not exist: %s" % channel_name)
    chan = _get_channel(chan["id"])
    if not force and not chan["enabled"]:
        raise koji.GenericError("channel %s is disabled" % channel_name)
    if any(c["id"] == chan["id"] for c in listChannels(host["id"])):
        raise koji.GenericError("host %s is already subscribed to the %s channel"
                                % (host["name"], chan["name"]))
    insert_versioned(s.host_channels, host_id=host["id"], channel_id=chan["id"])


@export
def removeHostFromChannel(hostname, channel_name):
    assert_perm("host")
    host = get_host(hostname, strict=True)
    chan = _get_channel(channel_name, strict=True)
    if not revoke(s.host_channels, s.host_channels.c.host_id == host["id"],
                  s.host_channels.c.channel_id == chan["id"]):
        raise koji.GenericError("host %s is not subscribed to the %s channel"
                                % (host["name"], chan["name"]))
