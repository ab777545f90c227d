"""Build administration: untaggedBuilds, buildReferences, deleteBuild, resetBuild,
setBuildOwner, setBuildTimestamp, getBuildLogs (Koji's semantics and faults).

A deleted build keeps its row (state DELETED, NVR not reusable) but loses its signatures, its
tags and its directory; a reset build keeps only its row (state CANCELED, no task, DEFAULT
volume) so it can be imported again. Both are admin-only, as in Koji.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import xmlrpc.client

import koji
from sqlalchemy import delete, exists, func, select, update

from ..db import schema as s
from .builds import get_build_row
from .common import assert_admin, check_type, get_user_row, lookup, revoke
from .context import context
from .packages import apply_query_opts
from .registry import export, read_only

log = logging.getLogger(__name__)
STATES = koji.BUILD_STATES


@read_only
def untaggedBuilds(name=None, queryOpts=None, draft=None):
    """COMPLETE builds not in any tag: ``[{id, name, version, release}]``."""
    b, tl = s.build, s.tag_listing
    q = (select(b.c.id, s.package.c.name, b.c.version, b.c.release)
         .select_from(b.join(s.package, s.package.c.id == b.c.pkg_id))
         .where(b.c.state == STATES["COMPLETE"],
                ~exists().where(tl.c.build_id == b.c.id, tl.c.active.is_(True)))
         .order_by(b.c.id))
    if name is not None:
        q = q.where(s.package.c.name == check_type(name, str, "name"))
    if draft is not None:
        q = q.where(b.c.draft.is_(bool(draft)))
    return apply_query_opts([dict(r._mapping) for r in context.conn.execute(q)], queryOpts)


def build_references(build_id, limit=None, lazy=False):
    ret = {}
    tl = s.tag_listing
    ret["tags"] = [dict(r._mapping) for r in context.conn.execute(
        select(tl.c.tag_id, s.tag.c.name).select_from(tl.join(s.tag, s.tag.c.id == tl.c.tag_id))
        .where(tl.c.build_id == build_id, tl.c.active.is_(True)).order_by(tl.c.tag_id))]
    if lazy and ret["tags"]:
        return ret
    r, bl = s.rpminfo, s.buildroot_listing
    own_rpms = select(r.c.id).where(r.c.build_id == build_id)
    used_in = select(bl.c.buildroot_id).where(bl.c.rpm_id.in_(own_rpms)).distinct()
    q = (select(r.c.id, r.c.name, r.c.version, r.c.release, r.c.arch, r.c.build_id)
         .select_from(r.join(s.build, s.build.c.id == r.c.build_id))
         .where(r.c.buildroot_id.in_(used_in), s.build.c.state == STATES["COMPLETE"])
         .order_by(r.c.id))
    if limit is not None:
        q = q.limit(limit)
    ret["rpms"] = [dict(x._mapping) for x in context.conn.execute(q)]
    if lazy and ret["rpms"]:
        return ret
    # images that hold the build's RPMs
    arc = s.archive_rpm_components
    ret["component_of"] = sorted({x[0] for x in context.conn.execute(
        select(arc.c.archive_id).where(arc.c.rpm_id.in_(own_rpms)))})
    if lazy and ret["component_of"]:
        return ret
    # archives of other builds made in buildroots that used this build's archives: this hub
    # records no archive buildroot listings, so there are none
    ret["archives"] = []
    br = s.buildroot
    last = context.conn.execute(
        select(func.max(s.events.c.ts)).select_from(br.join(s.events,
                                                            s.events.c.id == br.c.create_event))
        .where(br.c.id.in_(used_in))).scalar()
    ret["last_used"] = last
    ret["images"] = ret["component_of"]
    return ret


@read_only
def buildReferences(build, limit=None, lazy=False):
    """What refers to a build (tags, buildroots, images, last use), as Koji answers."""
    if limit is not None:
        limit = check_type(limit, int, "limit")
    binfo = get_build_row(build, strict=True)
    return build_references(binfo["id"], limit, bool(lazy))


def _remove_build_dir(binfo):
    builddir = context.hub.pathinfo.build(binfo)
    if os.path.isdir(builddir) and not os.path.islink(builddir):
        shutil.rmtree(builddir)
    elif os.path.lexists(builddir):
        os.unlink(builddir)


@export
def deleteBuild(build, strict=True, min_ref_age=604800):
    """Delete an unreferenced build (admin): state DELETED, untagged, files removed."""
    assert_admin()
    binfo = get_build_row(build, strict=True)
    if binfo["state"] == STATES["DELETED"]:
        return None
    refs = build_references(binfo["id"], limit=10, lazy=True)
    for key, what in (("tags", "tagged"), ("rpms", "used in buildroots"),
                      ("archives", "used in archive buildroots")):
        if refs.get(key):
            if strict:
                raise koji.GenericError("Cannot delete build, %s: %s" % (what, refs[key]))
            return False
    if refs.get("component_of"):
        if strict:
            raise koji.GenericError("Cannot delete build, used as component of: %r"
                                    % refs["component_of"])
        return False
    if refs.get("last_used") and time.time() - refs["last_used"] < min_ref_age:
        if strict:
            raise koji.GenericError("Cannot delete build, used in recent buildroot")
        return False
    rpm_ids = select(s.rpminfo.c.id).where(s.rpminfo.c.build_id == binfo["id"])
    context.conn.execute(delete(s.rpmsigs).where(s.rpmsigs.c.rpm_id.in_(rpm_ids)))
    revoke(s.tag_listing, s.tag_listing.c.build_id == binfo["id"])
    context.conn.execute(update(s.build).where(s.build.c.id == binfo["id"])
                         .values(state=STATES["DELETED"]))
    _remove_build_dir(binfo)
    log.warning("Build %s is deleted by %s", binfo["nvr"], context.user["name"])
    return True


@export
def resetBuild(build):
    """Reset a build so it can be imported again (admin; destructive, as in Koji)."""
    assert_admin()
    binfo = get_build_row(build)
    if not binfo:
        return None
    bid = binfo["id"]
    rpm_ids = select(s.rpminfo.c.id).where(s.rpminfo.c.build_id == bid)
    archive_ids = select(s.archiveinfo.c.id).where(s.archiveinfo.c.build_id == bid)
    for table, col in ((s.rpmsigs, "rpm_id"), (s.buildroot_listing, "rpm_id"),
                       (s.archive_rpm_components, "rpm_id")):
        context.conn.execute(delete(table).where(table.c[col].in_(rpm_ids)))
    for table in (s.image_archives, s.archive_rpm_components):
        context.conn.execute(delete(table).where(table.c.archive_id.in_(archive_ids)))
    context.conn.execute(delete(s.archiveinfo).where(s.archiveinfo.c.build_id == bid))
    context.conn.execute(delete(s.rpminfo).where(s.rpminfo.c.build_id == bid))
    for table in (s.image_builds, s.build_types):
        context.conn.execute(delete(table).where(table.c.build_id == bid))
    revoke(s.tag_listing, s.tag_listing.c.build_id == bid)
    default = lookup(s.volume, "DEFAULT", "volume", strict=True)
    context.conn.execute(update(s.build).where(s.build.c.id == bid).values(
        state=STATES["CANCELED"], task_id=None, volume_id=default["id"]))
    _remove_build_dir(binfo)


@export
def setBuildOwner(build, user):
    """Change a build's owner (admin)."""
    assert_admin()
    binfo = get_build_row(build, strict=True)
    if isinstance(user, dict):
        user = user.get("id", user.get("name", user.get("krb_principal")))
    uid = get_user_row(user, strict=True)["id"]
    context.conn.execute(update(s.build).where(s.build.c.id == binfo["id"]).values(owner=uid))


@export
def setBuildTimestamp(build, ts):
    """Set a build's completion time: seconds since the epoch or an XML-RPC DateTime (admin)."""
    assert_admin()
    binfo = get_build_row(build, strict=True)
    if isinstance(ts, xmlrpc.client.DateTime):
        try:
            ts = time.mktime(time.strptime(str(ts), "%Y%m%dT%H:%M:%S"))
        except ValueError:
            raise koji.GenericError("Invalid time: %s" % ts) from None
    elif isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise koji.GenericError("Invalid type for timestamp")
    if not -1e11 < ts < 1e11:
        raise koji.GenericError("Invalid time: %s" % ts)
    context.conn.execute(update(s.build).where(s.build.c.id == binfo["id"])
                         .values(completion_ts=float(ts)))


@read_only
def getBuildLogs(build):
    """Log files of a build: ``[{name, dir, path}]`` (path relative to the top directory)."""
    binfo = get_build_row(build, strict=True)
    pi = context.hub.pathinfo
    logdir = pi.build_file(binfo, "data", "logs")
    if not os.path.exists(logdir):
        return []
    if not os.path.isdir(logdir):
        raise koji.GenericError("Not a directory: %s" % os.path.relpath(logdir, pi.topdir))
    reldir = os.path.relpath(logdir, pi.topdir)
    logs = []
    for dirpath, dirs, files in sorted(os.walk(logdir)):
        dirs.sort()
        subdir = os.path.relpath(dirpath, logdir)
        for fn in sorted(files):
            path = os.path.join(dirpath, fn)
            if os.path.islink(path) or not os.path.isfile(path):
                log.warning("Skipping non-regular file under logdir: %s", path)
                continue
            logs.append({"name": fn, "dir": subdir, "path": "%s/%s/%s" % (reldir, subdir, fn)})
    return logs
