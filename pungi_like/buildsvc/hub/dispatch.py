"""XML-RPC request handling: decode, authenticate, run in a transaction, encode result or fault.

One request is one database transaction. A multicall is one transaction too; each entry runs in
a savepoint of its own, so a failing entry is rolled back alone while the others commit, and each
entry gets a fresh event.
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

from ..db import is_race_error
from . import auth, faults, marshal, scheduler, work_bell
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


def _multicall(calls, retry_races=False):
    if not isinstance(calls, list):
        raise koji.ParameterError("multiCall expects a list of calls")
    results = []
    for call in calls:
        new_event()
        context._perms = None
        try:
            if not isinstance(call, dict):
                raise koji.ParameterError("Invalid multicall entry: %r" % (call,))
            name = call.get("methodName")
            if name in MULTICALL_NAMES:
                raise koji.GenericError("multicall is not allowed inside a multicall")
            args, kwargs = decode_args(call.get("params", []))
            with context.conn.begin_nested():
                results.append([call_method(name, args, kwargs)])
        except Exception as exc:  # one entry's failure must not stop the others
            if retry_races and is_race_error(exc):
                raise  # rerun the whole multicall transaction (handle_xmlrpc)
            code, msg = exception_fault(exc)
            results.append({"faultCode": code, "faultString": msg})
    return results


#: how many times one request's transaction runs when concurrent writers make it fail
RACE_ATTEMPTS = 5

#: how long a write waits for the database write lock before it fails (never forever)
WRITE_LOCK_TIMEOUT = 300


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
    for attempt in range(1, RACE_ATTEMPTS + 1):
        lock = _timed(hub.db.write_lock) if is_write else contextlib.nullcontext()
        may_retry = attempt < RACE_ATTEMPTS
        try:
            with lock, hub.db.engine.begin() as conn:
                context.reset()
                context.hub, context.conn, context.environ = hub, conn, environ
                context.method = name
                if cache is not None:
                    cache.begin(conn)
                auth.load_session(environ)
                if name in MULTICALL_NAMES:
                    if kwargs or len(args) != 1:
                        raise koji.ParameterError("multiCall takes exactly one argument")
                    result = _multicall(args[0], retry_races=may_retry)
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
            if isinstance(result, work_bell.Waiting):
                result = result.wait()   # outside the transaction: holds no connection
            return encode_result(result)
        except Exception as exc:
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
