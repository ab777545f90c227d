"""Sessions and logins: SSL client certificates (as Koji behind Apache), passwords, permissions.

After login the client sends ``Koji-Session-Id``/``Koji-Session-Key``/``Koji-Session-Callnum``
headers (or ``session-id``/``session-key`` in the query string for old clients) on every call.
Call numbers are accepted loosely (any value), which Koji allows a hub to do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
import urllib.parse

import koji
from sqlalchemy import insert, or_, select, update

from ..db import schema as s
from .common import get_user_row
from .context import context, perms
from .names import verify_name_user
from .registry import export, read_only

_KEY_CHARS = string.ascii_letters + string.digits


def _session_params(environ):
    sid = environ.get("HTTP_KOJI_SESSION_ID")
    key = environ.get("HTTP_KOJI_SESSION_KEY")
    if sid is None:
        qs = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        sid = (qs.get("session-id") or [None])[0]
        key = (qs.get("session-key") or [None])[0]
    return sid, key


def load_session(environ):
    """Set ``context.session``/``context.user`` from the request's session headers, if any."""
    sid, key = _session_params(environ or {})
    if sid is None:
        return
    try:
        sid = int(sid)
    except ValueError:
        raise koji.AuthError("Invalid session id: %r" % sid) from None
    # the session, its user and, for a host, its host row and whether another session holds
    # the host's exclusive lock, in one query (every authenticated call makes it; a host
    # call asked the last two again: hostcheck.verify_host)
    query, host_keys = _session_select()
    found = context.conn.execute(query, {"sid": sid}).first()
    row = user = None
    if found is not None:
        m = found._mapping
        row = {c.name: m[c] for c in s.sessions.c}
        user = {c.name: m["u__" + c.name] for c in s.users.c}
        host = {k: m["h__" + k] for k in host_keys} if m["h__config"] is not None else None
    if row is None or row["closed"] or not hmac.compare_digest(row["key"], key or ""):
        # Login calls carry the old session on renewal; let them through unauthenticated.
        if context.method in ("sslLogin", "login"):
            return
        raise koji.AuthError("Invalid session or bad credentials")
    if user["status"] != 0:
        raise koji.AuthError("logins by %s are not allowed" % user["name"])
    context.session, context.user = row, user
    context.session_host = (host, bool(m["locked_out"]))


def _session_query():
    """The session with its user (``u__`` columns) and, when the user is a host, its host row
    as ``hosts._hosts`` reads it (``h__`` columns; ``h__config`` None: not a host, as a host
    without a current config is not) and ``locked_out``: another open exclusive session of
    the user exists while neither this session nor its master holds the lock
    (hostcheck._assert_not_locked_out). The user's other sessions are read only when neither
    holds it (a builder daemon's sessions always do)."""
    from sqlalchemy import and_, case, exists, false

    from .hosts import host_columns

    ses, users, host, hc = s.sessions, s.users, s.host, s.host_config
    master, other = ses.alias("master_session"), ses.alias("other_session")

    def holds(t):
        return and_(t.c.exclusive.is_(True), t.c.closed.is_(False))

    locked_out = case(
        (hc.c.host_id.is_(None), false()),
        (or_(holds(ses), holds(master)), false()),
        else_=exists(select(other.c.id).where(other.c.user_id == ses.c.user_id,
                                              holds(other))))
    return (select(ses, *[c.label("u__" + c.name) for c in users.c],
                   *[c.label("h__" + c.name) for c in host_columns()],
                   hc.c.host_id.label("h__config"), locked_out.label("locked_out"))
            .join(users, users.c.id == ses.c.user_id)
            .outerjoin(host, host.c.user_id == users.c.id)
            .outerjoin(hc, and_(hc.c.host_id == host.c.id, hc.c.active.is_(True)))
            .outerjoin(master, and_(master.c.id == ses.c.master,
                                    master.c.user_id == ses.c.user_id)))


_SESSION = []


def _session_select():
    if not _SESSION:
        from .hosts import host_columns

        # the session's id a bound parameter of a statement made once: building the query's
        # condition and its cache key anew cost about 160 us a request
        from sqlalchemy import bindparam

        _SESSION.append((_session_query().where(s.sessions.c.id == bindparam("sid")),
                         tuple(c.name for c in host_columns())))
    return _SESSION[0]


def _create_session(user, authtype):
    if user["status"] != 0:
        raise koji.AuthError("logins by %s are not allowed" % user["name"])
    if user["usertype"] == koji.USERTYPES["GROUP"]:
        # a group is not an account: a certificate naming it would get every permission granted
        # to the group without being a member (Koji does not check this)
        raise koji.AuthError("logins by %s are not allowed: it is a group" % user["name"])
    now = time.time()
    key = "%d-%s" % (user["id"], "".join(secrets.choice(_KEY_CHARS) for _ in range(19)))
    master = context.session["id"] if context.session and context.method == "subsession" else None
    sid = context.conn.execute(insert(s.sessions).values(
        user_id=user["id"], key=key, hostip=(context.environ or {}).get("REMOTE_ADDR"),
        authtype=authtype, master=master, start_ts=now, update_ts=now, callnum=None,
        expired=False, closed=False).returning(s.sessions.c.id)).scalar_one()
    return {"session-id": sid, "session-key": key, "header-auth": True}


def _find_or_create_user(name):
    user = get_user_row(name)
    if user is None:
        if not context.hub.config.login_creates_user:
            raise koji.AuthError("Unknown user: %s" % name)
        verify_name_user(name)  # Koji's RegexUserName: the name of a certificate is data too
        uid = context.conn.execute(insert(s.users).values(
            name=name, status=0, usertype=0).returning(s.users.c.id)).scalar_one()
        user = get_user_row(uid)
    return user


@export
def sslLogin(proxyuser=None, proxyauthtype=None, renew=False, exclusive=None):
    """Log in with the TLS client certificate of this connection (``/kojihub/ssllogin``)."""
    env = context.environ or {}
    if env.get("SSL_CLIENT_VERIFY") != "SUCCESS":
        raise koji.AuthError("could not verify client: %s" % env.get("SSL_CLIENT_VERIFY", "NONE"))
    # DNUsernameComponent: which part of the subject names the user (CN unless configured)
    component = getattr(context.hub.config, "dn_username_component", "CN")
    name = env.get("SSL_CLIENT_S_DN_" + component)
    if not name:
        raise koji.AuthError("unable to get user information from client certificate")
    if proxyuser:
        dn = env.get("SSL_CLIENT_S_DN", "")
        if dn not in context.hub.config.proxy_dns:
            raise koji.AuthError("%s is not authorized to login other users" % dn)
        name = proxyuser
    user = _find_or_create_user(name)
    if renew and context.session:
        _close_sessions(context.session["id"])
    return _create_session(user, koji.AUTHTYPES["SSL"])


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100000).hex()
    return "pbkdf2$%s$%s" % (salt, digest)


def _check_password(stored, password):
    if not stored or not isinstance(password, str):
        return False
    try:
        _, salt, digest = stored.split("$")
    except ValueError:
        return False
    mine = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100000).hex()
    return hmac.compare_digest(mine, digest)


@export
def login(user, password, opts=None, renew=False, exclusive=False):
    """Password login (users created with ``pungi-like-hub user --password``)."""
    row = get_user_row(user) if isinstance(user, str) else None
    if row is None or not _check_password(row["password"], password):
        raise koji.AuthError("Invalid username or password")
    return _create_session(row, koji.AUTHTYPES["NORMAL"])


def _close_sessions(sid):
    context.conn.execute(update(s.sessions).where(
        or_(s.sessions.c.id == sid, s.sessions.c.master == sid)).values(closed=True))


@export
def logout(session_id=None):
    """Close this session (or, for an admin, ``session_id``) and its subsessions."""
    if not context.session:
        return None
    sid = context.session["id"]
    if session_id is not None and session_id != sid:
        if "admin" not in perms():
            raise koji.ActionNotAllowed("only admins may close other sessions")
        sid = session_id
    _close_sessions(sid)
    return None


@export
def subsession():
    """A child session of the current one (kojid forks one per task)."""
    if not context.session:
        raise koji.AuthError("Not logged in")
    return _create_session(context.user, context.session["authtype"])


@export
def logoutChild(session_id):
    if not context.session:
        raise koji.AuthError("Not logged in")
    context.conn.execute(update(s.sessions).where(
        s.sessions.c.id == session_id, s.sessions.c.master == context.session["id"])
        .values(closed=True))


@export
def exclusiveSession(force=False):
    """Make this session the user's exclusive one (builder daemons do, with ``force``, at login).

    As Koji: a subsession cannot; another open exclusive session of the user makes this fail
    with AuthLockError unless ``force``, which closes that session. Host calls from sessions
    outside the exclusive one's family are then refused (hostcheck.py)."""
    if not context.session:
        raise koji.AuthError("Not logged in")
    ses = context.session
    if ses["master"] is not None:
        raise koji.GenericError("subsessions cannot become exclusive")
    # the user's row lock serializes two sessions racing for the lock (PostgreSQL)
    context.conn.execute(select(s.users.c.id).where(s.users.c.id == ses["user_id"])
                         .with_for_update())
    others = [r[0] for r in context.conn.execute(select(s.sessions.c.id).where(
        s.sessions.c.user_id == ses["user_id"], s.sessions.c.exclusive.is_(True),
        s.sessions.c.closed.is_(False), s.sessions.c.id != ses["id"]))]
    if others:
        if not force:
            raise koji.AuthLockError("Cannot get exclusive session")
        context.conn.execute(update(s.sessions).where(s.sessions.c.id.in_(others)).values(
            expired=True, exclusive=None, closed=True))
    context.conn.execute(update(s.sessions).where(s.sessions.c.id == ses["id"])
                         .values(exclusive=True))


@export
def sharedSession():
    if not context.session:
        raise koji.AuthError("Not logged in")
    context.conn.execute(update(s.sessions).where(s.sessions.c.id == context.session["id"])
                         .values(exclusive=None))


@read_only
def getSessionInfo(details=False, user_id=None):
    if not context.session:
        return None
    ses = context.session
    info = {"authtype": ses["authtype"], "callnum": ses["callnum"], "exclusive": ses["exclusive"],
            "expired": ses["expired"], "master": ses["master"], "start_time": int(ses["start_ts"]),
            "start_ts": ses["start_ts"], "update_time": int(ses["update_ts"]),
            "update_ts": ses["update_ts"], "user_id": ses["user_id"], "id": ses["id"],
            "hostip": ses["hostip"], "renew_time": ses["renew_ts"], "renew_ts": ses["renew_ts"]}
    return info


@read_only
def getLoggedInUser():
    """The session user as getUser returns it, plus authtype; None when anonymous."""
    if not context.user:
        return None
    u = context.user
    return {"id": u["id"], "name": u["name"], "status": u["status"], "usertype": u["usertype"],
            "krb_principals": [], "krb_principal": None,
            "authtype": context.session["authtype"]}


@read_only
def hasPerm(perm, strict=False):
    """True only if the session user holds ``perm`` itself (no admin fallback, as Koji)."""
    if strict and not context.conn.execute(
            select(s.permissions.c.id).where(s.permissions.c.name == perm)).first():
        raise koji.GenericError("No such permission %s defined" % perm)
    return perm in perms()


@read_only
def getPerms():
    return sorted(perms())


@read_only
def getAllPerms():
    rows = context.conn.execute(select(s.permissions).order_by(s.permissions.c.id))
    return [{"id": r.id, "name": r.name, "description": r.description} for r in rows]
