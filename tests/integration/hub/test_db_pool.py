"""The hub's PostgreSQL connection pool (db/__init__.py): a pooled connection that sat idle is
pinged before a user of the pool gets it, and the ping leaves no transaction open; one the server
has closed is replaced instead of failing the work. A hub request (hub/dispatch.py) takes its
connection without the ping and runs again on a new one when its first statement finds the
connection dead. A new connection's session runs without JIT compilation."""

from __future__ import annotations

import os

import psycopg
import pytest

from pungi_like.buildsvc import db as dbmod

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PG_URL = os.environ.get("PUNGI_LIKE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg(monkeypatch):
    # every checkout after a checkin counts as idle: each one is pinged
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE", 0.0)
    db = dbmod.Database(PG_URL, pool_size=1)
    yield db
    db.dispose()


def _backend_pid(conn):
    return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


def test_a_pinged_connection_starts_a_fresh_transaction(pg):
    with pg.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    # the answer cache's first statement: only allowed before any query of the transaction
    with pg.engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "repeatable read"
    # a read-only request turns autocommit on (refused inside a transaction)
    with pg.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        assert conn.exec_driver_sql("SELECT 2").scalar() == 2
    with pg.engine.begin() as conn:
        assert conn.connection.dbapi_connection.autocommit is False


def test_a_connection_the_server_closed_is_replaced(pg):
    with pg.engine.connect() as conn:
        pid = _backend_pid(conn)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    with pg.engine.begin() as conn:
        assert _backend_pid(conn) != pid


def test_the_hub_sessions_run_without_jit(pg):
    # a request's connection, new or reused, in a transaction or in autocommit
    for _ in range(2):
        with pg.engine.begin() as conn:
            # the setting was made outside this transaction: the request's first statement
            # may still set its isolation level (the answer cache)
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
        with pg.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"


# ---- the hub's requests: no ping; a dead pooled connection met by the first statement ----

@pytest.fixture
def pg_hub(tmp_path, monkeypatch):
    """A hub in this process on a new PostgreSQL database, with the admin's environ; every
    checkout after a checkin counts as idle (a pinging checkout would ping)."""
    import time
    import uuid

    from sqlalchemy import insert, select

    from pungi_like.buildsvc.db import schema as s
    from pungi_like.buildsvc.hub.server import HubApp
    from pungi_like.buildsvc.instance import init_hub

    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE", 0.0)
    name = "pl_db_pool_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute("CREATE DATABASE %s" % name)
    hub = HubApp(init_hub(str(tmp_path / "top"), "kojiadmin",
                          PG_URL.rsplit("/", 1)[0] + "/" + name))
    try:
        with hub.db.engine.begin() as conn:
            uid = conn.execute(select(s.users.c.id).where(s.users.c.name == "kojiadmin")) \
                .scalar_one()
            sid = conn.execute(insert(s.sessions).values(
                user_id=uid, key="k", authtype=0, start_ts=time.time(),
                update_ts=time.time(), expired=False, closed=False)
                .returning(s.sessions.c.id)).scalar_one()
        yield hub, {"QUERY_STRING": "session-id=%d&session-key=k" % sid}, name
    finally:
        hub.db.dispose()
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def _call(hub, environ, name, *args):
    import xmlrpc.client

    import koji.xmlrpcplus

    from pungi_like.buildsvc.hub import dispatch

    body = koji.xmlrpcplus.dumps(tuple(args), name, allow_none=1).encode()
    return xmlrpc.client.loads(dispatch.handle_xmlrpc(hub, environ, body))[0][0]


def test_a_request_takes_its_pooled_connection_without_a_ping(pg_hub, monkeypatch):
    hub, admin, _name = pg_hub
    _call(hub, admin, "createTag", "first")
    sent = []
    real = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):
        sent.append(str(query))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    assert _call(hub, admin, "getTag", "first")["name"] == "first"
    _call(hub, admin, "createTag", "second")
    assert sent and "SELECT 1" not in sent


def test_a_request_whose_pooled_connection_the_server_closed_runs_again(pg_hub, caplog):
    import logging

    hub, admin, name = pg_hub
    _call(hub, admin, "createTag", "first")
    with psycopg.connect(PG_URL, autocommit=True) as pg:
        killed = pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()",
                            (name,)).fetchall()
    assert killed and all(k[0] for k in killed)
    with caplog.at_level(logging.INFO, logger="pungi_like.buildsvc.hub"):
        # a write: run once on a new connection, committed once
        _call(hub, admin, "createTag", "second")
        # and a read (no transaction) after the server closed that one too
        with psycopg.connect(PG_URL, autocommit=True) as pg:
            pg.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        assert _call(hub, admin, "getTag", "second")["name"] == "second"
    assert sum("rerunning createTag on a new connection" in r.getMessage()
               for r in caplog.records) == 1
    assert any("rerunning getTag on a new connection" in r.getMessage()
               for r in caplog.records)
    assert [t["name"] for t in _call(hub, admin, "listTags")
            if t["name"] in ("first", "second")] == ["first", "second"]
