"""The hub's PostgreSQL connection pool (db/__init__.py): a pooled connection that sat idle is
pinged before a request gets it, and the ping leaves no transaction open; one the server has
closed is replaced instead of failing the request. A new connection's session runs without
JIT compilation."""

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
