"""readTaggedBuilds/readTaggedRPMS (hub/tag_reads.py) against a per-tag model of Koji's loop.

The hub answers listTagged/listTaggedRPMS/getLatestBuilds with one query over the whole
inheritance walk (and ``row_number()`` for ``latest``). This test builds tags with awkward data
in a real database (SQLite and PostgreSQL): a diamond so one tag is reached twice in the walk,
several builds of a package per tag tagged at different events, builds tagged in two tags of the
walk, a blocked package, a package missing from the list, a failed build, untagged listings (for
queries at an earlier event), signatures and two arches. Every combination of the options must
give exactly the rows, order and keys of the model, which walks the tags one by one as Koji's
readTaggedBuilds does.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid

import koji
import pytest
from sqlalchemy import insert, select, update

from pungi_like.buildsvc.db import open_db
from pungi_like.buildsvc.db import schema as s
from pungi_like.buildsvc.hub.builds import build_select
from pungi_like.buildsvc.hub.common import active_at
from pungi_like.buildsvc.hub.context import context
from pungi_like.buildsvc.hub.inheritance import read_full_inheritance
from pungi_like.buildsvc.hub.packages import read_package_list
from pungi_like.buildsvc.hub.tag_reads import (
    _tagged_build_info, latest_value, read_tagged_builds, read_tagged_rpms,
)
from pungi_like.buildsvc.instance import init_hub

COMPLETE = koji.BUILD_STATES["COMPLETE"]
PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# ---- the model: Koji's loop, one query per tag of the walk -------------------------------------

def model_builds(tag_id, event=None, inherit=False, latest=False, package=None, owner=None,
                 prefix=None, draft=None):
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
    packages = read_package_list(tag_id, pkg_id=pkg_id, event=event, inherit=True,
                                 with_owners=False)
    tl = s.tag_listing
    base = (build_select((s.tag.c.id.label("tag_id"), s.tag.c.name.label("tag_name"),
                          tl.c.create_event))
            .join_from(s.build, tl, tl.c.build_id == s.build.c.id)
            .join(s.tag, s.tag.c.id == tl.c.tag_id)
            .where(active_at(tl, event), s.build.c.state == COMPLETE)
            .order_by(tl.c.create_event.desc(), s.build.c.id.desc()))
    if pkg_id is not None:
        base = base.where(s.build.c.pkg_id == pkg_id)
    if owner is not None:
        base = base.where(s.build.c.owner == owner)
    if draft is not None:
        base = base.where(s.build.c.draft.is_(bool(draft)))
    if prefix:
        base = base.where(s.package.c.name.ilike(prefix + "%"))
    builds, seen = [], {}
    for tid in taglist:
        for row in context.conn.execute(base.where(tl.c.tag_id == tid)):
            pinfo = packages.get(row.package_id)
            if pinfo is None or pinfo["blocked"]:
                continue
            if latest:
                count = seen.get(row.package_id, 0)
                if (latest is True and count) or (latest is not True and count >= latest):
                    continue
                seen[row.package_id] = count + 1
            builds.append(_tagged_build_info(row, False))  # the row's shape is the module's
    return builds


def model_rpms(tag_id, event=None, inherit=False, latest=False, arch=None, rpmsigs=False):
    builds = model_builds(tag_id, event, inherit, latest)
    found_in = {b["id"]: b["tag_id"] for b in builds}
    r, tl = s.rpminfo, s.tag_listing
    cols = [r.c.name, r.c.version, r.c.release, r.c.arch, r.c.id, r.c.epoch, r.c.draft,
            r.c.payloadhash, r.c.size, r.c.buildtime, r.c.buildroot_id, r.c.build_id,
            r.c.metadata_only, tl.c.tag_id, r.c.extra]
    frm = r.join(tl, tl.c.build_id == r.c.build_id)
    if rpmsigs:
        cols.append(s.rpmsigs.c.sigkey)
        frm = frm.outerjoin(s.rpmsigs, s.rpmsigs.c.rpm_id == r.c.id)
    q = select(*cols).select_from(frm).where(active_at(tl, event))
    if arch:
        q = q.where(r.c.arch.in_(arch) if isinstance(arch, list) else r.c.arch == arch)
    rpms = []
    for tid in dict.fromkeys(b["tag_id"] for b in builds):
        rows = context.conn.execute(q.where(tl.c.tag_id == tid)
                                    .order_by(r.c.id, *([s.rpmsigs.c.sigkey] if rpmsigs else [])))
        for row in rows:
            if found_in.get(row.build_id) != tid:
                continue
            d = dict(row._mapping)
            del d["tag_id"]
            d["extra"] = json.loads(d["extra"]) if d["extra"] else None
            rpms.append(d)
    return [rpms, builds]


# ---- data ----------------------------------------------------------------------------------

def _populate(db):
    """Tags top -> (left, right) -> base (a diamond) plus odd data; returns (tag ids, events,
    the other user)."""
    rnd = random.Random(7)
    with db.engine.begin() as conn:
        admin = conn.execute(select(s.users.c.id)).scalar()
        other = conn.execute(insert(s.users).values(name="other", status=0, usertype=0)
                             .returning(s.users.c.id)).scalar_one()
        vol = conn.execute(select(s.volume.c.id)).scalar()
        clock = itertools.count(1000)

        def event():
            return conn.execute(insert(s.events).values(ts=float(next(clock)))
                                .returning(s.events.c.id)).scalar_one()

        ev0 = event()
        hist = {"creator_id": admin, "active": True}
        tags = {}
        for name in ("base", "left", "right", "top"):
            tags[name] = conn.execute(insert(s.tag).values(name=name)
                                      .returning(s.tag.c.id)).scalar_one()
            conn.execute(insert(s.tag_config).values(
                tag_id=tags[name], arches="x86_64", locked=False, maven_support=False,
                maven_include_all=False, create_event=ev0, **hist))
        # base is reached through left with a package filter, then again through right
        # without one (a stronger visit, so the walk lists it twice)
        for child, parent, prio, pkg_filter in (
                ("top", "left", 10, ""), ("top", "right", 20, ""),
                ("left", "base", 10, "^(alpha|beta|gamma|Alpine)$"), ("right", "base", 10, "")):
            conn.execute(insert(s.tag_inheritance).values(
                tag_id=tags[child], parent_id=tags[parent], priority=prio, maxdepth=None,
                intransitive=False, noconfig=False, pkg_filter=pkg_filter, create_event=ev0,
                **hist))
        names = ["alpha", "beta", "gamma", "delta", "eps", "blocked", "unlisted", "Alpine"]
        pkg = {n: conn.execute(insert(s.package).values(name=n).returning(s.package.c.id))
               .scalar_one() for n in names}
        for n in names:
            if n == "unlisted":
                continue
            conn.execute(insert(s.tag_packages).values(
                package_id=pkg[n], tag_id=tags["base"], blocked=False, extra_arches=None,
                create_event=ev0, **hist))
        conn.execute(insert(s.tag_packages).values(
            package_id=pkg["blocked"], tag_id=tags["top"], blocked=True, extra_arches=None,
            create_event=ev0, **hist))
        # owners: base's entries (beta's by the other user, none for Alpine), an owner row
        # without an entry in left; ownership of alpha moves to the other user later
        for n in names:
            if n not in ("unlisted", "Alpine"):
                conn.execute(insert(s.tag_package_owners).values(
                    package_id=pkg[n], tag_id=tags["base"], create_event=ev0,
                    owner=other if n == "beta" else admin, **hist))
        conn.execute(insert(s.tag_package_owners).values(
            package_id=pkg["gamma"], tag_id=tags["left"], owner=other, create_event=ev0,
            **hist))
        events = [ev0]
        bid = 0
        for n in names:
            for v in range(4):
                bid += 1
                state = COMPLETE if (n, v) != ("gamma", 3) else koji.BUILD_STATES["FAILED"]
                conn.execute(insert(s.build).values(
                    id=bid, pkg_id=pkg[n], version="1.%d" % v, release="1", epoch=None,
                    draft=(n, v) == ("delta", 2), state=state,
                    owner=other if v == 1 else admin, volume_id=vol, create_event=ev0,
                    start_ts=1000.0, completion_ts=1000.0 + v,
                    extra=json.dumps({"v": v}) if v == 2 else None))
                for arch in ("x86_64", "noarch", "src"):
                    rid = conn.execute(insert(s.rpminfo).values(
                        build_id=bid, name=n, version="1.%d" % v, release="1", epoch=None,
                        arch=arch, draft=False, external_repo_id=0,
                        payloadhash="%032x" % rnd.getrandbits(128), size=rnd.randint(1, 9999),
                        buildtime=1000, metadata_only=False,
                        extra=json.dumps({"a": arch}) if arch == "noarch" else None)
                                       .returning(s.rpminfo.c.id)).scalar_one()
                    for key in ("aaaa1111", "bbbb2222")[:rnd.randint(0, 2)]:
                        conn.execute(insert(s.rpmsigs).values(rpm_id=rid, sigkey=key,
                                                              sighash="x"))
                # tag it into one or two tags, at events of their own (several per event)
                where = rnd.sample(["base", "left", "right", "top"], rnd.choice((1, 1, 2)))
                ev = event() if rnd.random() < 0.7 else events[-1]
                if n == "eps":  # four builds of a package tagged into one tag at one event
                    where = ["left"]
                    ev = tie = tie if v else event()
                if ev != events[-1]:
                    events.append(ev)
                for t in where:
                    conn.execute(insert(s.tag_listing).values(
                        build_id=bid, tag_id=tags[t], create_event=ev, **hist))
        # untag a few later, so that queries at earlier events see them
        ev = event()
        events.append(ev)
        for row in conn.execute(select(s.tag_listing.c.build_id, s.tag_listing.c.tag_id)
                                .where(s.tag_listing.c.build_id % 5 == 0)).all():
            conn.execute(update(s.tag_listing).where(
                s.tag_listing.c.build_id == row.build_id,
                s.tag_listing.c.tag_id == row.tag_id).values(
                active=None, revoke_event=ev, revoker_id=admin))
        ev = event()
        events.append(ev)
        own = s.tag_package_owners
        conn.execute(update(own).where(own.c.package_id == pkg["alpha"], own.c.active.is_(True))
                     .values(active=None, revoke_event=ev, revoker_id=admin))
        conn.execute(insert(own).values(package_id=pkg["alpha"], tag_id=tags["base"],
                                        owner=other, create_event=ev, **hist))
    return tags, events, other


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hub_db(request, tmp_path_factory):
    pg_name = db_url = None
    if request.param == "postgres":
        import psycopg

        pg_name = "pl_d2_tag_reads_%s" % uuid.uuid4().hex[:10]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s" % pg_name)
        db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
    config = init_hub(str(tmp_path_factory.mktemp("tagreads")), "admin", db_url)
    db = open_db(config.db_url)
    db.hub_config = config  # for the test that serves the hub
    try:
        yield (db,) + _populate(db)
    finally:
        db.dispose()
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


def _in_context(db, fn):
    with db.engine.begin() as conn:
        context.reset()
        context.conn = conn
        try:
            return fn()
        finally:
            context.reset()


def test_the_walk_reaches_a_tag_twice(hub_db):
    db, tags, _events, _other = hub_db
    walk = _in_context(db, lambda: [link["parent_id"]
                                    for link in read_full_inheritance(tags["top"])])
    assert walk.count(tags["base"]) == 2


@pytest.mark.parametrize("latest", [False, True, 1, 2])
@pytest.mark.parametrize("inherit", [False, True])
def test_builds_equal_the_model(hub_db, latest, inherit):
    db, tags, events, other = hub_db
    checked = 0
    for tag in tags.values():
        for event in (None, events[len(events) // 2], events[-2]):
            for extra in ({}, {"prefix": "al"}, {"owner": other}, {"draft": False},
                          {"draft": True}, {"package": "beta"}, {"package": "nosuch"}):
                def both():
                    got = read_tagged_builds(tag, event, inherit, latest, **extra)
                    want = model_builds(tag, event, inherit, latest, **extra)
                    return got, want
                got, want = _in_context(db, both)
                assert got == want, (tag, event, extra)
                assert [list(b) for b in got] == [list(b) for b in want]
                checked += bool(want)
    assert checked > 20  # most combinations find builds


@pytest.mark.parametrize("latest", [False, True, 2])
def test_rpms_equal_the_model(hub_db, latest):
    db, tags, events, _other = hub_db
    for tag in tags.values():
        for event in (None, events[len(events) // 2]):
            for arch in (None, "src", ["x86_64", "noarch"]):
                for sigs in (False, True):
                    def both():
                        got = read_tagged_rpms(tag, event, True, latest, arch=arch,
                                               rpmsigs=sigs)
                        want = model_rpms(tag, event, True, latest, arch=arch, rpmsigs=sigs)
                        return got, want
                    got, want = _in_context(db, both)
                    if sigs:
                        # the order of two signatures of one RPM is the database's in both
                        key = lambda rpms: [(r["id"], r["sigkey"] or "") for r in rpms]  # noqa
                        assert sorted(key(got[0])) == sorted(key(want[0]))
                        assert [r["id"] for r in got[0]] == [r["id"] for r in want[0]]
                    else:
                        assert got == want, (tag, event, arch)
                        assert [list(r) for r in got[0]] == [list(r) for r in want[0]]
    full = _in_context(db, lambda: read_tagged_rpms(tags["top"], None, True, True))
    assert {r["arch"] for r in full[0]} == {"x86_64", "noarch", "src"}
    assert any(r["extra"] == {"a": "noarch"} for r in full[0])


def test_repo_init_rpms_equal_the_latest_rpms(hub_db):
    """repoInit's one-query read (read_latest_rpms) lists the RPMs read_tagged_rpms lists for
    inherit=True, latest=True, in its order, each with its own build's path fields."""
    from pungi_like.buildsvc.hub.packages import read_package_list
    from pungi_like.buildsvc.hub.tag_reads import read_latest_rpms

    db, tags, events, _other = hub_db
    checked = 0
    for tag in tags.values():
        # (None: the tag now, PostgreSQL's other statement)
        for event in (events[len(events) // 2], events[-2], events[-1], None):
            def both():
                packages = read_package_list(tag, event=event, inherit=True,
                                             with_owners=False)
                return (read_latest_rpms(tag, event, packages),
                        read_tagged_rpms(tag, event, True, True, extra=False,
                                         packages=packages))
            got, (rpms, builds) = _in_context(db, both)
            by_id = {b["id"]: b for b in builds}
            assert [r["id"] for r, _b in got] == [r["id"] for r in rpms], (tag, event)
            for (r, b), want in zip(got, rpms):
                assert r == {k: want[k] for k in r}, (tag, event)
                wb = by_id[want["build_id"]]
                assert b == {k: wb[k] for k in ("name", "version", "release", "volume_name")}
            checked += bool(got)
    assert checked > 5


def test_repo_init_read_leaves_the_planner_setting_as_it_was(hub_db):
    """On PostgreSQL read_latest_rpms turns nested-loop joins off for its query only: the
    transaction's setting is the same after it, whether it was on or off before."""
    from sqlalchemy import text

    from pungi_like.buildsvc.hub.packages import read_package_list
    from pungi_like.buildsvc.hub.tag_reads import read_latest_rpms

    db, tags, events, _other = hub_db
    if db.is_sqlite:
        pytest.skip("a PostgreSQL planner setting")
    tag = max(tags.values())
    for before in ("on", "off"):
        def run():
            context.conn.execute(text("SELECT set_config('enable_nestloop', :v, true)"),
                                 {"v": before})
            packages = read_package_list(tag, event=events[-1], inherit=True,
                                         with_owners=False)
            got = read_latest_rpms(tag, events[-1], packages)
            return got, context.conn.execute(
                text("SELECT current_setting('enable_nestloop')")).scalar()
        got, after = _in_context(db, run)
        assert got, "the tag lists RPMs"
        assert after == before


def model_package_list(tag_id=None, user_id=None, pkg_id=None, event=None, inherit=False,
                       with_dups=False, with_owners=True, with_blocked=True):
    """read_package_list as one SQL join of the entries with their owner rows."""
    import re

    from sqlalchemy import and_

    tp, own = s.tag_packages, s.tag_package_owners
    cols = [s.package.c.id.label("package_id"), s.package.c.name.label("package_name"),
            s.tag.c.id.label("tag_id"), s.tag.c.name.label("tag_name"),
            tp.c.extra_arches, tp.c.blocked]
    frm = tp.join(s.tag, s.tag.c.id == tp.c.tag_id).join(s.package,
                                                           s.package.c.id == tp.c.package_id)
    if with_owners:
        cols += [s.users.c.id.label("owner_id"), s.users.c.name.label("owner_name")]
        frm = frm.join(own, and_(own.c.tag_id == tp.c.tag_id, own.c.package_id == tp.c.package_id,
                                 active_at(own, event))).join(s.users,
                                                              s.users.c.id == own.c.owner)
    base = select(*cols).select_from(frm).where(active_at(tp, event))
    if not with_blocked:
        base = base.where(tp.c.blocked.is_(False))
    if user_id is not None:
        base = base.where(s.users.c.id == user_id)
    if pkg_id is not None:
        base = base.where(s.package.c.id == pkg_id)
    packages = {}

    def add(rows, filters=()):
        for r in rows:
            p = dict(r._mapping)
            if filters and not all(f.match(p["package_name"]) for f in filters):
                continue
            if with_dups:
                packages.setdefault(p["package_id"], []).append(p)
            elif p["package_id"] not in packages:
                packages[p["package_id"]] = p

    if tag_id is None:
        add(context.conn.execute(base))
        return packages
    add(context.conn.execute(base.where(s.tag.c.id == tag_id)))
    if inherit:
        for link in read_full_inheritance(tag_id, event):
            add(context.conn.execute(base.where(s.tag.c.id == link["parent_id"])),
                [re.compile(p) for p in link["filter"]])
    return packages


def test_package_lists_equal_the_join(hub_db):
    """The entries and their owners, read apart and matched in Python (packages.py), are
    those of the SQL join, at every event, with and without owners, inheritance and dups."""
    from pungi_like.buildsvc.hub.packages import read_package_list

    db, tags, events, other = hub_db
    owned = 0
    for tag in list(tags.values()) + [None]:
        for event in (None, events[0], events[-2]):
            for inherit, dups, owners, blocked, user in itertools.product(
                    (False, True), (False, True), (True, False), (True, False), (None, other)):
                if user is not None and not owners:
                    continue
                kw = dict(user_id=user, event=event, inherit=inherit, with_dups=dups,
                          with_owners=owners, with_blocked=blocked)

                def both():
                    got = read_package_list(tag, **kw)
                    want = model_package_list(tag, **kw)
                    return got, want
                got, want = _in_context(db, both)
                norm = lambda d: {k: (sorted(map(sorted, (e.items() for e in v)))  # noqa
                                      if dups else sorted(v.items())) for k, v in d.items()}
                assert norm(got) == norm(want), (tag, kw)
                owned += sum(1 for v in got.values() for e in (v if dups else [v])
                             if e.get("owner_id") == other)
    assert owned > 10


def test_big_answers_are_written_in_pieces(hub_db, monkeypatch):
    """An answer goes out in pieces of at most REPLY_CHUNK bytes, each write with its own
    timeout: one write of a 60 MB answer had the socket timeout for the whole of it, and a
    client that parses as it reads lost the connection. The pieces make the same document."""
    import io
    import xmlrpc.client

    import koji.xmlrpcplus

    from pungi_like.buildsvc.hub import server

    db, tags, _events, _other = hub_db
    monkeypatch.setattr(server, "REPLY_CHUNK", 4096)
    app = server.HubApp(db.hub_config, db=db)
    body = koji.xmlrpcplus.dumps((tags["top"], {"inherit": True, "latest": True,
                                                "__starstar": True}),
                                 "listTaggedRPMS", allow_none=1).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/kojihub", "CONTENT_TYPE": "text/xml",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "x", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http"}
    headers = {}
    chunks = list(app(environ, lambda status, h: headers.update(h, status=status)))
    assert headers["status"] == "200 OK"
    assert len(chunks) > 3 and all(len(c) <= 4096 for c in chunks)
    answer = b"".join(chunks)
    assert int(headers["Content-Length"]) == len(answer)
    got = xmlrpc.client.loads(answer)[0][0]
    want = _in_context(db, lambda: read_tagged_rpms(tags["top"], None, True, True))
    assert got == want and got[0]


def test_rpms_of_the_builds_are_read_with_one_parameter(hub_db):
    """read_tagged_rpms asks for the RPMs of the found builds with their ids as ONE bound
    parameter (an array on PostgreSQL, a JSON array on SQLite), not one per build: a
    20,000-build tag's 4,000 parameters cost more to render and send than the query."""
    from sqlalchemy import event as sa_event

    db, tags, _events, _other = hub_db
    seen = []

    def note(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM rpminfo" in statement:
            seen.append(parameters)

    sa_event.listen(db.engine, "before_cursor_execute", note)
    try:
        rpms, builds = _in_context(db, lambda: read_tagged_rpms(tags["top"], None, True,
                                                                False))
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", note)
    assert len(builds) > 3 and rpms
    assert len(seen) == 1
    assert len(seen[0]) == 1, seen


def test_answers_are_the_models_byte_for_byte(hub_db):
    """The listTaggedRPMS answer the writer makes of read_tagged_rpms is the one it makes of
    the model's rows, byte for byte, and parses back to the model with the same types (a
    draft of 1 instead of True, or another key order, would compare equal as dicts). Odd text
    is added for it (in a transaction rolled back after): names, versions and ``extra`` with
    ``<``, ``&``, ``>``, non-ASCII and nested values. Reads of the base tag find every build
    in one tag (RPM rows sorted by id alone), reads of the top tag in several."""
    import xmlrpc.client

    from pungi_like.buildsvc.hub import marshal

    db, tags, events, _other = hub_db
    with db.engine.connect() as conn:
        trans = conn.begin()
        context.reset()
        context.conn = conn
        try:
            admin = conn.execute(select(s.users.c.id)).scalar()
            vol = conn.execute(select(s.volume.c.id)).scalar()
            ev = conn.execute(insert(s.events).values(ts=5000.0)
                              .returning(s.events.c.id)).scalar_one()
            pkg = conn.execute(select(s.package.c.id).where(s.package.c.name == "alpha")
                               ).scalar_one()
            bid = conn.execute(insert(s.build).values(
                id=1000, pkg_id=pkg, version="9<&>", release="1\u00e9\u4e2d", epoch=3,
                draft=False, state=COMPLETE, owner=admin, volume_id=vol, create_event=ev,
                start_ts=1000.0, completion_ts=1000.5, extra=json.dumps({"x": "<&>"}))
                               .returning(s.build.c.id)).scalar_one()
            odd = [("alpha<x>&y", {"a": "<b> & c", "n": [1, 2 ** 40, None, True, 1.5],
                                   "u": "caf\u00e9 \u2603", "d": {"e": "&amp;"}}),
                   ("alpha-\u00fc", ["<", 5, {}]), ("alpha-plain", "just <text>"),
                   ("alpha-none", None)]
            for k, (name, extra) in enumerate(odd):
                rid = conn.execute(insert(s.rpminfo).values(
                    build_id=bid, name=name, version="9<&>", release="1\u00e9\u4e2d", epoch=3,
                    arch="x86_64" if k % 2 else "noarch", draft=bool(k == 2),
                    external_repo_id=0, payloadhash="%%s&%032x" % k, size=2 ** 31 - 4 + k,
                    buildtime=1000, metadata_only=k == 3,
                    extra=None if extra is None else json.dumps(extra))
                                   .returning(s.rpminfo.c.id)).scalar_one()
                conn.execute(insert(s.rpmsigs).values(rpm_id=rid, sigkey="c<&>", sighash="x"))
            conn.execute(insert(s.tag_listing).values(build_id=bid, tag_id=tags["top"],
                                                      create_event=ev, creator_id=admin,
                                                      active=True))
            checked = 0
            for tag in (tags["top"], tags["base"]):
                for inherit, latest in ((True, True), (False, False), (True, 2), (False, True)):
                    for arch in (None, ["x86_64", "noarch"]):
                        got = read_tagged_rpms(tag, None, inherit, latest, arch=arch)
                        want = model_rpms(tag, None, inherit, latest, arch=arch)
                        answer = marshal.dumps_response(got)
                        assert answer == marshal.dumps_response(want), (tag, inherit, latest)
                        parsed = xmlrpc.client.loads(answer.encode("utf-8"),
                                                     use_builtin_types=True)[0][0]
                        assert repr(parsed) == repr(want), (tag, inherit, latest, arch)
                        checked += "\u2603" in answer and "&lt;" in answer
            assert checked >= 4  # the odd rows were in the answers of the top tag
        finally:
            context.reset()
            trans.rollback()


def _model_change_events(conn, tag_ids, agg, before=None, after=None):
    """tag_change_events' values as Koji's tag_last_change_event reads them: per table the
    ``agg`` of its create and of its revoke events (each bounded), over plain reads."""
    from pungi_like.buildsvc.hub.events import _TAG_TABLES

    pick = max if agg == "max" else min

    def bounded(values):
        values = [v for v in values if v is not None and (before is None or v < before)
                  and (after is None or v > after)]
        return [pick(values)] if values else []

    out = []
    for tname in _TAG_TABLES:
        t = s.metadata.tables[tname]
        rows = conn.execute(select(t.c.create_event, t.c.revoke_event)
                            .where(t.c.tag_id.in_(tag_ids))).all()
        out += bounded([r[0] for r in rows]) + bounded([r[1] for r in rows])
    upd = [r[0] for r in conn.execute(select(s.tag_updates.c.update_event).where(
        s.tag_updates.c.tag_id.in_(tag_ids)))]
    out += [pick(upd)] if upd else []
    erepos = [r[0] for r in conn.execute(select(s.tag_external_repos.c.external_repo_id)
                                         .where(s.tag_external_repos.c.tag_id.in_(tag_ids)))]
    erc = s.external_repo_config
    rows = conn.execute(select(erc.c.create_event, erc.c.revoke_event)
                        .where(erc.c.external_repo_id.in_(erepos))).all()
    out += bounded([r[0] for r in rows]) + bounded([r[1] for r in rows])
    return sorted(out)


def test_tag_change_events_equal_the_model(hub_db):
    """The last (first) change of a tag and its parents before (after) an event, as the
    automatic repo check, repoInit and tagLastChangeEvent/tagFirstChangeEvent read it: the
    same values as a read of each table, at every event of the data (with untaggings and an
    owner change among them), with and without a bound."""
    from pungi_like.buildsvc.hub.events import tag_change_events

    db, tags, events, _other = hub_db
    bounds = sorted(set(events)) + [max(events) + 1]
    checked = 0
    with db.engine.connect() as conn:
        trans = conn.begin()
        context.reset()
        context.conn = conn
        try:
            # a tag extra of base after the data's events (rolled back at the end: the
            # other tests share the data)
            ev = conn.execute(insert(s.events).values(ts=5000.0)
                              .returning(s.events.c.id)).scalar_one()
            admin = conn.execute(select(s.users.c.id)).scalar()
            conn.execute(insert(s.tag_extra).values(tag_id=tags["base"], key="k",
                                                    value='"v"', create_event=ev,
                                                    creator_id=admin, active=True))
            bounds.append(ev + 1)
            for ids in ([tags["base"]], [tags["top"], tags["left"], tags["right"],
                                         tags["base"]], [tags["left"]]):
                for agg, key in (("max", "before"), ("min", "after")):
                    for bound in [None] + bounds:
                        kw = {} if bound is None else {key: bound}
                        got = sorted(tag_change_events(ids, agg, **kw))
                        want = _model_change_events(conn, ids, agg, **kw)
                        assert got == want, (ids, agg, kw)
                        checked += bool(want)
        finally:
            context.reset()
            trans.rollback()
    assert checked > 20
