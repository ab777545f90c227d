"""XML-RPC request handling: decode, authenticate, run in a transaction, encode result or fault.

One request is one database transaction. A multicall is one transaction too; each entry runs in
a savepoint of its own, so a failing entry is rolled back alone while the others commit, and each
entry gets a fresh event.

On PostgreSQL every statement is a round trip to the server, so a multicall's entries run
without savepoints (:class:`_EntrySavepoints`): a failure has nothing to undo when the entry
wrote nothing before it (a read-only entry, ``@read_only``, never writes; a writing one mostly
fails in its checks, before its first write). Should an entry fail in the database itself (the
transaction is then aborted and every later statement would fail) or after a write of its own
(counted by :func:`db.writes_of`), the whole request runs again with a savepoint for every
entry, as a request that lost a race does: a writing entry then releases the previous entry's
savepoint and sets its own in one round trip (nothing to release at the end: the commit does
it). The housekeeping and the task assignment that ``host.getTasks`` runs follow the same rule
(scheduler._guarded: a savepoint on the rerun only).

A request that only reads (every method in it ``@read_only``, its answer not from the answer
cache) runs on PostgreSQL without a transaction (autocommit): each statement sees the data
committed before it, as it does under READ COMMITTED, and the ``BEGIN`` and ``COMMIT`` round
trips are spared.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import time
import xmlrpc.client

import koji
import koji.xmlrpcplus

from ..db import RerunWithSavepoints as _RerunWithSavepoints
from ..db import checkout_unpinged, died_before_use, is_race_error, pg_aborted, writes_of
from . import auth, faults, hostcheck, marshal, scheduler, work_bell
from .answer_cache import Cached, Pending
from .context import context, new_event
from .registry import METHODS

log = logging.getLogger("pungi_like.buildsvc.hub")

MULTICALL_NAMES = ("multiCall", "system.multicall")


def decode_args(params):
    """Split a trailing ``{"__starstar": True, ...}`` struct off as keyword arguments."""
    args = list(params)
    kwargs = {}
    if args and isinstance(args[-1], dict) and args[-1].get("__starstar"):
        kwargs = dict(args.pop())
        del kwargs["__starstar"]
    return args, kwargs


def encode_result(result):
    if type(result) is Cached:  # the answer kept from an earlier call (answer_cache.py)
        return result.data
    if type(result) is Pending:  # encoded once, then kept
        data = marshal.dumps_response(result.result).encode("utf-8")
        result.cache.put(result.key, data)
        return data
    return marshal.dumps_response(result)


def encode_fault(code, message):
    message = faults.XML_INVALID.sub("?", message)
    return koji.xmlrpcplus.dumps(xmlrpc.client.Fault(code, message), methodresponse=1,
                                 allow_none=1)


def exception_fault(exc):
    """(faultCode, faultString) for an exception; internals stay in the log (faults.py)."""
    return faults.exception_fault(exc)


def call_method(name, args, kwargs):
    """Run one exported method in the current context; argument errors become ParameterError."""
    m = METHODS.get(name) if isinstance(name, str) else None
    if m is None:
        raise koji.GenericError("Invalid method: %s" % faults.printable(name))
    context.method = name
    faults.check_arguments(m.func, args, kwargs)
    try:
        return m.func(*args, **kwargs)
    except TypeError as exc:
        # Raised by the call itself (bad arguments), not from inside the function.
        if sys.exc_info()[2].tb_next is None:
            raise koji.ParameterError(str(exc)) from None
        raise


def _is_write(name, args):
    if name in MULTICALL_NAMES:
        calls = args[0] if args and isinstance(args[0], list) else []
        return any(_is_write(c.get("methodName"), c.get("params", []))
                   for c in calls if isinstance(c, dict))
    m = METHODS.get(name)
    return m is None or m.write


class _EntrySavepoints:
    """The savepoints of a multicall's entries on PostgreSQL.

    ``SAVEPOINT``/``RELEASE`` through SQLAlchemy's ``begin_nested`` are two round trips an
    entry, and most entries never fail. Here an entry runs without one; when it fails in the
    database (PostgreSQL aborted the transaction) or after a write of its own
    (:func:`db.writes_of` moved), :class:`_RerunWithSavepoints` has the whole request run
    again with ``every``: then a writing entry sends ``RELEASE`` of the previous entry's
    savepoint and its own ``SAVEPOINT`` in one round trip, and a read-only entry none. An entry
    that fails before writing anything (a check refused it) leaves the transaction as it
    found it: its fault is its answer and the next entries run on. A race with a concurrent
    writer (db.is_race_error) is left to the request's own retry. Elsewhere (SQLite: no round
    trips) each entry keeps SQLAlchemy's nested transaction."""

    NAME = "mc_entry"

    def __init__(self, conn, every):
        self.conn = conn
        self.every = every
        self.held = False          # a savepoint of an earlier entry is still set
        self.pg = conn.dialect.name == "postgresql"
        # a read-only request without a transaction: nothing to roll back, no savepoints
        self.none = self.pg and conn.connection.dbapi_connection.autocommit

    @contextlib.contextmanager
    def entry(self, name):
        if not self.pg:
            with self.conn.begin_nested():
                yield
            return
        if self.none:
            yield
            return
        m = METHODS.get(name) if isinstance(name, str) else None
        if m is None or not self.every and not m.write:
            # an unknown method fails before any statement; a read-only one writes nothing
            try:
                yield
            except Exception:
                if pg_aborted(self.conn):
                    raise _RerunWithSavepoints() from None
                raise
            return
        if not self.every:
            writes = writes_of(self.conn)
            try:
                yield
            except Exception as exc:
                if not is_race_error(exc) and (writes_of(self.conn) != writes
                                               or pg_aborted(self.conn)):
                    raise _RerunWithSavepoints() from None
                raise
            return
        raw = self.conn.connection.dbapi_connection
        raw.execute(("RELEASE SAVEPOINT %s; SAVEPOINT %s" % (self.NAME, self.NAME))
                    if self.held else "SAVEPOINT %s" % self.NAME)
        self.held = True
        try:
            yield
        except Exception:
            # the savepoint stays set (ROLLBACK TO keeps it), released by the next entry's
            raw.execute("ROLLBACK TO SAVEPOINT %s" % self.NAME)
            raise


#: methods a multicall does not run after a failed upload entry (:data:`UPLOADS`) of the same
#: call: our builder's task process closes its task in the call that uploads its last files
#: (builder/taskctx.py, upload_and_close), and a failed upload must leave the task open for
#: the process to fail it. (kojid sends closeTask alone.)
AFTER_UPLOADS = frozenset({"host.closeTask"})
UPLOADS = frozenset({"uploadFile", "checkUpload"})


def _multicall(calls, retry_races=False, every_savepoint=True):
    if not isinstance(calls, list):
        raise koji.ParameterError("multiCall expects a list of calls")
    results = []
    failed_upload = False
    savepoints = _EntrySavepoints(context.conn, every_savepoint)
    context.request_memo = {}   # checks the entries share (hostcheck.entry_done)
    for call in calls:
        new_event()
        context._perms = None
        name = None
        write = True
        try:
            if not isinstance(call, dict):
                raise koji.ParameterError("Invalid multicall entry: %r" % (call,))
            name = call.get("methodName")
            if name in MULTICALL_NAMES:
                raise koji.GenericError("multicall is not allowed inside a multicall")
            args, kwargs = decode_args(call.get("params", []))
            if failed_upload and name in AFTER_UPLOADS:
                raise koji.GenericError("%s not run: an upload earlier in this multicall "
                                        "failed" % name)
            m = METHODS.get(name) if isinstance(name, str) else None
            write = m is None or m.write
            hostcheck.entry_starts(name, write)
            with savepoints.entry(name):
                results.append([call_method(name, args, kwargs)])
            hostcheck.entry_done(name, write, True)
        except _RerunWithSavepoints:
            raise
        except Exception as exc:  # one entry's failure must not stop the others
            hostcheck.entry_done(name, write, False)
            if retry_races and is_race_error(exc):
                raise  # rerun the whole multicall transaction (handle_xmlrpc)
            failed_upload = failed_upload or name in UPLOADS
            code, msg = exception_fault(exc)
            results.append({"faultCode": code, "faultString": msg})
    return results


#: how many times one request's transaction runs when concurrent writers make it fail
RACE_ATTEMPTS = 5

#: how long a write waits for the database write lock before it fails (never forever)
WRITE_LOCK_TIMEOUT = 300


@contextlib.contextmanager
def _connection(db, autocommit):
    """A connection in a transaction, committed at the end; with ``autocommit`` (a read-only
    request on PostgreSQL) one without a transaction: each statement commits by itself."""
    if not autocommit:
        with db.engine.begin() as conn:
            yield conn
        return
    with db.engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def _timed(lock):
    if not lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
        raise koji.RetryError(f"the hub's database stayed busy for {WRITE_LOCK_TIMEOUT} s; "
                              "try again")
    try:
        yield
    finally:
        lock.release()


def handle_xmlrpc(hub, environ, body: bytes) -> bytes:
    """Answer one XML-RPC request body with a methodResponse document."""
    try:
        params, name = xmlrpc.client.loads(body)
    except Exception as exc:
        return encode_fault(1000, "Invalid XML-RPC request: %s" % (exc,))
    if name is None:
        return encode_fault(1000, "Invalid XML-RPC request: no method name")
    args, kwargs = decode_args(params)
    is_write = _is_write(name, args)
    cache = getattr(hub, "answer_cache", None)
    if cache is not None and (is_write or not cache.wants(name)):
        cache = None
    autocommit = not is_write and cache is None and not hub.db.is_sqlite
    every_savepoint = False
    for attempt in range(1, RACE_ATTEMPTS + 1):
        lock = _timed(hub.db.write_lock) if is_write else contextlib.nullcontext()
        may_retry = attempt < RACE_ATTEMPTS
        # the last run cannot be rerun: every multicall entry gets its savepoint then
        every_savepoint = every_savepoint or not may_retry
        try:
            # the pooled connection is not pinged after idleness: a request whose first
            # statement finds it dead runs again (died_before_use)
            with lock, checkout_unpinged(), _connection(hub.db, autocommit) as conn:
                context.reset()
                context.hub, context.conn, context.environ = hub, conn, environ
                context.method = name
                # the housekeeping and assignment of host.getTasks take savepoints on a rerun
                # only (scheduler._guarded)
                context.every_savepoint = every_savepoint
                if cache is not None:
                    cache.begin(conn)
                auth.load_session(environ)
                if name in MULTICALL_NAMES:
                    if kwargs or len(args) != 1:
                        raise koji.ParameterError("multiCall takes exactly one argument")
                    result = _multicall(args[0], retry_races=may_retry,
                                        every_savepoint=every_savepoint)
                elif cache is not None:
                    result = cache.call(conn, name, args, kwargs, call_method)
                else:
                    result = call_method(name, args, kwargs)
            work_event = context.event_may_give_work()
            if work_event or context.ring_builders:
                # committed: the next builder poll checks the automatic repos at once, and
                # builders waiting in host.waitWork are woken (work_bell.py); not for an
                # event that gives them nothing to do (context.quiet_event: repoInit's)
                scheduler.note_change(hub, repos=work_event)
            elif context.ring_hosts:
                # tasks assigned to other hosts: only their builders are woken
                work_bell.ring_hosts(hub, context.ring_hosts)
            if isinstance(result, work_bell.Waiting):
                result = result.wait()   # outside the transaction: holds no connection
            return encode_result(result)
        except _RerunWithSavepoints:
            scheduler.rolled_back(hub)
            every_savepoint = True
            log.info("rerunning %s with a savepoint for every entry", name)
            continue
        except Exception as exc:
            scheduler.rolled_back(hub)
            if may_retry and died_before_use(exc):
                log.info("rerunning %s on a new connection: %s", name, exc.orig)
                continue
            if may_retry and is_race_error(exc):
                # A concurrent transaction won (see db.is_race_error): rerun this one after a
                # short random pause so the retries of several losers do not collide again.
                log.info("retrying %s (attempt %d): %s", name, attempt + 1, exc.orig)
                time.sleep(random.uniform(0, 0.02 * attempt))
                continue
            code, msg = exception_fault(exc)
            log.info("fault %s in %s: %s", code, name, msg)
            return encode_fault(code, msg)
        finally:
            context.reset()
