"""The hub's WSGI application and its threaded HTTP(S) server (cheroot).

Routes:
* ``POST /kojihub`` and ``POST /kojihub/ssllogin``: XML-RPC calls; ``application/octet-stream``
  bodies are file uploads (Koji's fast upload path).
* ``GET /kojifiles/...``: the top directory, read-only (files and plain directory indexes).
* ``/koji`` and ``/koji/...``: the web UI (``pungi_like.buildsvc.web``).
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
import os
import urllib.parse
from dataclasses import dataclass, field

from ...errors import PungiLikeError
from ..db import open_db
from ..pathinfo import PathInfo, UnsafePathError, safe_join
from . import dispatch, uploads
from .answer_cache import DEFAULT_MB as DEFAULT_CACHE_MB, AnswerCache
from .meta import KOJI_VERSION
from .registry import load_all

log = logging.getLogger("pungi_like.buildsvc.hub")

#: Hub settings and the SQLite database live in this hidden directory, never served.
PRIVATE_DIR = ".hub"
CONFIG_NAME = os.path.join(PRIVATE_DIR, "hub.json")
MAX_BODY = 64 * 1024 * 1024


@dataclass
class HubConfig:
    """Settings of one hub; stored as ``<topdir>/hub.json`` by ``pungi-like-hub init``."""

    topdir: str
    db_url: str
    login_creates_user: bool = True
    proxy_dns: list = field(default_factory=list)
    #: "host glob:repository path glob" patterns of SCM URLs builds may use (build_api.py)
    allowed_scms: list = field(default_factory=list)
    # Set from hub.conf at start-up (hubconf.py), not stored in hub.json:
    #: {policy name: rule text}, the [policy] section (policy.py; Koji's defaults otherwise)
    policy: dict = field(default_factory=dict)
    missing_policy_ok: bool = True
    verbose_policy: bool = False
    #: SCM URLs must also pass the build_from_scm policy (kojid's allowed_scms_use_policy)
    allowed_scms_use_policy: bool = False
    #: which part of the client certificate's subject names the user
    dn_username_component: str = "CN"
    max_request_length: int = MAX_BODY
    #: Koji's name checks (hub/names.py), hub.conf ``MaxNameLengthInternal`` (0: no limit),
    #: ``RegexNameInternal`` (tags, targets, packages, groups, channels, hosts, external repos,
    #: permissions) and ``RegexUserName`` (users, hosts, Kerberos principals); "" turns a
    #: regex check off, as in Koji. Defaults are Koji 1.36's.
    max_name_length_internal: int = 256
    regex_name_internal: str = r"^[A-Za-z0-9/_.+-]+$"
    regex_user_name: str = r"^[A-Za-z0-9/_.@-]+$"
    #: Koji's [scheduler]-like hub.conf options (MaxJobs, CapacityOvercommit, ReadyTimeout,
    #: AssignTimeout, SoftRefusalTimeout, HostTimeout, RunInterval); None keeps the default of
    #: hub/scheduler.py's DEFAULTS (see doc/build-service.md, "Scheduler")
    max_jobs: int | None = None
    capacity_overcommit: float | None = None
    ready_timeout: float | None = None
    assign_timeout: float | None = None
    soft_refusal_timeout: float | None = None
    host_timeout: float | None = None
    run_interval: float | None = None
    #: the sidetag plugin's settings (hub.conf [sidetag], Koji's plugins/sidetag.conf keys):
    #: suffixes ``add-sidetag --suffix`` may ask for, and the template of side tag names
    sidetag_allowed_suffixes: list = field(default_factory=list)
    sidetag_name_template: str = "{basetag}-side-{tag_id}"
    #: hub.conf EmailDomain: build notifications record ``<user>@<EmailDomain>`` (no mail is
    #: sent: DisableNotifications is always on here)
    email_domain: str | None = None
    #: bound of the cache of whole big-read answers (hub/answer_cache.py), MiB; 0 turns it off
    answer_cache_mb: int = DEFAULT_CACHE_MB

    @classmethod
    def load(cls, topdir):
        path = os.path.join(topdir, CONFIG_NAME)
        if not os.path.exists(path):
            raise PungiLikeError("%s is not a hub top directory (no %s); run "
                                 "'pungi-like-hub init --topdir %s' first"
                                 % (topdir, CONFIG_NAME, topdir))
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        data["topdir"] = os.path.abspath(topdir)
        data["db_url"] = data["db_url"].replace("{topdir}", data["topdir"])
        return cls(**data)

    def save(self):
        data = {"db_url": self.db_url, "login_creates_user": self.login_creates_user,
                "proxy_dns": self.proxy_dns, "allowed_scms": self.allowed_scms}
        # A SQLite database inside the top directory is stored relative to it.
        data["db_url"] = self.db_url.replace(os.path.abspath(self.topdir), "{topdir}")
        os.makedirs(os.path.join(self.topdir, PRIVATE_DIR), exist_ok=True)
        with open(os.path.join(self.topdir, CONFIG_NAME), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")


def _close_without_logout(session):
    """Replacement ``ClientSession.__del__`` for processes that serve a hub (see HubApp)."""
    rsession = session.__dict__.get("rsession")
    if rsession is not None:
        try:
            rsession.close()
        except Exception:  # noqa: BLE001 - a finaliser must not raise
            pass


#: bytes per write of a reply (see :func:`reply_chunks`)
REPLY_CHUNK = 256 * 1024


def reply_chunks(data):
    """A reply as pieces of at most :data:`REPLY_CHUNK` bytes, which the server writes one by
    one. Each write may wait ``timeout`` seconds for the client (httpd.py); one write of a
    whole 60 MB answer (listTaggedRPMS of a 50,000-RPM tag) had that long in total, and a
    client parsing as it reads lost the connection halfway."""
    if len(data) <= REPLY_CHUNK:
        return [data]
    return [data[i:i + REPLY_CHUNK] for i in range(0, len(data), REPLY_CHUNK)]


def ascii_reply_chunks(text):
    """The pieces of :func:`reply_chunks` of an ASCII ``text``'s bytes, each encoded when the
    server asks for it: one piece alive at a time instead of the whole answer encoded once
    and then cut (a 14.5 MB answer made ~45 MB of fresh memory a call, the process's page
    faults)."""
    if len(text) <= REPLY_CHUNK:
        yield text.encode("ascii")
        return
    for i in range(0, len(text), REPLY_CHUNK):
        yield text[i:i + REPLY_CHUNK].encode("ascii")


class HubApp:
    """The WSGI application: one per hub (database + top directory)."""

    def __init__(self, config: HubConfig, db=None):
        # koji.ClientSession logs out over HTTP when it is garbage collected. In a process that
        # also serves the hub (the embedded service, tests) the collector can run that in a hub
        # thread holding the database write lock: the logout request then waits for that lock
        # and the thread waits for the logout - a deadlock seen under load. Sessions of such a
        # process are closed without the logout call; the hub expires them instead.
        import koji

        koji.ClientSession.__del__ = _close_without_logout
        load_all()
        self.config = config
        self.db = db or open_db(config.db_url)
        self.pathinfo = PathInfo(config.topdir)
        self._webapp = None
        self.answer_cache = AnswerCache.for_db(self.db, config.answer_cache_mb * 2 ** 20)
        from .policy import load_policies

        #: {name: koji.policy.SimpleRuleSet}, parsed once so a bad rule fails at start-up
        self.policy = load_policies(config.policy)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        try:
            if path.rstrip("/") in ("/kojihub", "/kojihub/ssllogin"):
                return self._hub(environ, start_response)
            if path == "/kojifiles" or path.startswith("/kojifiles/"):
                return self._files(environ, start_response, path[len("/kojifiles"):])
            if path == "/koji" or path.startswith("/koji/"):
                return self._web(environ, start_response)
            return _plain(start_response, "404 Not Found", "not found\n")
        except Exception:
            log.exception("error serving %s", path)
            return _plain(start_response, "500 Internal Server Error", "internal error\n")

    def _web(self, environ, start_response):
        """The web UI (Koji Web's pages), made on first use."""
        if self._webapp is None:
            from ..web import WebApp

            self._webapp = WebApp(self)
        return self._webapp(environ, start_response)

    def _hub(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed",
                           [("Allow", "POST"), ("Content-Type", "text/plain"),
                            ("Koji-Version", KOJI_VERSION)])
            return [b"Method Not Allowed: the hub only answers POST\n"]
        raw_length = (environ.get("CONTENT_LENGTH") or "0").strip()
        if not raw_length.isdigit():  # also refuses "-1", "+5", " 1 2"
            return _plain(start_response, "400 Bad Request",
                          "invalid Content-Length: %r\n" % raw_length[:40])
        length = int(raw_length)
        if length > self.config.max_request_length:
            return _plain(start_response, "413 Request Entity Too Large", "body too large\n")
        body = environ["wsgi.input"].read(length) if length else b""
        if environ.get("CONTENT_TYPE", "").startswith("application/octet-stream"):
            out = uploads.handle_upload(self, environ, body)
        else:
            out = dispatch.handle_xmlrpc(self, environ, body)
        if isinstance(out, str) and out.isascii():
            # an ASCII answer's length in bytes is its length; its pieces are encoded as
            # the server writes them (ascii_reply_chunks)
            length, chunks = len(out), ascii_reply_chunks(out)
        else:
            # Content-Length counts bytes: encode first (a name like "józef" is longer in
            # UTF-8).
            data = out.encode("utf-8") if isinstance(out, str) else out
            length, chunks = len(data), reply_chunks(data)
        start_response("200 OK", [("Content-Type", "text/xml"),
                                  ("Content-Length", str(length)),
                                  ("Koji-Version", KOJI_VERSION)])
        return chunks

    def _files(self, environ, start_response, rel):
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "read-only\n")
        # The server has %-decoded the path already; PATH_INFO holds its bytes as latin-1
        # (PEP 3333). File names are UTF-8, or any bytes (surrogateescape, as os.listdir).
        rel = rel.encode("latin-1").decode("utf-8", "surrogateescape").lstrip("/")
        top = self.pathinfo.topdir
        try:
            # safe_join also follows symlinks: nothing that resolves outside the top directory
            # is served, whatever link a task or an import left inside it
            full = safe_join(top, rel.rstrip("/")) if rel.rstrip("/") else top
        except UnsafePathError:
            return _plain(start_response, "403 Forbidden", "forbidden\n")
        if any(part.startswith(".") for part in rel.split("/")):
            return _plain(start_response, "403 Forbidden", "forbidden\n")
        # ... nor through a link inside it that leads to .hub/ or another hidden name
        real_rel = os.path.relpath(os.path.realpath(full), os.path.realpath(top))
        if real_rel != "." and any(part.startswith(".") for part in real_rel.split(os.sep)):
            return _plain(start_response, "403 Forbidden", "forbidden\n")
        if os.path.isdir(full):
            if not environ.get("PATH_INFO", "").endswith("/"):
                path = (environ.get("SCRIPT_NAME", "") + environ["PATH_INFO"]).encode("latin-1")
                start_response("301 Moved Permanently",
                               [("Location", urllib.parse.quote(path) + "/")])
                return [b""]
            return self._index(start_response, full, rel)
        if not os.path.isfile(full):
            return _plain(start_response, "404 Not Found", "not found\n")
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        size = os.path.getsize(full)
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(size))])
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        f = open(full, "rb")
        wrapper = environ.get("wsgi.file_wrapper")
        return wrapper(f, 65536) if wrapper else iter(lambda: f.read(65536), b"")

    @staticmethod
    def _index(start_response, full, rel):
        def shown(name):  # a name that is not UTF-8 is shown with replacement characters
            return html.escape(name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))

        names = sorted(os.listdir(full))
        items = "".join('<li><a href="%s%s">%s%s</a></li>\n' % (
            urllib.parse.quote(n, errors="surrogateescape"),
            "/" if os.path.isdir(os.path.join(full, n)) else "",
            shown(n), "/" if os.path.isdir(os.path.join(full, n)) else "")
            for n in names if not n.startswith("."))
        body = ("<html><head><title>Index of /%s</title></head><body><h1>Index of /%s</h1>"
                "<ul>\n%s</ul></body></html>\n" % (shown(rel), shown(rel), items))
        data = body.encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(data)))])
        return [data]


def _plain(start_response, status, text):
    data = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def make_server(app, host, port, tls_cert=None, tls_key=None, client_ca=None, threads=16,
                **limits):
    """A cheroot server for ``app`` (see :mod:`.httpd` for the connection model and ``limits``)."""
    from .httpd import make_server as make_httpd

    return make_httpd(app, host, port, tls_cert, tls_key, client_ca, threads=threads, **limits)
