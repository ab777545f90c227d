"""The hub's cache of whole big-read answers (hub/answer_cache.py) on SQLite and PostgreSQL.

A hub with the cache answers listTaggedRPMS/listTagged/getLatestBuilds/getLatestRPMS again from
the cache while nothing changed (the hit counter moves), and every kind of write that changes
those answers is seen by the very next call: tagging and untagging, an inheritance change, a
package list block, a build state change and a new signature, made through the same hub, through
a second hub on the same database and straight in SQL over another connection (as another
process would). Each answer is compared with a hub without the cache on the same database.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
import xmlrpc.client

import koji
import koji.xmlrpcplus
import pytest
from sqlalchemy import insert, select, update

from pungi_like.buildsvc.db import open_db
from pungi_like.buildsvc.db import schema as s
from pungi_like.buildsvc.hub import dispatch
from pungi_like.buildsvc.hub.answer_cache import AnswerCache
from pungi_like.buildsvc.hub.server import HubApp
from pungi_like.buildsvc.instance import init_hub

PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

READS = [
    ("listTaggedRPMS", ("top",), {"inherit": True, "latest": True, "rpmsigs": True}),
    ("listTaggedRPMS", ("top",), {"inherit": True}),
    ("listTagged", ("top",), {"inherit": True, "latest": True}),
    ("getLatestBuilds", ("top",), {}),
    ("getLatestRPMS", ("top",), {"rpmsigs": True}),
]


def _call(app, name, *args, environ=None, **kwargs):
    params = tuple(args) + ((dict(kwargs, __starstar=True),) if kwargs else ())
    body = koji.xmlrpcplus.dumps(params, name, allow_none=1).encode()
    out = dispatch.handle_xmlrpc(app, environ or {}, body)
    return xmlrpc.client.loads(out)[0][0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hubs(request, tmp_path):
    """(the hub with the cache, a second hub without it, another engine, admin environ)."""
    pg_name = db_url = None
    if request.param == "postgres":
        import psycopg

        pg_name = "pl_answer_cache_%s" % uuid.uuid4().hex[:10]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s" % pg_name)
        db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name
    config = init_hub(str(tmp_path / "top"), "kojiadmin", db_url)
    cached = HubApp(config)
    plain = HubApp(dataclasses.replace(config, answer_cache_mb=0))
    other = open_db(config.db_url)
    try:
        with other.engine.begin() as conn:
            admin = conn.execute(select(s.users.c.id).where(s.users.c.name == "kojiadmin")
                                 ).scalar_one()
            sid = conn.execute(insert(s.sessions).values(
                user_id=admin, key="k-admin", authtype=0, start_ts=time.time(),
                update_ts=time.time(), expired=False, closed=False)
                .returning(s.sessions.c.id)).scalar_one()
        yield cached, plain, other, {"QUERY_STRING": "session-id=%d&session-key=k-admin" % sid}
    finally:
        for db in (cached.db, plain.db, other):
            db.dispose()
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


def _add_build(conn, pkg_id, version, admin):
    """A COMPLETE build with a source and an x86_64 RPM (straight into the database)."""
    ev = conn.execute(insert(s.events).values(ts=time.time()).returning(s.events.c.id)
                      ).scalar_one()
    name = conn.execute(select(s.package.c.name).where(s.package.c.id == pkg_id)).scalar_one()
    bid = conn.execute(insert(s.build).values(
        pkg_id=pkg_id, version=version, release="1", epoch=None, draft=False,
        state=koji.BUILD_STATES["COMPLETE"], owner=admin, volume_id=0, create_event=ev,
        start_ts=1000.0, completion_ts=1001.0).returning(s.build.c.id)).scalar_one()
    for arch in ("src", "x86_64"):
        conn.execute(insert(s.rpminfo).values(
            build_id=bid, name=name, version=version, release="1", epoch=None, arch=arch,
            draft=False, external_repo_id=0, payloadhash="%032x" % (bid * 2 + len(arch)),
            size=100, buildtime=1000, metadata_only=False))
    return "%s-%s-1" % (name, version)


def test_answers_are_kept_until_a_write_changes_them(hubs):
    cached, plain, other, admin_env = hubs
    cache = cached.answer_cache
    assert cache.max_bytes > 0 and plain.answer_cache.max_bytes == 0

    def api(app, name, *args, **kwargs):
        return _call(app, name, *args, environ=admin_env, **kwargs)

    api(cached, "createTag", "base")
    api(cached, "createTag", "top", parent="base")
    api(cached, "createTag", "side")
    for pkg in ("foo", "bar"):
        api(cached, "packageListAdd", "base", pkg, owner="kojiadmin")
    with other.engine.begin() as conn:
        admin = conn.execute(select(s.users.c.id).where(s.users.c.name == "kojiadmin")
                             ).scalar_one()
        pkg = dict(conn.execute(select(s.package.c.name, s.package.c.id)).all())
        foo1 = _add_build(conn, pkg["foo"], "1.0", admin)
        foo2 = _add_build(conn, pkg["foo"], "2.0", admin)
        bar1 = _add_build(conn, pkg["bar"], "1.0", admin)
        bar2 = _add_build(conn, pkg["bar"], "2.0", admin)
    for tag, nvr in (("base", foo1), ("base", bar1), ("side", bar2)):
        api(cached, "tagBuildBypass", tag, nvr)

    last = {}

    def check(step):
        """Every read: the cached hub's answer equals the plain hub's, the same call again
        is a cache hit, and (after a write) some answer changed."""
        answers = {}
        for name, args, kwargs in READS:
            got = _call(cached, name, *args, **kwargs)
            hits = cache.hits
            again = _call(cached, name, *args, **kwargs)
            assert cache.hits == hits + 1, (step, name, "not answered from the cache")
            assert got == again == _call(plain, name, *args, **kwargs), (step, name)
            answers[(name, repr(args), repr(kwargs))] = got
        if last:
            assert answers != last, (step, "the write did not change any answer")
        last.clear()
        last.update(answers)
        return answers

    def latest_nvrs():
        builds = _call(cached, "getLatestBuilds", "top")
        return sorted(b["nvr"] for b in builds)

    check("start")
    assert latest_nvrs() == [bar1, foo1]

    # tag, through the same hub
    api(cached, "tagBuildBypass", "top", foo2)
    check("tag")
    assert latest_nvrs() == [bar1, foo2]

    # untag, through another hub on the same database
    api(plain, "untagBuildBypass", "top", foo2)
    check("untag")
    assert latest_nvrs() == [bar1, foo1]

    # an inheritance change: side becomes top's first parent, base its second
    link = {"maxdepth": None, "intransitive": False, "noconfig": False, "pkg_filter": ""}
    api(plain, "setInheritanceData", "top", [
        dict(link, parent_id=api(cached, "getTag", "side")["id"], priority=10),
        dict(link, parent_id=api(cached, "getTag", "base")["id"], priority=20)])
    check("inheritance")
    assert latest_nvrs() == [bar2, foo1]

    # a package list block
    api(cached, "packageListBlock", "top", "foo")
    check("block")
    assert latest_nvrs() == [bar2]

    # a build state change, in SQL over another connection (another process)
    with other.engine.begin() as conn:
        conn.execute(update(s.build).where(s.build.c.version == "2.0",
                                           s.build.c.pkg_id == pkg["bar"])
                     .values(state=koji.BUILD_STATES["DELETED"]))
    check("build state")
    assert latest_nvrs() == [bar1]

    # a signature, likewise
    with other.engine.begin() as conn:
        rpm_id = conn.execute(select(s.rpminfo.c.id).where(s.rpminfo.c.name == "bar",
                                                           s.rpminfo.c.version == "1.0",
                                                           s.rpminfo.c.arch == "x86_64")
                              ).scalar_one()
        conn.execute(insert(s.rpmsigs).values(rpm_id=rpm_id, sigkey="abcd1234", sighash="x"))
    answers = check("signature")
    rpms = answers[("listTaggedRPMS", "('top',)",
                    repr({"inherit": True, "latest": True, "rpmsigs": True}))][0]
    assert [r["sigkey"] for r in rpms if r["id"] == rpm_id] == ["abcd1234"]


def test_the_cache_is_bounded():
    cache = AnswerCache(100, is_sqlite=True)
    for i in range(4):
        cache.put(("k", i), b"x" * 40)
    assert len(cache) == 2 and cache.get(("k", 0)) is None and cache.get(("k", 3)) is not None
    cache.put(("big",), b"x" * 101)  # bigger than the bound: not kept, nothing evicted
    assert cache.get(("big",)) is None and len(cache) == 2


@pytest.mark.postgres
def test_every_table_raises_the_counter_on_postgres(tmp_path):
    """Schema version 7's triggers are on every table (a table a later revision adds without
    them would let its writes go unseen by the cache), and a write raises the counter once per
    transaction, at commit."""
    import psycopg
    from sqlalchemy import inspect, text

    pg_name = "pl_answer_cache_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % pg_name)
    try:
        db = open_db(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_name, create=True)
        try:
            with db.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names()) - {"data_version",
                                                                 "alembic_version"}
                triggers = conn.execute(text(
                    "SELECT c.relname, t.tgname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal")).all()
            for name in ("pl_data_version", "pl_data_version_truncate"):
                assert {r for r, t in triggers if t == name} == tables, name

            def counter():
                with db.engine.connect() as conn:
                    return conn.execute(select(s.data_version.c.n)).scalar_one()

            before = counter()
            with db.engine.begin() as conn:
                for i in range(3):
                    conn.execute(insert(s.events).values(ts=float(i)))
                conn.execute(update(s.events).values(ts=5.0))
                assert counter() == before  # not before the commit
            assert counter() == before + 1
            with db.engine.begin() as conn:  # a read-only transaction: unchanged
                conn.execute(select(s.events)).all()
            assert counter() == before + 1
        finally:
            db.dispose()
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_name)


@pytest.mark.postgres
def test_a_table_without_the_trigger_turns_the_cache_off(hubs):
    cached, _plain, other, _env = hubs
    if cached.db.is_sqlite:
        pytest.skip("PostgreSQL only")
    assert AnswerCache.for_db(other, 2 ** 20).max_bytes == 2 ** 20
    with other.engine.begin() as conn:
        conn.exec_driver_sql('DROP TRIGGER pl_data_version ON "tag_listing"')
    assert AnswerCache.for_db(other, 2 ** 20).max_bytes == 0
