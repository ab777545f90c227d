"""Whole encoded answers of the big tag reads, reused while the database is unchanged.

``listTaggedRPMS``, ``listTagged``, ``getLatestBuilds`` and ``getLatestRPMS`` of a distribution
tag read and encode tens of thousands of rows (a 15-65 MB answer); Pungi's pkgset phase, Koji
Web and scripts ask the same question again and again between changes. The hub keeps the
encoded answer under (method, arguments, the database's state) and sends it again as long as the
state is the same. The state is never a guess: it is read in the call's own transaction, before
the method runs, and it changes with every committed write from any connection or process.

* **PostgreSQL**: the call runs REPEATABLE READ, so all its queries see one snapshot, and the
  state is the ``data_version`` counter in that snapshot. Every transaction that writes to the
  database raises the counter once, at commit, under the counter row's lock (triggers on every
  table, schema version 7: ``db/alembic/versions/0007_data_version.py``), so the counter's
  values follow the order in which writers become visible and a snapshot that sees value N sees
  exactly the writes committed up to N. (The snapshot itself, ``pg_current_snapshot()``, would
  be exact too, but its transaction ids are the whole cluster's: any write in any other
  database on the server would change it.) A transaction that has written itself (an xid
  assigned) is not cached.
* **SQLite**: the call's transaction holds one read snapshot (WAL mode, ``BEGIN``). The state
  is (the DBAPI connection, ``PRAGMA data_version``, its ``total_changes``): data_version
  changes when any other connection, of this process or another, has committed since the
  connection last looked; total_changes counts the connection's own INSERT/UPDATE/DELETE rows.
  The values are those of one connection, so the connection is part of the key (a serial
  number the pool's record gets afresh for every new DBAPI connection, not ``id()``).

The answer is stored after the transaction, but it is a function of the state read inside it.
Bounded in memory (least recently used answers go first); an answer bigger than the bound is
not kept. Faults are never cached.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict

#: the calls whose answers are kept (pure reads of tagged builds/RPMs)
METHODS = frozenset({"listTaggedRPMS", "listTagged", "getLatestBuilds", "getLatestRPMS"})

#: default bound of one hub's cache, in MiB (HubConfig.answer_cache_mb)
DEFAULT_MB = 256

_serials = itertools.count(1)

log = logging.getLogger("pungi_like.buildsvc.hub")


class Cached:
    """A kept answer: the encoded bytes to send (dispatch.encode_result)."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


class Pending:
    """A method's result to encode and then keep under ``key``."""

    __slots__ = ("result", "cache", "key")

    def __init__(self, result, cache, key):
        self.result, self.cache, self.key = result, cache, key


class AnswerCache:
    """{(method, arguments, state): encoded answer bytes}, least recently used evicted."""

    def __init__(self, max_bytes, is_sqlite):
        self.max_bytes = max_bytes
        self.is_sqlite = is_sqlite
        self._entries = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @classmethod
    def for_db(cls, db, max_bytes):
        """The cache of a hub on ``db``; off on a PostgreSQL database without the counter
        (schema version below 7: run ``pungi-like-hub migrate``)."""
        if max_bytes > 0 and not db.is_sqlite:
            from sqlalchemy import inspect

            with db.engine.connect() as conn:
                if not inspect(conn).has_table("data_version"):
                    log.warning("answer cache off: the database has no data_version table "
                                "(schema version 7)")
                    max_bytes = 0
                else:
                    # a table whose writes would not raise the counter makes the cache unsafe
                    uncounted = conn.exec_driver_sql(
                        "SELECT t.tablename FROM pg_tables t WHERE t.schemaname = "
                        "current_schema() AND t.tablename NOT IN "
                        "('data_version', 'alembic_version') AND NOT EXISTS (SELECT 1 FROM "
                        "pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE c.relname = "
                        "t.tablename AND g.tgname = 'pl_data_version')").scalars().all()
                    if uncounted:
                        log.warning("answer cache off: tables without the data_version "
                                    "trigger: %s", ", ".join(sorted(uncounted)))
                        max_bytes = 0
        return cls(max_bytes, db.is_sqlite)

    def wants(self, name):
        return self.max_bytes > 0 and name in METHODS

    def begin(self, conn):
        """First statement of a cacheable call's transaction: one snapshot for all of it."""
        if not self.is_sqlite:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def state(self, conn):
        """The database state this transaction sees, or None when it must not be cached."""
        if self.is_sqlite:
            version = conn.exec_driver_sql("PRAGMA data_version").scalar()
            serial = conn.connection.info.setdefault("answer_cache_serial", next(_serials))
            return ("sqlite", serial, version, conn.connection.dbapi_connection.total_changes)
        version, own_write = conn.exec_driver_sql(
            "SELECT n, pg_current_xact_id_if_assigned() IS NOT NULL FROM data_version "
            "WHERE id = 1").first()
        return None if own_write else ("pg", version)

    def key(self, conn, name, args, kwargs):
        state = self.state(conn)
        if state is None:
            return None
        return (name, repr(args), repr(sorted(kwargs.items())), state)

    def call(self, conn, name, args, kwargs, call_method):
        """The kept answer of ``name(*args, **kwargs)`` at this transaction's state
        (:class:`Cached`), else the method's result (:class:`Pending` if it may be kept)."""
        key = self.key(conn, name, args, kwargs)
        if key is not None:
            data = self.get(key)
            if data is not None:
                return Cached(data)
        result = call_method(name, args, kwargs)
        return result if key is None else Pending(result, self, key)

    def get(self, key):
        with self._lock:
            data = self._entries.get(key)
            if data is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key, data):
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._entries[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _key, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def __len__(self):
        return len(self._entries)
