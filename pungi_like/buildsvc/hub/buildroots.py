"""Buildroots: the host calls that record them (newBuildRoot, setBuildRootState,
updateBuildRootList) and the lookups (listBuildroots, getBuildroot, getBuildrootListing)."""

from __future__ import annotations

import time

import koji
from sqlalchemy import delete, insert, select, update

from ..db import schema as s
from .common import as_int, one
from .context import context, event_id, fmt_time
from .registry import METHODS, Method, read_only


def _br_select():
    br, r, t, h = s.buildroot, s.repo, s.tag, s.host
    return (select(br, h.c.name.label("host_name"), r.c.tag_id, t.c.name.label("tag_name"),
                   r.c.create_event.label("repo_create_event"), r.c.state.label("repo_state"),
                   s.events.c.ts.label("create_ts"), s.content_generator.c.name.label("cg_name"))
            .select_from(br.outerjoin(h, h.c.id == br.c.host_id)
                         .outerjoin(s.content_generator, s.content_generator.c.id == br.c.cg_id)
                         .outerjoin(r, r.c.id == br.c.repo_id)
                         .outerjoin(t, t.c.id == r.c.tag_id)
                         .outerjoin(s.events, s.events.c.id == br.c.create_event)))


def _br_info(row):
    info = dict(row._mapping)
    info["create_time"] = fmt_time(info["create_ts"])
    info["br_type"] = info.get("br_type") or 0
    info["host_arch"] = info.get("host_arch")
    info["container_type"] = info.get("container_type")
    return info


@read_only
def listBuildroots(hostID=None, tagID=None, state=None, rpmID=None, archiveID=None, taskID=None,
                   buildrootID=None, repoID=None, queryOpts=None):
    br = s.buildroot
    q = _br_select().order_by(br.c.id)
    for value, col in ((hostID, br.c.host_id), (taskID, br.c.task_id), (buildrootID, br.c.id),
                       (repoID, br.c.repo_id), (tagID, s.repo.c.tag_id)):
        if value is not None:
            q = q.where(col == value)
    if state is not None:
        q = q.where(br.c.state.in_(state) if isinstance(state, (list, tuple)) else
                    br.c.state == state)
    if rpmID is not None:
        q = q.where(br.c.id.in_(select(s.buildroot_listing.c.buildroot_id).where(
            s.buildroot_listing.c.rpm_id == rpmID)))
    if archiveID is not None:
        q = q.where(br.c.id.in_(select(s.archiveinfo.c.buildroot_id).where(
            s.archiveinfo.c.id == archiveID)))
    out = [_br_info(r) for r in context.conn.execute(q)]
    from .packages import apply_query_opts

    return apply_query_opts(out, queryOpts)


@read_only
def getBuildroot(buildrootID, strict=False):
    rows = listBuildroots(buildrootID=as_int(buildrootID, "buildrootID"))
    if not rows:
        if strict:
            raise koji.GenericError("No such buildroot: %r" % buildrootID)
        return None
    return rows[0]


@read_only
def getBuildrootListing(id):
    bl, r = s.buildroot_listing, s.rpminfo
    q = (select(r.c.id.label("rpm_id"), r.c.name, r.c.version, r.c.release, r.c.epoch, r.c.arch,
                r.c.build_id, r.c.external_repo_id, bl.c.is_update)
         .select_from(bl.join(r, r.c.id == bl.c.rpm_id))
         .where(bl.c.buildroot_id == as_int(id, "id"))
         .order_by(r.c.name))
    return [dict(x._mapping) for x in context.conn.execute(q)]


def _host_newBuildRoot(repo, arch, task_id=None):
    """A new STANDARD buildroot of the calling host (for ``task_id``, which it must hold)."""
    from .hostcheck import assert_task_held, verify_host
    from .repos import _repo_row

    host = verify_host()
    if task_id is not None:
        task_id = assert_task_held(task_id, host)["id"]
    repo_id = _repo_row(as_int(repo, "repo"))["id"]
    if not isinstance(arch, str) or not arch:
        raise koji.ParameterError("Invalid arch: %r" % (arch,))
    return context.conn.execute(insert(s.buildroot).values(
        br_type=koji.BR_TYPES["STANDARD"], host_id=host["id"], repo_id=repo_id,
        task_id=task_id, arch=arch, state=koji.BR_STATES["INIT"], create_event=event_id())
        .returning(s.buildroot.c.id)).scalar_one()


def _host_setBuildRootState(brootid, state, task_id=None):
    """Change the state of a buildroot the calling host made (never back to INIT)."""
    from .hostcheck import assert_buildroot_held

    row = assert_buildroot_held(brootid, task_id)
    if isinstance(state, str):
        if state not in koji.BR_STATES:
            raise koji.ParameterError("Invalid buildroot state: %r" % state)
        state = koji.BR_STATES[state]
    if state not in koji.BR_STATES.values() or isinstance(state, bool):
        raise koji.ParameterError("Invalid buildroot state: %r" % (state,))
    if state == koji.BR_STATES["INIT"]:
        raise koji.GenericError("Cannot change buildroot state to INIT")
    if row["state"] == koji.BR_STATES["EXPIRED"]:
        return   # as Koji: expiring an expired buildroot is quietly ignored
    values = {"state": state}
    if state == koji.BR_STATES["EXPIRED"]:
        values["retire_event"] = event_id()
    context.conn.execute(update(s.buildroot).where(s.buildroot.c.id == row["id"])
                         .values(**values))


def _host_updateBuildRootList(brootid, rpmlist, task_id=None):
    """Record the RPMs installed in a buildroot (dicts with name/version/release/arch/epoch)."""
    from .hostcheck import assert_buildroot_held

    bid = assert_buildroot_held(brootid, task_id)["id"]
    _add_listing(bid, rpmlist)


def _host_setBuildRootList(brootid, rpmlist, task_id=None):
    """Replace the RPM list of a buildroot (Koji's ``setBuildRootList``)."""
    from .hostcheck import assert_buildroot_held

    bid = assert_buildroot_held(brootid, task_id)["id"]
    context.conn.execute(delete(s.buildroot_listing).where(
        s.buildroot_listing.c.buildroot_id == bid))
    _add_listing(bid, rpmlist)


def _add_listing(bid, rpmlist):
    if rpmlist is not None and not isinstance(rpmlist, (list, tuple)):
        raise koji.ParameterError("Invalid type for rpmlist: %s" % type(rpmlist).__name__)
    r = s.rpminfo
    have = {x[0] for x in context.conn.execute(select(s.buildroot_listing.c.rpm_id).where(
        s.buildroot_listing.c.buildroot_id == bid))}
    rows = []
    for info in rpmlist or []:
        if not isinstance(info, dict):
            raise koji.ParameterError("Invalid rpmlist entry: %r" % (info,))
        rid = info.get("id")
        if rid is not None:
            rid = as_int(rid, "rpm id")
            if not context.conn.execute(select(r.c.id).where(r.c.id == rid)).first():
                continue
        else:
            try:
                key = [r.c[k] == info[k] for k in ("name", "version", "release", "arch")]
            except KeyError as exc:
                raise koji.ParameterError("rpmlist entry without %s" % exc) from None
            found = one(context.conn.execute(select(r.c.id).where(*key)).first())
            if not found:
                continue
            rid = found["id"]
        if rid not in have:
            have.add(rid)
            rows.append({"buildroot_id": bid, "rpm_id": rid,
                         "is_update": bool(info.get("is_update"))})
    if rows:
        context.conn.execute(insert(s.buildroot_listing), rows)


for _name, _func in (("newBuildRoot", _host_newBuildRoot),
                     ("setBuildRootState", _host_setBuildRootState),
                     ("setBuildRootList", _host_setBuildRootList),
                     ("updateBuildRootList", _host_updateBuildRootList)):
    METHODS["host." + _name] = Method("host." + _name, _func, True)
