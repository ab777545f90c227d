"""listBuilds with queryOpts done by the database (what keeps the web UI's build pages fast on
large hubs) gives exactly the list the Python path gives: order (several keys, descending,
None values), offset, limit, countOnly; on SQLite and PostgreSQL."""

import os
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

pytestmark = pytest.mark.integration
PG_ADMIN_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hub_conn(request, tmp_path_factory):
    from bench_hub import populate

    from pungi_like.buildsvc.hub.context import context
    from pungi_like.buildsvc.hub.server import HubApp, HubConfig
    from pungi_like.buildsvc.instance import init_hub

    db_url = pg = None
    if request.param == "postgres":
        import psycopg

        pg = "pl_web_paging_%s" % uuid.uuid4().hex[:10]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("CREATE DATABASE %s" % pg)
        db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + pg
    tmp_path = tmp_path_factory.mktemp("paging")
    config = init_hub(str(tmp_path / "top"), "admin", db_url)
    populate(config.db_url, 600, 3)
    app = HubApp(HubConfig.load(str(tmp_path / "top")))
    try:
        with app.db.engine.begin() as conn:
            from sqlalchemy import update

            from pungi_like.buildsvc.db import schema as s

            # some None completion times and mixed-case names to order
            conn.execute(update(s.build).where(s.build.c.id % 7 == 0).values(completion_ts=None))
            conn.execute(update(s.package).where(s.package.c.id % 5 == 0).values(
                name=s.package.c.name + "_X"))
            conn.execute(update(s.package).where(s.package.c.id % 11 == 0).values(
                name="Z" + s.package.c.name))
            context.hub, context.conn, context.environ = app, conn, {}
            yield
            context.reset()
    finally:
        app.db.dispose()
        if pg:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg)


@pytest.mark.parametrize("opts", [
    {"order": "-build_id", "limit": 51},
    {"order": "nvr", "offset": 150, "limit": 51},
    {"order": "-nvr"},
    {"order": "package_name,-build_id", "offset": 3, "limit": 20},
    {"order": "completion_time", "limit": 120},
    {"order": "-completion_ts", "limit": 120},
    {"order": "owner_name,state,-version"},
    {"offset": 590},
    {"countOnly": True},
    {"order": "nvr", "offset": 10, "limit": 5, "countOnly": True},
])
def test_database_paging_equals_python_paging(hub_conn, opts):
    from pungi_like.buildsvc.hub.builds import listBuilds
    from pungi_like.buildsvc.hub.packages import apply_query_opts

    assert listBuilds(queryOpts=dict(opts)) == apply_query_opts(listBuilds(), dict(opts))


def test_unknown_order_keys_fall_back_to_python(hub_conn):
    from pungi_like.buildsvc.hub.builds import listBuilds
    from pungi_like.buildsvc.hub.packages import apply_query_opts

    opts = {"order": "-volume_name,build_id", "limit": 7}
    assert listBuilds(queryOpts=dict(opts)) == apply_query_opts(listBuilds(), dict(opts))
