"""Database access for the build service: engines for SQLite and PostgreSQL, and migrations.

``open_db(url)`` returns an :class:`Database`. SQLite (the embedded default) runs in WAL mode with
a busy timeout; because SQLite allows one writer at a time, writing calls take
:attr:`Database.write_lock` so concurrent writers queue in the hub rather than fail with
"database is locked". PostgreSQL needs no such lock.
"""

from __future__ import annotations

import contextlib
import threading
import time

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc

from . import schema  # noqa: F401  (re-exported)
from .migrations import LATEST_VERSION, current_version, migrate  # noqa: F401


class Database:
    """An engine plus what the hub needs to know about it."""

    def __init__(self, url: str, pool_size: int = 10):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 60},
                pool_size=pool_size, max_overflow=20,
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            self.write_lock = _SQLiteWriteLock()
            # pysqlite's own transaction handling is off (isolation_level=None in on_connect);
            # SQLAlchemy's begin() emits BEGIN so every call really is one transaction. A call
            # holding the write lock begins IMMEDIATE: it takes SQLite's write lock at once, and
            # waits (busy timeout) for a writer in another process (two hubs on one topdir),
            # where a deferred transaction would fail "database is locked" on its first write.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql(
                "BEGIN IMMEDIATE" if self.write_lock.held() else "BEGIN"))
        else:
            url = url.replace("postgresql://", "postgresql+psycopg://", 1) \
                if url.startswith("postgresql://") else url
            # the most recently used connection first (its server process and prepared
            # statements are warm), and a ping only for a connection that sat idle in the pool
            # (_ping_if_idle): pool_pre_ping cost a round trip to the server on every request
            self.engine = create_engine(url, pool_size=pool_size, max_overflow=20,
                                        pool_use_lifo=True)
            event.listen(self.engine, "connect", _pg_on_connect)
            event.listen(self.engine, "checkin", _note_checkin)
            event.listen(self.engine, "checkout", _ping_if_idle)
            event.listen(self.engine, "before_cursor_execute", _count_writes)
            self.write_lock = _NullLock()

    def dispose(self):
        self.engine.dispose()


class _SQLiteWriteLock:
    """The hub's in-process write lock for SQLite (re-entrant), which knows whether the
    current thread holds it."""

    def __init__(self):
        self._lock = threading.RLock()
        self._local = threading.local()

    def held(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def acquire(self, blocking=True, timeout=-1):
        got = self._lock.acquire(blocking, timeout)
        if got:
            self._local.depth = getattr(self._local, "depth", 0) + 1
        return got

    def release(self):
        self._local.depth -= 1
        self._lock.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


class _NullLock:
    """PostgreSQL needs no hub-side write lock: the database serialises writers itself."""

    def acquire(self, blocking=True, timeout=-1):
        return True

    def release(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


#: SQLSTATEs of PostgreSQL errors a concurrent transaction causes (serialization_failure,
#: deadlock_detected, unique_violation): rerunning the whole transaction then sees the other's
#: committed rows and either succeeds or fails with the API's own error.
RACE_SQLSTATES = frozenset({"40001", "40P01", "23505"})


def is_race_error(exc) -> bool:
    """True if ``exc`` is a database error a concurrent writer can cause, so a retry may succeed.

    Only PostgreSQL reports these: on SQLite writers are serialised by the hub's write lock, so
    a unique violation there is a real conflict and retrying it would only repeat it.
    """
    from sqlalchemy.exc import DBAPIError

    return (isinstance(exc, DBAPIError)
            and getattr(exc.orig, "sqlstate", None) in RACE_SQLSTATES)


#: seconds a pooled PostgreSQL connection may sit idle before its next checkout pings it
PING_AFTER_IDLE = 1.0


#: settings of the hub's PostgreSQL sessions, made once a connection (see _pg_on_connect)
PG_SESSION_SETTINGS = (
    # no JIT compilation: the hub's statements are short, and a plan whose estimate passes
    # jit_above_cost (100,000) is compiled first, 50-130 ms a statement. A plan with a node
    # the planner was told to avoid (the whole-tag reads turn nested loops off,
    # tag_reads._whole_tag_rows_pg) is costed at 1e10 and always passes it.
    ("jit", "off"),
)


def _pg_on_connect(dbapi_conn, _record):
    """Make :data:`PG_SESSION_SETTINGS` on a new connection, in one statement outside a
    transaction (a request's transaction must start fresh: the answer cache sets its
    isolation level first). Not through the connection string's ``options``: a pooler
    (PgBouncer) may refuse that startup parameter."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    try:
        dbapi_conn.execute("SELECT %s" % ", ".join(
            "set_config('%s', '%s', false)" % kv for kv in PG_SESSION_SETTINGS))
    finally:
        dbapi_conn.autocommit = autocommit


def _note_checkin(_dbapi_conn, record):
    record.info["idle_since"] = time.monotonic()


class _Unpinged(threading.local):
    skip_next = False   # the thread's next checkout is not pinged (checkout_unpinged)
    statements = 0      # statements run since checkout_unpinged began


_unpinged = _Unpinged()


@contextlib.contextmanager
def checkout_unpinged():
    """The first connection this thread checks out in the block is taken without the ping of
    :func:`_ping_if_idle`; the caller runs its work again on another connection when the
    first statement finds that one dead (:func:`died_before_use`): hub/dispatch.py, whose
    requests are one transaction each. The ping was a round trip before each request that
    followed a second of idleness (a builder's first call after a wait, the first call of a
    tag change). Later checkouts in the block are pinged as before."""
    _unpinged.skip_next = True
    _unpinged.statements = 0
    try:
        yield
    finally:
        _unpinged.skip_next = False


def died_before_use(exc) -> bool:
    """True when ``exc`` is the disconnection of the connection taken in the last
    :func:`checkout_unpinged` block, met by its first statement (BEGIN is sent with it): the
    server had closed it while it sat in the pool, nothing of the block's work was done, and
    SQLAlchemy has invalidated it (the next checkout connects anew)."""
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated) and \
        _unpinged.statements <= 1


def _ping_if_idle(dbapi_conn, record, _proxy):
    """Ping a pooled connection that was idle for :data:`PING_AFTER_IDLE` seconds or more (the
    server may have closed it: restarted, or an idle timeout); a dead one is replaced by the
    pool (DisconnectionError). One used a moment ago is taken as it is: the ping is a round
    trip to the server, which every request paid with ``pool_pre_ping``. Not in a
    :func:`checkout_unpinged` block (its caller handles a dead connection)."""
    if _unpinged.skip_next:
        _unpinged.skip_next = False
        return
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE:
        return
    # in autocommit, as SQLAlchemy's own ping: a plain SELECT would open a transaction, and
    # the request must start in a fresh one (the answer cache sets its isolation level first;
    # a read-only request turns autocommit on, which psycopg refuses inside a transaction)
    autocommit = dbapi_conn.autocommit
    try:
        dbapi_conn.autocommit = True
        try:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
            finally:
                cur.close()
        finally:
            dbapi_conn.autocommit = autocommit
    except Exception as exc:
        raise sa_exc.DisconnectionError("pooled connection is gone: %s" % exc) from exc


def _count_writes(conn, _cursor, _statement, _parameters, context, _executemany):
    """Count the statements of ``conn`` that may change something (:func:`writes_of`): all
    but those compiled from a SELECT construct (a row lock of ``FOR UPDATE`` changes no
    data). Text and driver SQL count, whatever they do (a ``set_config``, an advisory lock)."""
    _unpinged.statements += 1
    stmt = getattr(getattr(context, "compiled", None), "statement", None)
    if not getattr(stmt, "is_select", False) or getattr(stmt, "is_text", False):
        conn.info["writes"] = conn.info.get("writes", 0) + 1


def writes_of(conn) -> int:
    """How many statements that may change something the PostgreSQL connection ``conn`` has
    run through SQLAlchemy (a count that only grows: compare two readings). A multicall entry
    that fails with the count unmoved has nothing to undo (hub/dispatch.py)."""
    return conn.info.get("writes", 0)


def pg_aborted(conn) -> bool:
    """True when PostgreSQL has aborted the connection's transaction (a statement failed)."""
    import psycopg

    raw = conn.connection.dbapi_connection
    return raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR


class RerunWithSavepoints(Exception):
    """A block run without a savepoint on PostgreSQL (a multicall's entry, the hub's
    housekeeping or task assignment) failed in the database (the transaction is aborted) or
    after a write of its own: the request's transaction is rolled back and the request runs
    again with a savepoint for each such block (hub/dispatch.py)."""


@contextlib.contextmanager
def savepoint(conn, name):
    """Run the block in a savepoint of the connection's transaction, rolled back if it raises.

    On PostgreSQL the savepoint is not released when the block succeeds: the commit (or the
    release or rollback of an enclosing savepoint) ends it, so it costs one round trip, not
    two as SQLAlchemy's ``begin_nested``. A name set again in the same transaction hides the
    older savepoint, so nested or repeated use rolls back to the innermost. Without a
    transaction (autocommit) there is none to take. Elsewhere (SQLite, in-process)
    ``begin_nested``."""
    if conn.dialect.name != "postgresql":
        with conn.begin_nested():
            yield
        return
    raw = conn.connection.dbapi_connection
    if raw.autocommit:
        # a read-only request without a transaction (hub/dispatch.py): a failing statement
        # aborts nothing, and there is nothing to roll back
        yield
        return
    raw.execute("SAVEPOINT %s" % name)
    try:
        yield
    except BaseException:
        raw.execute("ROLLBACK TO SAVEPOINT %s" % name)
        raise


def _sqlite_on_connect(dbapi_conn, _record):
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def open_db(url: str, create: bool = False) -> Database:
    """Open the database at ``url``; with ``create`` bring its schema up to date first."""
    db = Database(url)
    if create:
        migrate(db.engine)
    return db
