"""Reading what a tag holds: Koji's readTaggedBuilds and readTaggedRPMS.

"Latest" is Koji's: walking the tag and then its parents in inheritance order, the first build
seen of a package wins, and within a tag builds are ordered by when they were tagged (newest
first), so it is the most recently tagged build in the nearest tag, not the highest NVR. Builds
whose package is missing from or blocked in the top tag's (inherited) package list are dropped.

How it stays fast on big tags (20,000 builds over 5 inheritance levels): the inheritance walk is
resolved first (a few small queries), then the builds of every tag of the walk come from ONE
query ordered by the tag's place in the walk. For ``latest=True`` the database keeps only the
first build of each package (``row_number()`` over the package, in walk order), so only the
answer's rows leave it; dropping packages the package list does not allow afterwards gives the
same result as Koji's per-tag loop, because that filter depends on the package alone. RPMs are
then read by the found builds' ids (the tag each build was found in is already known), rather
than through every tag listing of the walk. Rows are turned into dicts from plain tuples.
"""

from __future__ import annotations

import json
import operator

import koji
from sqlalchemy import bindparam, case, func, select

from ..db import schema as s
from .builds import build_row_to_info, build_select
from .common import active_at, as_int, get_user_row
from .context import context, fmt_time
from .inheritance import read_full_inheritance
from .packages import read_package_list

COMPLETE = koji.BUILD_STATES["COMPLETE"]

#: build ids per RPM query (keeps every backend well inside its bound-parameter limit)
_CHUNK = 5000


def latest_value(latest):
    """Koji's ``latest``: False, True, or a number of builds per package."""
    if isinstance(latest, bool) or latest is None:
        return bool(latest)
    if isinstance(latest, (int, float)):
        return int(latest)
    return bool(latest)


#: keys of a build row that Koji's readTaggedBuilds (listTagged, getLatestBuilds, the builds of
#: listTaggedRPMS) does not return: those of getBuild only
_GETBUILD_ONLY_KEYS = ("cg_id", "cg_name", "source", "creation_ts", "start_ts", "completion_ts",
                       "promotion_ts")


def _tagged_build_info(row, extra):
    info = build_row_to_info(row, with_extra=extra)
    for key in _GETBUILD_ONLY_KEYS:
        info.pop(key, None)
    return info


#: the keys of a tagged-build dict, in order, with the query column each comes from (the build
#: dict of getBuild without _GETBUILD_ONLY_KEYS; times are formatted from the *_ts columns)
_INFO_KEYS = (("id", "id"), ("build_id", "id"), ("package_id", "package_id"),
              ("package_name", "name"), ("name", "name"), ("version", "version"),
              ("release", "release"), ("epoch", "epoch"), ("nvr", None), ("draft", "draft"),
              ("state", "state"), ("task_id", "task_id"), ("owner_id", "owner_id"),
              ("owner_name", "owner_name"), ("volume_id", "volume_id"),
              ("volume_name", "volume_name"), ("creation_event_id", "creation_event_id"),
              ("creation_time", "creation_ts"), ("start_time", "start_ts"),
              ("completion_time", "completion_ts"), ("promotion_time", "promotion_ts"),
              ("promoter_id", "promoter_id"), ("promoter_name", "promoter_name"))
_TIME_KEYS = frozenset({"creation_time", "start_time", "completion_time", "promotion_time"})


def _tagged_infos(result, extra):
    """[(package_id, info)] of a build_select() result with tag_id, tag_name, create_event:
    what ``_tagged_build_info`` makes of each row, built straight from the row tuples (one
    dict per row, made in its final key order from one list; each distinct timestamp
    formatted once)."""
    cols = {k: i for i, k in enumerate(result.keys())}
    keys = [k for k, _c in _INFO_KEYS]
    # a value list per row holds the columns at their keys' places (nvr's place holds the
    # name for now); the nvr and the times are put in place after
    take = operator.itemgetter(*[cols[c if c is not None else "name"] for _k, c in _INFO_KEYS])
    at_nvr = keys.index("nvr")
    at_times = [keys.index(k) for k in keys if k in _TIME_KEYS]
    i_name, i_ver, i_rel = cols["name"], cols["version"], cols["release"]
    i_pkg, i_extra = cols["package_id"], cols["extra"]
    tail = [(k, cols[k]) for k in ("tag_id", "tag_name", "create_event")]
    formatted = {None: None}
    out = []
    for row in result.fetchall():
        vals = list(take(row))
        vals[at_nvr] = "%s-%s-%s" % (row[i_name], row[i_ver], row[i_rel])
        for at in at_times:
            ts = vals[at]
            text = formatted.get(ts, formatted)
            if text is formatted:
                text = formatted[ts] = fmt_time(ts)
            vals[at] = text
        info = dict(zip(keys, vals))
        if extra:
            info["extra"] = json.loads(row[i_extra]) if row[i_extra] else None
        for k, i in tail:
            info[k] = row[i]
        out.append((row[i_pkg], info))
    return out


def read_tagged_builds(tag_id, event=None, inherit=False, latest=False, package=None,
                       owner=None, prefix=None, draft=None, extra=False, packages=None):
    """Build dicts (+ tag_id, tag_name, create_event) tagged in the tag (and its parents).
    ``packages``: the tag's inherited package list as of ``event`` when the caller has read it
    already (``read_package_list(tag_id, event=event, inherit=True, with_owners=False)``)."""
    latest = latest_value(latest)
    taglist = [tag_id]
    if inherit:
        taglist += [link["parent_id"] for link in read_full_inheritance(tag_id, event)]
    pkg_id = None
    if package is not None:
        row = context.conn.execute(select(s.package.c.id).where(
            s.package.c.name == package)).first()
        if row is None:
            return []
        pkg_id = row[0]
    if packages is None:
        packages = read_package_list(tag_id, pkg_id=pkg_id, event=event, inherit=True,
                                     with_owners=False)
    # a tag reached twice in the walk keeps its first place (later visits add nothing new
    # to "latest"; without it they list the tag's builds again, as Koji's loop does)
    place = {}
    for tid in taglist:
        place.setdefault(tid, len(place))
    tl, b = s.tag_listing, s.build
    where = [tl.c.tag_id.in_(list(place)), active_at(tl, event), b.c.state == COMPLETE]
    if pkg_id is not None:
        where.append(b.c.pkg_id == pkg_id)
    if owner is not None:
        where.append(b.c.owner == get_user_row(owner, strict=True)["id"])
    if draft is not None:
        where.append(b.c.draft.is_(bool(draft)))
    if prefix:
        where.append(s.package.c.name.ilike(prefix + "%"))
    tag_cols = (s.tag.c.id.label("tag_id"), s.tag.c.name.label("tag_name"))

    if latest is True:
        first = _first_of_each_package(place, where, prefix)
        q = (build_select(tag_cols + (first.c.create_event,))
             .join_from(b, first, first.c.build_id == b.c.id)
             .join(s.tag, s.tag.c.id == first.c.tag_id)
             .where(first.c.nth == 1)
             .order_by(case(place, value=first.c.tag_id), first.c.create_event.desc(),
                       b.c.id.desc()))
        builds = []
        for pid, info in _tagged_infos(context.conn.execute(q), extra):
            pinfo = packages.get(pid)
            if pinfo is not None and not pinfo["blocked"]:
                builds.append(info)
        return builds

    q = (build_select(tag_cols + (tl.c.create_event,))
         .join_from(b, tl, tl.c.build_id == b.c.id)
         .join(s.tag, s.tag.c.id == tl.c.tag_id)
         .where(*where)
         .order_by(case(place, value=tl.c.tag_id), tl.c.create_event.desc(), b.c.id.desc()))
    by_tag = {}
    for pid, info in _tagged_infos(context.conn.execute(q), extra):
        by_tag.setdefault(info["tag_id"], []).append((pid, info))
    builds = []
    seen = {}
    visited = set()
    for tid in taglist:
        again = tid in visited
        visited.add(tid)
        for pid, info in by_tag.get(tid, ()):
            pinfo = packages.get(pid)
            if pinfo is None or pinfo["blocked"]:
                continue
            if latest:
                count = seen.get(pid, 0)
                if count >= latest:
                    continue
                seen[pid] = count + 1
            # (a tag listed twice in the walk lists its builds twice: separate dicts)
            builds.append(dict(info) if again else info)
    return builds


def _first_of_each_package(place, where, prefix=None):
    """The subquery ``first`` (build_id, tag_id, create_event, nth) of the tag listings
    matching ``where``, numbered per package in walk order (``place``: {tag id: place}), then
    newest tagging first: ``nth`` 1 is Koji's latest build of the package."""
    tl, b = s.tag_listing, s.build
    walk_order = case(place, value=tl.c.tag_id)
    frm = tl.join(b, b.c.id == tl.c.build_id)
    if prefix:
        frm = frm.join(s.package, s.package.c.id == b.c.pkg_id)
    return (select(tl.c.build_id, tl.c.tag_id, tl.c.create_event,
                   func.row_number().over(
                       partition_by=b.c.pkg_id,
                       order_by=(walk_order, tl.c.create_event.desc(),
                                 tl.c.build_id.desc())).label("nth"))
            .select_from(frm).where(*where).subquery("first"))


#: what read_latest_rpms gives of each RPM (the rpminfo columns), and of its build
_REPO_RPM_KEYS = ("id", "name", "version", "release", "epoch", "arch", "build_id",
                  "payloadhash", "size", "metadata_only")
_REPO_BUILD_KEYS = ("name", "version", "release", "volume_name")


def read_latest_rpms(tag_id, event, packages):
    """The RPMs of the latest builds of the tag and its parents as of ``event`` whose package
    is in ``packages`` (the tag's inherited package list as of that event) and not blocked:
    what ``read_tagged_rpms(tag_id, event, inherit=True, latest=True)`` lists, in one query,
    for repoInit. Returns ``[(rpm dict with _REPO_RPM_KEYS, build dict with
    _REPO_BUILD_KEYS)]``, one build dict per build.

    read_tagged_rpms makes Koji's full build dict of each build (times formatted, owner,
    promoter ...) and then asks for the RPMs of those builds by id, a bound parameter per
    build; repoInit needs none of that (1,000 builds: the second largest part of its time)."""
    taglist = [tag_id] + [link["parent_id"] for link in read_full_inheritance(tag_id, event)]
    place = {}
    for tid in taglist:
        place.setdefault(tid, len(place))
    tl, b = s.tag_listing, s.build
    if context.conn.dialect.name == "postgresql":
        params = {"tags": list(place)}
        if event is not None:
            params["event"] = as_int(event, "event")
        rows = _whole_tag_rows_pg(_latest_rpms_pg(event is None), params)
    else:
        first = _first_of_each_package(place, [tl.c.tag_id.in_(list(place)),
                                               active_at(tl, event), b.c.state == COMPLETE])
        rows = context.conn.execute(_latest_rpms_of(first)).all()
    nrpm, i_build = len(_REPO_RPM_KEYS), _REPO_RPM_KEYS.index("build_id")
    builds = {}
    out = []
    for row in rows:
        pinfo = packages.get(row[nrpm])
        if pinfo is None or pinfo["blocked"]:
            continue
        bid = row[i_build]
        build = builds.get(bid)
        if build is None:
            build = builds[bid] = dict(zip(_REPO_BUILD_KEYS, row[nrpm + 1:nrpm + 5]))
        out.append((place[row[-1]], row[0], dict(zip(_REPO_RPM_KEYS, row[:nrpm])), build))
    # as read_tagged_rpms: tag by tag in walk order, by RPM id within a tag
    out.sort(key=lambda e: (e[0], e[1]))
    return [(rpm, build) for _p, _i, rpm, build in out]


def _latest_rpms_of(first):
    """The RPMs (with their build's fields and the tag found in) of the builds of ``first``
    (_first_of_each_package) numbered 1."""
    b, r = s.build, s.rpminfo
    return (select(*[r.c[k] for k in _REPO_RPM_KEYS], b.c.pkg_id, s.package.c.name,
                   b.c.version, b.c.release, s.volume.c.name, first.c.tag_id)
            .select_from(r.join(first, first.c.build_id == r.c.build_id)
                         .join(b, b.c.id == r.c.build_id)
                         .join(s.package, s.package.c.id == b.c.pkg_id)
                         .join(s.volume, s.volume.c.id == b.c.volume_id))
            .where(first.c.nth == 1))


#: read_latest_rpms' statement on PostgreSQL, compiled once (now, or at an event)
_LATEST_RPMS_PG = {}


def _latest_rpms_pg(now):
    """read_latest_rpms' statement for PostgreSQL, compiled once: the tags are an array
    parameter (``tags``, walk order: a listing's place is its tag's position in it, as
    _first_of_each_package's CASE gives it) and the event (``event``) a parameter, so the
    same SQL serves every tag and event (and the server may keep it prepared)."""
    compiled = _LATEST_RPMS_PG.get(now)
    if compiled is None:
        from sqlalchemy import ARRAY, Integer, and_, any_, or_
        from sqlalchemy.dialects.postgresql import psycopg

        tl, b = s.tag_listing, s.build
        tags = bindparam("tags", type_=ARRAY(Integer))
        if now:
            when = tl.c.active.is_(True)
        else:
            ev = bindparam("event", type_=Integer)
            when = and_(tl.c.create_event <= ev,
                        or_(tl.c.revoke_event.is_(None), tl.c.revoke_event > ev))
        first = (select(tl.c.build_id, tl.c.tag_id, tl.c.create_event,
                        func.row_number().over(
                            partition_by=b.c.pkg_id,
                            order_by=(func.array_position(tags, tl.c.tag_id),
                                      tl.c.create_event.desc(),
                                      tl.c.build_id.desc())).label("nth"))
                 .select_from(tl.join(b, b.c.id == tl.c.build_id))
                 .where(tl.c.tag_id == any_(tags), when, b.c.state == COMPLETE)
                 .subquery("first"))
        compiled = _LATEST_RPMS_PG[now] = _latest_rpms_of(first).compile(
            dialect=psycopg.dialect())
    return compiled


def _whole_tag_rows_pg(compiled, params):
    """The rows of ``compiled`` (a read of every listing of a tag) with ``params``, on
    PostgreSQL without nested-loop joins: such a read is best made with hash joins whatever the
    planner's statistics say.
    Before a table is first analysed (a new database; autovacuum looks once a minute) or
    after a mass tagging, the planner takes the tag for a few rows and chose a nested loop
    that scans the tag's index once per build: quadratic (1,000 builds: 19 of the query's
    25 ms; 7 ms once analysed). The setting is the transaction's own (set_config's
    is_local) and put back after the query.

    The setting, the query and the setting put back go to the server in one round trip
    (psycopg's pipeline mode; they were three): the value to put back is kept on the server
    (a placeholder setting of the transaction, :data:`_NESTLOOP_SAVED`), not read first.
    The query runs on the driver's cursor: its rows are plain tuples (what the caller
    indexes)."""
    raw = context.conn.connection.dbapi_connection
    with raw.cursor() as off, raw.cursor() as cur, raw.cursor() as back:
        with raw.pipeline():
            off.execute(_NESTLOOP_OFF)
            cur.execute(compiled.string, compiled.construct_params(params))
            back.execute(_NESTLOOP_BACK)
        return cur.fetchall()


#: a placeholder setting (a name with a dot) that keeps enable_nestloop's value while
#: _whole_tag_rows_pg's query runs, local to the transaction
_NESTLOOP_SAVED = "pungi_like.saved_nestloop"
_NESTLOOP_OFF = ("SELECT set_config('%s', current_setting('enable_nestloop'), true), "
                 "set_config('enable_nestloop', 'off', true)" % _NESTLOOP_SAVED)
_NESTLOOP_BACK = ("SELECT set_config('enable_nestloop', current_setting('%s'), true)"
                  % _NESTLOOP_SAVED)


def _build_id_in(column):
    """``column IN`` the build ids of the bound parameter ``ids``, as ONE parameter: an
    integer array on PostgreSQL (``= ANY(:ids)``), a JSON array text on SQLite (its
    ``json_each``). An expanding ``IN`` made a parameter per build: 4,000 builds cost more
    to render and send (SQLAlchemy's expansion, psycopg's conversion of the query) than the
    query took, and the statement could not be kept compiled."""
    from sqlalchemy import ARRAY, Integer, any_

    if context.conn.dialect.name == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(Integer)))
    each = func.json_each(bindparam("ids")).table_valued("value")
    return column.in_(select(each.c.value))


def read_tagged_rpms(tag_id, event=None, inherit=False, latest=False, package=None, arch=None,
                     rpmsigs=False, owner=None, draft=None, extra=True, packages=None):
    """[rpms, builds] as Koji's readTaggedRPMS: the RPMs of the tagged builds, tag by tag in
    walk order and by RPM id within a tag. ``packages``: as for read_tagged_builds."""
    builds = read_tagged_builds(tag_id, event, inherit, latest, package, owner, draft=draft,
                                packages=packages)
    # Which tag each build was found in: an RPM counts only through that tag (a build listed
    # through several tags counts through the last, as in Koji).
    found_in = {b["id"]: b["tag_id"] for b in builds}
    place = {}
    for b in builds:
        place.setdefault(b["tag_id"], len(place))
    r = s.rpminfo
    cols = [r.c.name, r.c.version, r.c.release, r.c.arch, r.c.id, r.c.epoch, r.c.draft,
            r.c.payloadhash, r.c.size, r.c.buildtime, r.c.buildroot_id, r.c.build_id,
            r.c.metadata_only]
    if extra:
        cols.append(r.c.extra)
    frm = r
    if rpmsigs:
        cols.append(s.rpmsigs.c.sigkey)
        frm = frm.outerjoin(s.rpmsigs, s.rpmsigs.c.rpm_id == r.c.id)
    q = select(*cols).select_from(frm).where(_build_id_in(r.c.build_id))
    if arch:
        if isinstance(arch, str):
            q = q.where(r.c.arch == arch)
        elif isinstance(arch, (list, tuple)):
            q = q.where(r.c.arch.in_(list(arch)))
        else:
            raise koji.GenericError("Invalid type for arch option: %s" % type(arch))
    if draft is not None:
        q = q.where(r.c.draft.is_(bool(draft)))
    ids = sorted(found_in)
    rows = []
    keys = [str(c.name) for c in cols]  # (plain str: the writer takes str keys only)
    pg = context.conn.dialect.name == "postgresql"
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows += context.conn.execute(q, {"ids": chunk if pg else json.dumps(chunk)}).fetchall()
    # tag by tag in walk order, by RPM id within a tag; the sort is stable, so rows of one
    # RPM (one per signature) keep the order they came in
    i_build, i_id = keys.index("build_id"), keys.index("id")
    if len(place) > 1:
        build_place = {bid: place[tid] for bid, tid in found_in.items()}
        rows.sort(key=lambda row: (build_place[row[i_build]], row[i_id]))
    else:  # all found in one tag (always so without inherit): by RPM id alone, the same order
        rows.sort(key=operator.itemgetter(i_id))
    if not extra:
        return [[dict(zip(keys, row)) for row in rows], builds]
    rpms = []
    loads = json.loads
    for row in rows:
        d = dict(zip(keys, row))
        x = d["extra"]
        d["extra"] = loads(x) if x else None
        rpms.append(d)
    return [rpms, builds]
