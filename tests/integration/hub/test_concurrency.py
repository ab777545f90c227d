"""Finding 3 of issue 8: concurrent writers must not leave two current rows for one key.

8 clients (threads, each its own HTTPS session) tag the same builds into the same tag at once,
then edit the same tag at once. Afterwards every build is listed once, one untag removes it, the
tag has one config row carrying every client's change (no lost update), and no versioned table
has two active rows for one of Koji's unique keys. Run on both backends; PostgreSQL is where
today's code broke (SQLite writers are serialised by the hub's write lock).
"""

from __future__ import annotations

import threading

import koji
import pytest
from hubcheck_helpers import duplicate_active_rows, session

pytestmark = pytest.mark.integration

CLIENTS = 8
BUILDS = 5


def _run_together(func, clients):
    """Run ``func(i, session)`` in one thread per client, all released at once; return the
    exceptions raised (by index) and the results."""
    barrier = threading.Barrier(len(clients))
    results, errors = {}, {}

    def worker(i, sess):
        barrier.wait(timeout=120)
        try:
            results[i] = func(i, sess)
        except Exception as exc:  # noqa: BLE001 - collected and judged by the test
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i, s)) for i, s in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return results, errors


def test_concurrent_tagging_and_tag_edits_keep_one_active_row(hub):
    admin = session(hub)
    admin.createTag("race-tag", arches="x86_64")
    admin.packageListAdd("race-tag", "racepkg", owner="kojiadmin")
    builds = [admin.createEmptyBuild("racepkg", "1.0", str(r), None)
              for r in range(1, BUILDS + 1)]
    clients = [session(hub) for _ in range(CLIENTS)]

    for build_id in builds:
        # half the clients go through the tagBuild task, half through tagBuildBypass
        def tag(i, sess, build_id=build_id):
            if i % 2:
                return sess.tagBuildBypass("race-tag", build_id)
            task_id = sess.tagBuild("race-tag", build_id)
            return admin.getTaskInfo(task_id)["state"]

        results, errors = _run_together(tag, clients)
        # Every call is answered: a winner, the others a Koji "already tagged" answer (a failed
        # tagBuild task or a TagError), never a database error.
        for exc in errors.values():
            assert isinstance(exc, koji.GenericError), repr(exc)
            assert "already tagged" in str(exc), str(exc)
        assert "database" not in " ".join(str(e) for e in errors.values())

    tagged = sorted(b["build_id"] for b in admin.listTagged("race-tag"))
    assert tagged == sorted(builds), "a build is listed more than once (or missing): %s" % tagged
    assert duplicate_active_rows(hub) == {}

    for build_id in builds:
        admin.untagBuild("race-tag", build_id)
    assert admin.listTagged("race-tag") == [], "one untag left the build tagged"

    # 8 concurrent edits of one tag, each changing its own extra key and the arches
    def edit(i, sess):
        sess.editTag2("race-tag", arches="x86_64 arch%d" % i, extra={"key%d" % i: i})

    results, errors = _run_together(edit, clients)
    assert errors == {}, errors
    assert [t["name"] for t in admin.listTags() if t["name"] == "race-tag"] == ["race-tag"]
    info = admin.getTag("race-tag")
    assert info["arches"] in {"x86_64 arch%d" % i for i in range(CLIENTS)}
    # no lost update: every client's key is there
    assert info["extra"] == {"key%d" % i: i for i in range(CLIENTS)}
    assert duplicate_active_rows(hub) == {}
    history = admin.queryHistory(tables=["tag_config"], tag="race-tag")["tag_config"]
    assert sum(1 for h in history if h["active"]) == 1


def test_racing_inserts_are_retried_not_reported(hub):
    """Writers that do not share a parent row to lock (a new package name added to 8 different
    tags at once, the same new tag created 8 times) meet at a unique index; the loser's whole
    request is rerun and answers as if it had come second, never with a database error."""
    admin = session(hub)
    clients = [session(hub) for _ in range(CLIENTS)]
    for round_ in range(3):
        tags = ["race-pkg-%d-%d" % (round_, i) for i in range(CLIENTS)]
        for tag in tags:
            admin.createTag(tag)

        def add(i, sess, round_=round_, tags=tags):
            sess.packageListAdd(tags[i], "newpkg%d" % round_, owner="kojiadmin")

        results, errors = _run_together(add, clients)
        assert errors == {}, errors
        assert admin.getPackage("newpkg%d" % round_)["name"] == "newpkg%d" % round_
        for tag in tags:
            assert [p["package_name"] for p in admin.listPackages(tagID=tag)] == \
                ["newpkg%d" % round_]

        def create(i, sess, round_=round_):
            return sess.createTag("race-new-%d" % round_)

        results, errors = _run_together(create, clients)
        assert len(results) == 1, (results, errors)
        for exc in errors.values():
            assert "already exists" in str(exc), str(exc)
    assert duplicate_active_rows(hub) == {}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url_v3(request, tmp_path):
    """A fresh database URL of each backend (PostgreSQL: a uniquely named database)."""
    if request.param == "sqlite":
        yield "sqlite:///%s" % (tmp_path / "hub.sqlite3")
        return
    import os
    import uuid

    import psycopg

    admin = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = "pl_migr_test_%s" % uuid.uuid4().hex[:12]
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    yield admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def test_migration_dedupes_active_rows_then_enforces_them(db_url_v3):
    """A database of schema version 2 holding the duplicates concurrent writers left (a build
    tagged twice, a tag with two configs) is repaired by migration 3: the newest row stays, the
    other is revoked at the newest's event, and the unique indexes refuse new duplicates."""
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from pungi_like.buildsvc.db import LATEST_VERSION, migrate, open_db
    from pungi_like.buildsvc.db import schema as s

    db = open_db(db_url_v3)
    try:
        assert migrate(db.engine, target=2) == 2  # no unique indexes on active rows yet
        with db.engine.begin() as conn:
            ev = [conn.execute(insert(s.events).values(ts=1000.0 + i)
                               .returning(s.events.c.id)).scalar_one() for i in range(3)]
            uid = conn.execute(insert(s.users).values(name="u", status=0, usertype=0)
                               .returning(s.users.c.id)).scalar_one()
            tag_id = conn.execute(insert(s.tag).values(name="t").returning(s.tag.c.id)).scalar_one()
            pkg = conn.execute(insert(s.package).values(name="p")
                               .returning(s.package.c.id)).scalar_one()
            vol = conn.execute(select(s.volume.c.id)).scalar_one()
            build = conn.execute(insert(s.build).values(
                pkg_id=pkg, version="1", release="1", state=1, owner=uid, volume_id=vol,
                create_event=ev[0]).returning(s.build.c.id)).scalar_one()
            for e, arches in ((ev[0], "old"), (ev[1], "new")):
                conn.execute(insert(s.tag_config).values(tag_id=tag_id, arches=arches,
                                                         create_event=e, active=True))
            for _ in range(2):
                conn.execute(insert(s.tag_listing).values(tag_id=tag_id, build_id=build,
                                                          create_event=ev[2], active=True))
        assert migrate(db.engine) == LATEST_VERSION
        with db.engine.begin() as conn:
            cfg = conn.execute(select(s.tag_config.c.arches, s.tag_config.c.active,
                                      s.tag_config.c.revoke_event)
                               .order_by(s.tag_config.c.create_event)).all()
            assert [tuple(r) for r in cfg] == [("old", None, ev[1]), ("new", True, None)]
            listing = conn.execute(select(s.tag_listing.c.active, s.tag_listing.c.revoke_event)
                                   ).all()
            assert sorted(tuple(r) for r in listing if r.active) == [(True, None)]
            # the duplicate was revoked at the event it was created in: it never was current
            assert [tuple(r) for r in listing if not r.active] == [(None, ev[2])]
        with pytest.raises(IntegrityError):
            with db.engine.begin() as conn:
                conn.execute(insert(s.tag_listing).values(tag_id=tag_id, build_id=build,
                                                          create_event=ev[2], active=True))
    finally:
        db.dispose()
