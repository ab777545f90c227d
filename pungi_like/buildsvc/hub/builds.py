"""Builds: getBuild, listBuilds, createEmptyBuild, cancelBuild."""

from __future__ import annotations

import json
import time

import koji
from sqlalchemy import String, and_, func, insert, select

from ..db import schema as s
from .common import as_int, assert_admin, assert_login, check_type, get_user_row, lookup
from .context import context, event_id, fmt_time, perms
from .names import verify_nvr
from .registry import export, read_only

_owner = s.users.alias("owner")
_promoter = s.users.alias("promoter")


def build_select(extra_cols=()):
    """SELECT of Koji's build dict columns; ``build_row_to_info`` turns a row into the dict."""
    b = s.build
    return (select(b.c.id, b.c.pkg_id.label("package_id"), s.package.c.name.label("name"),
                   b.c.version, b.c.release, b.c.epoch, b.c.draft, b.c.state, b.c.task_id,
                   _owner.c.id.label("owner_id"), _owner.c.name.label("owner_name"),
                   s.volume.c.id.label("volume_id"), s.volume.c.name.label("volume_name"),
                   b.c.create_event.label("creation_event_id"),
                   s.events.c.ts.label("creation_ts"), b.c.start_ts, b.c.completion_ts,
                   b.c.promotion_ts, _promoter.c.id.label("promoter_id"),
                   _promoter.c.name.label("promoter_name"), b.c.source, b.c.extra,
                   b.c.cg_id, s.content_generator.c.name.label("cg_name"), *extra_cols)
            .select_from(b.join(s.package, s.package.c.id == b.c.pkg_id)
                         .join(_owner, _owner.c.id == b.c.owner)
                         .join(s.volume, s.volume.c.id == b.c.volume_id)
                         .join(s.events, s.events.c.id == b.c.create_event)
                         .outerjoin(_promoter, _promoter.c.id == b.c.promoter)
                         .outerjoin(s.content_generator,
                                    s.content_generator.c.id == b.c.cg_id)))


def build_row_to_info(row, with_extra=True):
    d = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    info = {
        "id": d["id"], "build_id": d["id"], "package_id": d["package_id"],
        "package_name": d["name"], "name": d["name"], "version": d["version"],
        "release": d["release"], "epoch": d["epoch"],
        "nvr": "%s-%s-%s" % (d["name"], d["version"], d["release"]), "draft": d["draft"],
        "state": d["state"], "task_id": d["task_id"], "owner_id": d["owner_id"],
        "owner_name": d["owner_name"], "volume_id": d["volume_id"],
        "volume_name": d["volume_name"], "creation_event_id": d["creation_event_id"],
        "creation_time": fmt_time(d["creation_ts"]), "creation_ts": d["creation_ts"],
        "start_time": fmt_time(d["start_ts"]), "start_ts": d["start_ts"],
        "completion_time": fmt_time(d["completion_ts"]), "completion_ts": d["completion_ts"],
        "promotion_time": fmt_time(d["promotion_ts"]), "promotion_ts": d["promotion_ts"],
        "promoter_id": d["promoter_id"], "promoter_name": d["promoter_name"],
        "cg_id": d.get("cg_id"), "cg_name": d.get("cg_name"), "source": d["source"],
    }
    if with_extra:
        info["extra"] = json.loads(d["extra"]) if d["extra"] else None
    for key in ("tag_id", "tag_name", "create_event"):
        if key in d:
            info[key] = d[key]
    return info


def _parse_nvr(nvr):
    try:
        return koji.parse_NVR(nvr)
    except koji.GenericError:
        raise koji.GenericError("Invalid NVR: %s" % nvr) from None


def get_build_row(info, strict=False):
    """The build dict for an id, an N-V-R string, or a dict with id or name/version/release."""
    b = s.build
    q = build_select()
    if isinstance(info, dict):
        if info.get("id") is not None:
            info = info["id"]
        elif all(k in info for k in ("name", "version", "release")):
            q = q.where(s.package.c.name == info["name"], b.c.version == info["version"],
                        b.c.release == info["release"])
            info = None
        else:
            raise koji.GenericError("Invalid build info: %r" % (info,))
    if isinstance(info, bool):
        raise koji.ParameterError("Invalid type for buildInfo: %r" % info)
    if isinstance(info, int):
        q = q.where(b.c.id == info)
    elif isinstance(info, str):
        nvr = _parse_nvr(info)
        q = q.where(s.package.c.name == nvr["name"], b.c.version == nvr["version"],
                    b.c.release == nvr["release"])
    elif info is not None:
        raise koji.ParameterError("Invalid type for buildInfo: %s" % type(info))
    row = context.conn.execute(q).first()
    if row is None:
        if strict:
            raise koji.GenericError("No such build: %r" % (info,))
        return None
    return build_row_to_info(row)


@read_only
def getBuild(buildInfo, strict=False):
    return get_build_row(buildInfo, strict)


@read_only
def listBuilds(packageID=None, userID=None, taskID=None, prefix=None, state=None,
               volumeID=None, source=None, createdBefore=None, createdAfter=None,
               completeBefore=None, completeAfter=None, type=None, typeInfo=None,
               queryOpts=None, pattern=None, cgID=None, draft=None):
    """Builds filtered by package, owner, task, prefix, state, ...; ordered by id."""
    b = s.build
    q = build_select().order_by(b.c.id)
    if packageID is not None:
        pkg = lookup(s.package, packageID, "package")
        q = q.where(b.c.pkg_id == (pkg["id"] if pkg else -1))
    if userID is not None:
        q = q.where(b.c.owner == get_user_row(userID, strict=True)["id"])
    if taskID is not None:
        q = q.where(b.c.task_id == as_int(taskID, "taskID")) if taskID != -1 else \
            q.where(b.c.task_id.is_not(None))
    if prefix:
        q = q.where(s.package.c.name.ilike(prefix + "%"))
    if volumeID is not None:
        q = q.where(b.c.volume_id == as_int(volumeID, "volumeID"))
    if source is not None:
        # Koji's glob: * any run, ? one character, case-insensitive; the rest literal
        glob = check_type(source, str, "source")
        like = (glob.replace("\\", "\\\\").replace("_", "\\_")
                .replace("?", "_").replace("*", "%"))
        q = q.where(b.c.source.ilike(like, escape="\\"))
    if state is not None:
        q = q.where(b.c.state == as_int(state, "state"))
    if cgID is not None:
        cg = lookup(s.content_generator, cgID, "content_generator")
        q = q.where(b.c.cg_id == (cg["id"] if cg else -1))
    if draft is not None:
        q = q.where(b.c.draft.is_(bool(draft)))
    if completeBefore is not None:
        q = q.where(b.c.completion_ts < float(completeBefore))
    if completeAfter is not None:
        q = q.where(b.c.completion_ts > float(completeAfter))
    if not pattern and queryOpts:
        limit = queryOpts.get("limit")
        short = isinstance(limit, int) and 0 <= limit <= 1000 and not queryOpts.get("countOnly")
        # a short page: sort and cut ids only, then read the page's rows (half the time on
        # 20,000 builds ordered by nvr)
        paged = sql_query_opts(q.with_only_columns(b.c.id) if short else q, queryOpts,
                               _order_columns(), b.c.id)
        if paged is not None:
            if queryOpts.get("countOnly"):
                return context.conn.execute(paged).scalar_one()
            if not short:
                return [build_row_to_info(r) for r in context.conn.execute(paged)]
            ids = [r[0] for r in context.conn.execute(paged)]
            rows = {r.id: r for r in context.conn.execute(q.where(b.c.id.in_(ids)))} \
                if ids else {}
            return [build_row_to_info(rows[i]) for i in ids]
    builds = [build_row_to_info(r) for r in context.conn.execute(q)]
    if pattern:
        import fnmatch

        builds = [x for x in builds if fnmatch.fnmatch(x["nvr"], pattern)]
    from .packages import apply_query_opts

    return apply_query_opts(builds, queryOpts)


def _order_columns():
    """Build dict keys listBuilds can order by in the database, and their columns."""
    b = s.build
    return {"build_id": b.c.id, "id": b.c.id, "package_id": b.c.pkg_id,
            "package_name": s.package.c.name, "name": s.package.c.name,
            "nvr": s.package.c.name + "-" + b.c.version + "-" + b.c.release,
            "version": b.c.version, "release": b.c.release, "epoch": b.c.epoch,
            "state": b.c.state, "task_id": b.c.task_id, "owner_id": _owner.c.id,
            "owner_name": _owner.c.name, "creation_event_id": b.c.create_event,
            "creation_ts": s.events.c.ts, "creation_time": s.events.c.ts,
            "start_ts": b.c.start_ts, "start_time": b.c.start_ts,
            "completion_ts": b.c.completion_ts, "completion_time": b.c.completion_ts}


def sql_query_opts(q, queryOpts, columns, tiebreak):
    """``q`` with Koji's queryOpts (order, offset, limit, countOnly) done by the database, or
    None when an order key is not one of ``columns`` (the caller then sorts in Python).

    Same result as :func:`.packages.apply_query_opts` on the rows of ``q`` in ``tiebreak``
    order: None sorts last ascending and first descending, ties keep ``tiebreak`` order, and
    strings compare by code point (``COLLATE "C"`` on PostgreSQL). Large lists (the web UI's
    pages of 20,000 builds) then never leave the database whole.
    """
    cols = []
    order = queryOpts.get("order")
    for key in (order.split(",") if order else []):
        col = columns.get(key.lstrip("-"))
        if col is None:
            return None
        if isinstance(col.type, String) and context.conn.dialect.name == "postgresql":
            col = col.collate("C")
        cols.append(col.desc().nulls_first() if key.startswith("-") else
                    col.asc().nulls_last())
    q = q.order_by(None).order_by(*cols, tiebreak)
    if queryOpts.get("offset"):
        q = q.offset(as_int(queryOpts["offset"], "offset"))
    if queryOpts.get("limit") is not None:
        q = q.limit(as_int(queryOpts["limit"], "limit"))
    if queryOpts.get("countOnly"):
        return select(func.count()).select_from(q.subquery())
    return q


def new_build(name, version, release, epoch, state=koji.BUILD_STATES["COMPLETE"], owner=None,
              task_id=None, draft=False, source=None):
    """Insert a build row (creating the package name if new); returns its id."""
    # Koji's rules (verify_name_internal, check_NVR); they also keep packages/<n>/<v>/<r> inside
    verify_nvr(name, version, release)
    if epoch is not None:
        epoch = as_int(epoch, "epoch")
    pkg = lookup(s.package, name, "package", create=True)
    existing = context.conn.execute(select(s.build.c.id, s.build.c.state).where(
        s.build.c.pkg_id == pkg["id"], s.build.c.version == version,
        s.build.c.release == release)).first()
    if existing:
        raise koji.GenericError("Build already exists (id=%d, state=%s): %s-%s-%s"
                                % (existing.id, koji.BUILD_STATES[existing.state], name,
                                   version, release))
    owner_id = owner if owner is not None else context.user["id"]
    vol = lookup(s.volume, "DEFAULT", "volume", strict=True)
    now = time.time()
    done = state != koji.BUILD_STATES["BUILDING"]
    return context.conn.execute(insert(s.build).values(
        pkg_id=pkg["id"], version=version, release=release, epoch=epoch, draft=bool(draft),
        state=state, task_id=task_id, owner=owner_id, volume_id=vol["id"],
        create_event=event_id(), start_ts=now, completion_ts=now if done else None,
        source=source).returning(s.build.c.id)).scalar_one()


@export
def createEmptyBuild(name, version, release, epoch, owner=None, draft=False):
    """A COMPLETE build with no files (admin); returns its id."""
    assert_admin()
    owner_id = get_user_row(owner, strict=True)["id"] if owner is not None else None
    return new_build(name, version, release, epoch, owner=owner_id, draft=draft)


@export
def cancelBuild(buildID, strict=False):
    """Cancel a BUILDING build (owner or admin); False if it is not BUILDING."""
    assert_login()
    build = get_build_row(buildID, strict=True)
    if build["owner_id"] != context.user["id"] and "admin" not in perms():
        raise koji.ActionNotAllowed("Cannot cancel build, not owner")
    if build["state"] != koji.BUILD_STATES["BUILDING"]:
        if strict:
            raise koji.GenericError("Build %s is not in BUILDING state" % build["nvr"])
        return False
    context.conn.execute(s.build.update().where(and_(
        s.build.c.id == build["id"], s.build.c.state == koji.BUILD_STATES["BUILDING"]))
        .values(state=koji.BUILD_STATES["CANCELED"], completion_ts=time.time()))
    if build["task_id"]:
        from .tasks import cancel_task

        cancel_task(build["task_id"], recurse=True)
    return True


@read_only
def getNextRelease(build_info, incr=1):
    """The next numeric release for name/version (used by image tasks)."""
    check_type(build_info, dict, "build_info")
    name = check_type(build_info.get("name"), str, "build_info name")
    version = check_type(build_info.get("version"), str, "build_info version")
    q = (select(s.build.c.release).select_from(s.build.join(s.package,
                                                            s.package.c.id == s.build.c.pkg_id))
         .where(s.package.c.name == name, s.build.c.version == version,
                s.build.c.draft.is_(False))     # as Koji: drafts do not count
         .order_by(s.build.c.id.desc()))
    row = context.conn.execute(q).first()
    if row is None:
        return "1"
    rel = row[0]
    head, _, tail = rel.rpartition(".")
    if tail.isdigit():
        return (head + "." if head else "") + str(int(tail) + incr)
    if rel.isdigit():
        return str(int(rel) + incr)
    raise koji.BuildError("Unable to increment release value: %s" % rel)
