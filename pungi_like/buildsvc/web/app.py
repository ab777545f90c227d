"""The web UI's WSGI application: routing, the per-request hub context, login, CSRF, rendering.

Model:

* ``GET /koji/<page>?...``: a read page. It runs in one read transaction with the hub's call
  context set up as for an anonymous (or certificate-identified) XML-RPC caller, and reads
  through the hub's own API functions (``getTaskInfo``, ``listBuilds``...): the same code and
  the same permission checks as the XML-RPC API, in-process.
* ``POST /koji/<action>``: a write action Koji Web offers (cancel or resubmit a task, enable or
  disable a host). It needs a user: the CN of a TLS client certificate the server verified (the
  same certificate ``koji`` logs in with; the hub must run with ``--client-ca``), a known active
  user. The form carries a CSRF token (an HMAC of the user name and a per-hub secret kept in
  ``<topdir>/.hub/web.secret``), and the call runs through the API function under the hub's
  write lock, so its permission checks decide.
* Templates are Jinja2 with autoescaping on (``share/templates/web/``); no JavaScript.
* Whole-tag lists (a tag's latest builds with inheritance, its package list) cost a second
  on a 20,000-build hub; :func:`cached_call` keeps such results while the hub's newest event
  is unchanged (every change to tags, package lists and inheritance makes an event).

Page handlers live in :mod:`.pages`; they return ``(template, values)`` or raise
:class:`Redirect`/:class:`NotFound`.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
import urllib.parse

import jinja2
import koji

from ...media.templates import TEMPLATE_DIR
from ..hub import dispatch
from ..hub.common import get_user_row
from ..hub.context import context

log = logging.getLogger("pungi_like.buildsvc.web")

PREFIX = "/koji"
SECRET_NAME = os.path.join(".hub", "web.secret")
MAX_FORM = 64 * 1024


class Redirect(Exception):
    def __init__(self, location):
        super().__init__(location)
        self.location = location


class NotFound(Exception):
    """A page or object that does not exist (404 with the message)."""


class BadRequest(Exception):
    """A malformed parameter (400 with the message)."""


class Forbidden(Exception):
    """A write action without a usable login or token (403 with the message)."""


class Request:
    """What a page handler sees: query/form parameters, the user, the hub, the CSRF token."""

    def __init__(self, environ, hub, user, token):
        self.environ = environ
        self.hub = hub
        self.user = user
        self.csrf_token = token
        self.params = {k: v[-1] for k, v in urllib.parse.parse_qs(
            environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        self.form = {}

    def get(self, name, default=None):
        return self.params.get(name, default)

    def int(self, name, default=None, required=False):
        """An integer parameter; a missing required one or a non-number is a 400."""
        value = self.params.get(name)
        if value in (None, ""):
            if required:
                raise BadRequest("missing parameter %s" % name)
            return default
        try:
            return int(value)
        except ValueError:
            raise BadRequest("parameter %s must be a number, not %r" % (name, value)) from None

    def int_or_name(self, name):
        """Koji Web accepts ids or names for most ``*ID`` parameters."""
        value = self.params.get(name)
        if value in (None, ""):
            raise BadRequest("missing parameter %s" % name)
        return int(value) if value.isdigit() else value


class WebApp:
    """Serves ``/koji`` and ``/koji/...`` for a :class:`~..hub.server.HubApp`."""

    def __init__(self, hub):
        from . import actions, composes, pages  # noqa: F401 (composes registers its page)

        self.hub = hub
        self.pages = pages.PAGES
        self.actions = actions.ACTIONS
        self.secret = _load_secret(hub.pathinfo.topdir)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(os.path.join(TEMPLATE_DIR, "web")),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True)
        self.env.filters.update(pages.FILTERS)
        self.env.globals.update(pages.GLOBALS)

    # ---- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == PREFIX:
            # the pages link relatively ("tasks"): they must be seen under /koji/
            return self._send(start_response, "301 Moved Permanently", "text/plain", b"",
                              [("Location", PREFIX + "/")])
        name = path[len(PREFIX):].strip("/") or "index"
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if method == "POST":
                if name not in self.actions:
                    raise NotFound("no action %s" % name)
                return self._action(environ, start_response, name)
            if method not in ("GET", "HEAD"):
                return self._send(start_response, "405 Method Not Allowed", "text/plain",
                                  b"GET or POST only\n", [("Allow", "GET, HEAD, POST")])
            if name not in self.pages:
                raise NotFound("no page %s" % name)
            return self._page(environ, start_response, name)
        except Redirect as r:
            return self._send(start_response, "303 See Other", "text/plain", b"",
                              [("Location", "%s/%s" % (PREFIX, r.location))])
        except NotFound as exc:
            return self._error(start_response, "404 Not Found", str(exc))
        except BadRequest as exc:
            return self._error(start_response, "400 Bad Request", str(exc))
        except Forbidden as exc:
            return self._error(start_response, "403 Forbidden", str(exc))
        except koji.ActionNotAllowed as exc:
            return self._error(start_response, "403 Forbidden", str(exc))
        except koji.RetryError as exc:
            return self._error(start_response, "503 Service Unavailable", str(exc))
        except koji.GenericError as exc:
            # "No such ...": the object of the page does not exist
            status = "404 Not Found" if "No such" in str(exc) else "400 Bad Request"
            return self._error(start_response, status, str(exc))

    # ---- the hub's call context --------------------------------------------------------------
    @contextlib.contextmanager
    def _write_lock(self):
        """The hub's write lock, waited for as long as an XML-RPC write waits (never forever)."""
        lock = self.hub.db.write_lock
        if not lock.acquire(timeout=dispatch.WRITE_LOCK_TIMEOUT):
            raise koji.RetryError("the hub's database stayed busy; try again")
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _hub_context(self, environ, write=False):
        lock = self._write_lock() if write else contextlib.nullcontext()
        with lock, self.hub.db.engine.begin() as conn:
            context.reset()
            context.hub, context.conn, context.environ = self.hub, conn, environ
            context.method = "web"
            try:
                context.user = self._cert_user(environ)
                yield context
            finally:
                context.reset()

    def _cert_user(self, environ):
        """The active user named by a verified TLS client certificate, or None (the subject
        component that names users is the hub's, as for sslLogin)."""
        if environ.get("SSL_CLIENT_VERIFY") != "SUCCESS":
            return None
        component = getattr(self.hub.config, "dn_username_component", "CN")
        name = environ.get("SSL_CLIENT_S_DN_" + component)
        user = get_user_row(name) if name else None
        if user is None or user["status"] != 0:
            return None
        return user

    def csrf_token(self, user):
        if user is None:
            return None
        return hmac.new(self.secret, user["name"].encode(), hashlib.sha256).hexdigest()

    # ---- pages and actions ---------------------------------------------------------------------
    def _page(self, environ, start_response, name):
        with self._hub_context(environ) as ctx:
            req = Request(environ, self.hub, ctx.user, self.csrf_token(ctx.user))
            result = self.pages[name](req)
            if isinstance(result, tuple) and len(result) == 3:   # (content type, bytes, headers)
                ctype, body, headers = result
                return self._send(start_response, "200 OK", ctype, body, headers)
            template, values = result
            html = self.render(template, req, name, values)
        return self._send(start_response, "200 OK", "text/html; charset=utf-8",
                          html.encode("utf-8"))

    def render(self, template, req, page, values):
        return self.env.get_template(template).render(
            req=req, page=page, user=req.user, csrf_token=req.csrf_token, **values)

    def _action(self, environ, start_response, name):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_FORM:
            raise BadRequest("form too large")
        body = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else ""
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body).items()}
        with self._hub_context(environ, write=True) as ctx:
            if ctx.user is None:
                raise Forbidden("log in first: write actions need a TLS client certificate of a "
                                "known, enabled user")
            expected = self.csrf_token(ctx.user)
            if not hmac.compare_digest(form.get("csrf_token", ""), expected):
                raise Forbidden("invalid or missing CSRF token; reload the page and try again")
            req = Request(environ, self.hub, ctx.user, expected)
            req.form = form
            location = self.actions[name](req)
        raise Redirect(location)

    # ---- responses -----------------------------------------------------------------------------
    def _error(self, start_response, status, message):
        try:
            with self._hub_context({}) as ctx:
                req = Request({}, self.hub, ctx.user, None)
                html = self.render("error.html.j2", req, "error",
                                   {"status": status, "message": message})
        except Exception:  # noqa: BLE001 - the error page itself failed: plain text
            log.exception("error page failed")
            return self._send(start_response, status, "text/plain", message.encode() + b"\n")
        return self._send(start_response, status, "text/html; charset=utf-8",
                          html.encode("utf-8"))

    @staticmethod
    def _send(start_response, status, ctype, body, headers=()):
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                ("X-Content-Type-Options", "nosniff"),
                                ("Content-Security-Policy",
                                 "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 "img-src 'self' data:; script-src 'none'")] + list(headers))
        return [body]


def _load_secret(topdir):
    """The hub's CSRF secret, made once; several hub processes of one top directory share it."""
    path = os.path.join(topdir, SECRET_NAME)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = "%s.%d" % (path, os.getpid())
        with open(tmp, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)     # first writer wins; the others read its secret
        except FileExistsError:
            pass
        os.unlink(tmp)
    with open(path, encoding="ascii") as f:
        return f.read().strip().encode()


def call(name, *args, **kwargs):
    """Run hub API method ``name`` in the current context (the XML-RPC dispatcher's path)."""
    return dispatch.call_method(name, args, kwargs)


_cache = collections.OrderedDict()
_cache_lock = threading.Lock()
CACHE_ENTRIES = 32


def cached_call(name, *args, **kwargs):
    """:func:`call` for anonymous reads of whole lists, reused while no new event exists.

    The result is shared between requests: callers must not modify it.
    """
    from sqlalchemy import func, select

    from ..db import schema as s

    last = context.conn.execute(select(func.max(s.events.c.id))).scalar()
    key = (context.hub.pathinfo.topdir, last, name, repr(args), repr(sorted(kwargs.items())))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    result = call(name, *args, **kwargs)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return result
