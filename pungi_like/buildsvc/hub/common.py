"""Helpers shared by the API modules: permission checks, name-or-id lookups, versioned writes."""

from __future__ import annotations

import koji
from sqlalchemy import and_, bindparam, insert, or_, select, update

from ..db import schema as s
from .context import context, event_id, perms, user_id
from .names import verify_name_internal

# ---------------------------------------------------------------------------------------------
# permissions


def assert_login():
    if not context.user:
        raise koji.ActionNotAllowed("you must be logged in for this operation")


def has_perm(name) -> bool:
    """True if the session user holds ``name`` or is admin (the hub's internal check)."""
    p = perms()
    return name in p or "admin" in p


def assert_perm(name):
    """Require the permission ``name`` (or admin), as Koji's ``assertPerm`` does."""
    if not context.user:
        raise koji.ActionNotAllowed("%s permission required (user not logged in)" % name)
    if not has_perm(name):
        raise koji.ActionNotAllowed("%s permission required (logged in as %s)"
                                    % (name, context.user["name"]))


def assert_admin():
    assert_perm("admin")


# ---------------------------------------------------------------------------------------------
# argument checks


def check_type(value, types, what):
    """Koji-style ParameterError for a value of the wrong type."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise koji.ParameterError("Invalid type for %s: %r" % (what, value))
    if not isinstance(value, types):
        raise koji.ParameterError("Invalid type for %s: %s" % (what, type(value)))
    return value


def as_int(value, what):
    """An int from an int or a digit string (the CLI sends some numbers as strings)."""
    if isinstance(value, bool):
        raise koji.ParameterError("Invalid type for %s: %r" % (what, value))
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise koji.ParameterError("Invalid value for %s: %r" % (what, value))


def as_bool(value):
    return bool(value) if value is not None else False


def one(row):
    return dict(row._mapping) if row is not None else None


# ---------------------------------------------------------------------------------------------
# versioned tables


def active_at(table, event=None):
    """WHERE clause for rows of a versioned ``table`` current now (event None) or at ``event``."""
    if event is None:
        return table.c.active.is_(True)
    event = as_int(event, "event")
    return and_(table.c.create_event <= event,
                or_(table.c.revoke_event.is_(None), table.c.revoke_event > event))


def revoke(table, *where, by_user=None):
    """Revoke the current rows of ``table`` matching ``where``; return how many.

    ``by_user``: the user id history records as the revoker (default: the caller; a host
    acting for a task passes the task's owner, as Koji does)."""
    res = context.conn.execute(
        update(table).where(table.c.active.is_(True), *where)
        .values(active=None, revoke_event=event_id(),
                revoker_id=by_user if by_user is not None else user_id()))
    return res.rowcount


def insert_versioned(table, by_user=None, **values):
    """Insert a current row into a versioned table, created at this call's event (by the
    caller, or by ``by_user``: see :func:`revoke`)."""
    values.update(create_event=event_id(),
                  creator_id=by_user if by_user is not None else user_id(), active=True)
    context.conn.execute(insert(table).values(**values))


def lock_rows(table, *ids):
    """Lock rows of a name/id ``table`` (``SELECT ... FOR UPDATE``) until the call commits.

    A call that reads versioned rows and then writes depending on what it read (tag a build
    unless already tagged, edit a tag's config) locks the parent row first, so a concurrent call
    on the same parent waits and then reads the committed result instead of deciding on stale
    rows. Ids are locked in ascending order so two calls locking the same rows cannot deadlock.
    On SQLite this is a no-op: the hub's write lock already serialises writers there.
    """
    ids = sorted({i for i in ids if i is not None})
    if ids and context.conn.dialect.name != "sqlite":
        context.conn.execute(select(table.c.id).where(table.c.id.in_(ids))
                             .order_by(table.c.id).with_for_update()).all()


def lock_tag(*tag_ids):
    """Lock tags (see :func:`lock_rows`): every write that depends on a tag's current rows."""
    lock_rows(s.tag, *tag_ids)


def note_tag_update(tag_id, update_type=0):
    """Record a change to a tag that no versioned row shows (for tagLastChangeEvent)."""
    context.conn.execute(insert(s.tag_updates).values(
        tag_id=tag_id, update_event=event_id(), updater_id=user_id(), update_type=update_type))


# ---------------------------------------------------------------------------------------------
# name-or-id lookups


def _lookup_key(info, what):
    """``("id", id)`` or ``("name", name)``: the column and value selecting the row of a
    name/id table for ``info`` (int id, name, or dict with id/name); ParameterError for
    anything else."""
    if isinstance(info, dict):
        info = info.get("id", info.get("name"))
    if isinstance(info, bool) or not isinstance(info, (int, str)):
        raise koji.ParameterError("Invalid type for %s: %s" % (what, type(info)))
    return ("id" if isinstance(info, int) else "name"), info


def _lookup_where(table, info, what):
    """The condition selecting the row of a name/id table for ``info`` (as _lookup_key)."""
    by, value = _lookup_key(info, what)
    return table.c[by] == value


def _by_key(memo, table, by, make):
    """The statement ``make(table.c[by] == :v)``, made once for each table and column
    (``memo``): a statement built anew and its cache key computed at each call cost 100-160 us,
    more than running it on SQLite, and these run in nearly every request. Run it with
    ``{"v": value}``."""
    stmt = memo.get((table, by))
    if stmt is None:
        stmt = memo[table, by] = make(table.c[by] == bindparam("v"))
    return stmt


_LOOKUP_STMTS = {}


def _lookup(table, info, what):
    """Row of a name/id table for ``info`` (int id, name, or dict with id/name)."""
    by, value = _lookup_key(info, what)
    stmt = _by_key(_LOOKUP_STMTS, table, by, lambda cond: select(table).where(cond))
    return one(context.conn.execute(stmt, {"v": value}).first())


def lookup(table, info, what, strict=False, create=False):
    """Like :func:`_lookup`; ``strict`` raises GenericError if missing, ``create`` makes it."""
    row = _lookup(table, info, what)
    if row is None and create and isinstance(info, str):
        # a new package, group or channel name: Koji's checks (hub.conf RegexNameInternal ...)
        verify_name_internal(info)
        new_id = context.conn.execute(
            insert(table).values(name=info).returning(table.c.id)).scalar_one()
        row = {"id": new_id, "name": info}
    if row is None and strict:
        raise koji.GenericError("No such %s: %r" % (what, info))
    return row


def get_tag_row(info, strict=False, event=None):
    """``{id, name}`` of a tag that exists (has a config) now or at ``event``.

    Now: the tag and whether it has a current config in one statement (an outer join; it was
    two, and nearly every tag call starts here: on PostgreSQL each is a round trip)."""
    row = _tag_row_now(info) if event is None else _tag_row_at(info, event)
    if row is None and strict:
        raise koji.GenericError("No such tagInfo: %r" % (info,))
    return row


_TAG_ROW_STMTS = {}


def _tag_row_now(info):
    t, tc = s.tag, s.tag_config
    by, value = _lookup_key(info, "tagInfo")
    stmt = _by_key(_TAG_ROW_STMTS, t, by, lambda cond: (
        select(t, tc.c.tag_id.label("config_of"))
        .select_from(t.outerjoin(tc, and_(tc.c.tag_id == t.c.id, tc.c.active.is_(True))))
        .where(cond).limit(1)))
    found = context.conn.execute(stmt, {"v": value}).first()
    if found is None or found.config_of is None:
        return None
    return {c.name: found._mapping[c] for c in t.c}


def _tag_row_at(info, event):
    """:func:`get_tag_row` at ``event``: the tag, then its config at the event (checked only
    for a tag that exists)."""
    row = _lookup(s.tag, info, "tagInfo")
    if row is not None:
        cfg = context.conn.execute(
            select(s.tag_config.c.tag_id).where(s.tag_config.c.tag_id == row["id"],
                                                active_at(s.tag_config, event))).first()
        if cfg is None:
            row = None
    return row


def get_tag_id(info, strict=True, event=None):
    row = get_tag_row(info, strict=strict, event=event)
    return row["id"] if row else None


def get_user_row(info, strict=False):
    if isinstance(info, str):
        row = one(context.conn.execute(select(s.users).where(s.users.c.name == info)).first())
        if row is None:
            pr = context.conn.execute(select(s.user_krb_principals.c.user_id).where(
                s.user_krb_principals.c.krb_principal == info)).first()
            if pr:
                row = _lookup(s.users, pr[0], "userInfo")
    else:
        row = _lookup(s.users, info, "userInfo")
    if row is None and strict:
        raise koji.GenericError("No such user: %r" % (info,))
    return row


def name_map(table, ids):
    """{id: name} for ``ids`` in a name/id table."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = context.conn.execute(select(table.c.id, table.c.name).where(table.c.id.in_(ids)))
    return {r[0]: r[1] for r in rows}
