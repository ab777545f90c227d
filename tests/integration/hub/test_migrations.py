"""Schema migrations (Alembic) on SQLite and PostgreSQL.

* The schema the revisions make is exactly ``schema.py``'s (Alembic's own comparison), so a
  change to ``schema.py`` without a revision fails here.
* A database of the first schema version, filled with a tag, a package, a build with an RPM and
  a permission, is upgraded by ``pungi-like-hub migrate``; the data is kept, the later versions'
  backfills happen (the build becomes an RPM build), and the served hub answers the koji CLI.
* A database made before Alembic (only ``schema_version`` rows) is stamped and upgraded.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import sqlalchemy as sa

from tests.integration.hub.conftest import HUB, REPO_ROOT, start_hub, stop_hub

pytestmark = pytest.mark.integration

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _engine(url):
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _sqlite_url(topdir):
    return "sqlite:///%s/.hub/hub.sqlite3" % topdir


@pytest.mark.parametrize("backend", BACKENDS)
def test_revisions_make_exactly_the_schema_of_schema_py(tmp_path, backend):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pungi_like.buildsvc.db import LATEST_VERSION, open_db, schema
    from tests.integration.hub.conftest import _pg_database, _pg_drop

    name = None
    if backend == "postgres":
        name, url = _pg_database()
    else:
        url = "sqlite:///%s" % (tmp_path / "x.sqlite3")
    try:
        db = open_db(url, create=True)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    schema.metadata)
            heads = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        db.dispose()
        assert diff == [], "schema.py and the migrations differ (add a revision): %r" % diff
        assert heads == [("%04d" % LATEST_VERSION,)]
    finally:
        if name:
            _pg_drop(name)


def _fill_version_1(engine):
    """A tag with a package and a tagged build with one RPM, a user with a permission: rows as
    the first release wrote them (reflected tables: only the columns version 1 has)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    assert "repo" not in t and "btype" not in t  # really version 1
    now = time.time()
    with engine.begin() as conn:
        ev = conn.execute(sa.insert(t["events"]).values(ts=now).returning(t["events"].c.id)) \
            .scalar_one()
        conn.execute(sa.insert(t["users"]).values(id=1, name="kojiadmin", status=0, usertype=0))
        conn.execute(sa.insert(t["users"]).values(id=2, name="alice", status=0, usertype=0))
        perm = conn.execute(sa.select(t["permissions"].c.id).where(
            t["permissions"].c.name == "admin")).scalar_one()
        conn.execute(sa.insert(t["user_perms"]).values(user_id=1, perm_id=perm, create_event=ev,
                                                      active=True, creator_id=1))
        conn.execute(sa.insert(t["tag"]).values(id=1, name="f-legacy"))
        conn.execute(sa.insert(t["tag_config"]).values(
            tag_id=1, arches="x86_64", locked=False, maven_support=False,
            maven_include_all=False, create_event=ev, active=True, creator_id=1))
        conn.execute(sa.insert(t["package"]).values(id=1, name="oldpkg"))
        conn.execute(sa.insert(t["tag_packages"]).values(
            package_id=1, tag_id=1, blocked=False, create_event=ev, active=True, creator_id=1))
        conn.execute(sa.insert(t["tag_package_owners"]).values(
            package_id=1, tag_id=1, owner=2, create_event=ev, active=True, creator_id=1))
        volume = conn.execute(sa.select(t["volume"].c.id)).scalar_one()
        conn.execute(sa.insert(t["build"]).values(
            id=1, pkg_id=1, version="1.0", release="3", draft=False, state=1, owner=2,
            volume_id=volume, create_event=ev, completion_ts=now, start_ts=now))
        conn.execute(sa.insert(t["rpminfo"]).values(
            id=1, build_id=1, name="oldpkg", version="1.0", release="3", arch="x86_64",
            draft=False, external_repo_id=0, payloadhash="0" * 32, size=1234, buildtime=int(now),
            metadata_only=False))
        conn.execute(sa.insert(t["tag_listing"]).values(build_id=1, tag_id=1, create_event=ev,
                                                       active=True, creator_id=1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_version_database_migrates_and_serves(tmp_path, pki, backend):
    from pungi_like.buildsvc.db import LATEST_VERSION, migrate
    from pungi_like.buildsvc.hub.server import HubConfig
    from pungi_like.buildsvc.pathinfo import PathInfo

    migrated = {}

    def prepare(topdir, db_url):
        PathInfo(topdir).make_topdir()
        url = db_url or _sqlite_url(topdir)
        HubConfig(topdir=topdir, db_url=url).save()
        engine = _engine(url)
        assert migrate(engine, target=1) == 1
        _fill_version_1(engine)
        engine.dispose()
        out = subprocess.run(HUB + ["migrate", "--topdir", topdir], capture_output=True,
                             text=True, cwd=REPO_ROOT)
        assert out.returncode == 0, out.stdout + out.stderr
        migrated["out"] = out.stdout
        again = subprocess.run(HUB + ["migrate", "--topdir", topdir], capture_output=True,
                               text=True, cwd=REPO_ROOT)
        migrated["again"] = again.stdout

    hub = start_hub(tmp_path, pki, backend, prepare=prepare)
    try:
        assert "migrated from schema version 1 to %d" % LATEST_VERSION in migrated["out"]
        assert "at schema version %d (current)" % LATEST_VERSION in migrated["again"]
        # the data of version 1, through the real koji CLI
        assert "f-legacy" in hub.out("list-tags")
        tagged = hub.out("list-tagged", "f-legacy")
        assert "oldpkg-1.0-3" in tagged and "alice" in tagged
        assert "oldpkg" in hub.out("list-pkgs", "--tag", "f-legacy")
        assert "oldpkg-1.0-3" in hub.out("list-builds", "--package", "oldpkg")
        assert "admin" in hub.out("list-permissions", "--user", "kojiadmin")
        # version 2's backfill: the old build is an RPM build
        assert "oldpkg-1.0-3" in hub.out("list-builds", "--type", "rpm")
        assert "oldpkg-1.0-3.x86_64.rpm" in hub.out("buildinfo", "oldpkg-1.0-3")
        # tagging it again leaves one active listing (version 3's unique active rows)
        hub.koji("call", "tagBuildBypass", "f-legacy", "oldpkg-1.0-3", check=False)
        assert hub.out("list-tagged", "f-legacy").count("oldpkg-1.0-3") == 1
        # and the hub keeps working on it: a new tag inheriting the old one
        hub.koji("add-tag", "f-new", "--parent", "f-legacy", "--arches", "x86_64")
        assert "oldpkg-1.0-3" in hub.out("list-tagged", "--inherit", "f-new")
    finally:
        stop_hub(hub)


@pytest.mark.parametrize("backend", BACKENDS)
def test_database_from_before_alembic_is_stamped_then_upgraded(tmp_path, backend):
    from pungi_like.buildsvc.db import LATEST_VERSION, current_version, migrate
    from tests.integration.hub.conftest import _pg_database, _pg_drop

    name = None
    if backend == "postgres":
        name, url = _pg_database()
    else:
        url = "sqlite:///%s" % (tmp_path / "old.sqlite3")
    engine = _engine(url)
    try:
        migrate(engine, target=2)
        with engine.begin() as conn:  # what the pre-Alembic hub left: no alembic_version
            conn.exec_driver_sql("DROP TABLE alembic_version")
        assert migrate(engine) == LATEST_VERSION
        with engine.connect() as conn:
            assert current_version(conn) == LATEST_VERSION
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == \
                [("%04d" % LATEST_VERSION,)]
            versions = [r[0] for r in conn.exec_driver_sql(
                "SELECT version FROM schema_version ORDER BY version")]
        # every revision of the chain recorded its version (revision numbers are assigned per
        # task, so the chain may skip numbers)
        from pungi_like.buildsvc.db.migrations import _script

        assert versions == sorted(int(r.revision) for r in _script().walk_revisions())
    finally:
        engine.dispose()
        if name:
            _pg_drop(name)


def test_embedded_service_of_an_older_release_is_migrated_when_it_starts(tmp_path):
    """The demo's .cache/buildsvc outlives releases: an embedded service whose database has an
    older schema is upgraded when it starts, and serves."""
    import os

    from pungi_like.buildsvc.db import LATEST_VERSION, current_version, migrate
    from pungi_like.buildsvc.embedded import EmbeddedService
    from pungi_like.buildsvc.instance import init_hub

    topdir = str(tmp_path / "svc")
    init_hub(topdir, "kojiadmin")
    # as the previous release left it: schema version 3 (a new database migrated only that far)
    os.remove(os.path.join(topdir, ".hub", "hub.sqlite3"))
    engine = _engine(_sqlite_url(topdir))
    assert migrate(engine, target=3) == 3
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (name, status, usertype) "
                             "VALUES ('kojiadmin', 0, 0)"))
    with engine.connect() as conn:
        assert current_version(conn) == 3
    with EmbeddedService(topdir, builders=0) as svc:
        with engine.connect() as conn:
            assert current_version(conn) == LATEST_VERSION
        assert svc.session().getAPIVersion() >= 1
        assert svc.session().scheduler.getTaskRuns() == []
    engine.dispose()


def test_database_of_a_newer_release_is_refused_with_a_clear_error(tmp_path):
    """A database whose schema version this release does not know (made by a newer release)
    is refused by name and number, not with Alembic's "Can't locate revision"; it is left as
    it was."""
    from pungi_like.buildsvc.db import LATEST_VERSION, current_version, migrate
    from pungi_like.buildsvc.db import schema as s
    from pungi_like.errors import HubError

    engine = _engine("sqlite:///%s" % (tmp_path / "newer.sqlite3"))
    try:
        assert migrate(engine) == LATEST_VERSION
        newer = LATEST_VERSION + 1
        with engine.begin() as conn:   # what a newer release's migration would have left
            conn.execute(s.schema_version.insert().values(version=newer, applied_ts=time.time()))
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '%04d'" % newer)
        with pytest.raises(HubError) as err:
            migrate(engine)
        assert str(err.value) == (
            "the database has schema version %d, newer than this release knows (%d); run a "
            "release that has it, or a database made by this one" % (newer, LATEST_VERSION))
        with engine.connect() as conn:
            assert current_version(conn) == newer
    finally:
        engine.dispose()
