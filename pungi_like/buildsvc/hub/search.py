"""Koji's ``search`` call: names of packages, builds (N-V-R), tags, targets, users, hosts,
RPMs (N-V-R.A.rpm) and Maven/Windows archives matching terms.

Matching as Koji's: ``glob`` is a case-insensitive LIKE where ``*`` and ``?`` are the
wildcards (``_`` and ``\\`` literal); ``regexp`` a case-insensitive regular expression
(PostgreSQL's ``~*``; on SQLite Python's ``re`` through SQLAlchemy's REGEXP function); any other
match type an exact comparison. The regular expression runs in the database process on
PostgreSQL but in the hub process on SQLite, so its length is capped there.
"""

from __future__ import annotations

import re

import koji
from sqlalchemy import exc as sa_exc
from sqlalchemy import literal, select

from ..db import savepoint
from ..db import schema as s
from .common import check_type
from .context import context
from .packages import apply_query_opts
from .registry import read_only

#: Longest regular expression run by Python's ``re`` (SQLite); PostgreSQL has no such limit.
MAX_REGEXP = 200

TYPES = ("package", "build", "tag", "target", "user", "host", "rpm", "maven", "win")


def _name_column(type):
    """(select_from, id column, name expression, extra where) for a search type."""
    if type == "build":
        b = s.build
        name = s.package.c.name + "-" + b.c.version + "-" + b.c.release
        return b.join(s.package, s.package.c.id == b.c.pkg_id), b.c.id, name, ()
    if type == "rpm":
        r = s.rpminfo
        name = (r.c.name + "-" + r.c.version + "-" + r.c.release + "." + r.c.arch
                + literal(".rpm"))
        return r, r.c.id, name, ()
    if type == "tag":
        tc = s.tag_config
        return (s.tag.join(tc, tc.c.tag_id == s.tag.c.id), s.tag.c.id, s.tag.c.name,
                (tc.c.active.is_(True),))
    if type == "target":
        tc = s.metadata.tables["build_target_config"]
        bt = s.build_target
        return (bt.join(tc, tc.c.build_target_id == bt.c.id), bt.c.id, bt.c.name,
                (tc.c.active.is_(True),))
    table = {"package": s.package, "user": s.users, "host": s.host}[type]
    return table, table.c.id, table.c.name, ()


def _glob_pattern(terms):
    return terms.replace("\\", "\\\\").replace("_", r"\_").replace("?", "_").replace("*", "%")


@read_only
def search(terms, type, matchType, queryOpts=None):
    """``[{id, name}]`` of the objects of ``type`` whose name matches ``terms``."""
    if not terms:
        raise koji.GenericError("empty search terms")
    check_type(terms, str, "terms")
    check_type(type, str, "type")
    if type == "file":
        return apply_query_opts([], queryOpts)   # Koji no longer searches file names
    if type not in TYPES:
        raise koji.GenericError("No such search type: %s" % type)
    if type in ("maven", "win"):
        # no Maven or Windows archives exist on this hub (both features are disabled)
        return apply_query_opts([], queryOpts)
    from_, id_col, name, where = _name_column(type)
    dialect = context.conn.dialect.name
    if matchType == "glob":
        clause = name.ilike(_glob_pattern(terms), escape="\\")
    elif matchType == "regexp":
        try:
            re.compile(terms)
        except re.error as exc:
            raise koji.GenericError("Invalid regular expression %r: %s" % (terms, exc)) \
                from None
        if dialect == "sqlite":
            if len(terms) > MAX_REGEXP:
                raise koji.GenericError("regular expression longer than %d characters"
                                        % MAX_REGEXP)
            clause = name.regexp_match("(?i)" + terms)
        else:
            clause = name.regexp_match(terms, flags="i")
    else:
        clause = name == terms
    q = select(id_col.label("id"), name.label("name")).select_from(from_).where(clause, *where)
    q = q.order_by(id_col)
    try:
        if dialect == "sqlite":
            rows = context.conn.execute(q).all()
        else:
            with savepoint(context.conn, "search"):
                rows = context.conn.execute(q).all()
    except sa_exc.DBAPIError as exc:
        # e.g. a Python regexp PostgreSQL's engine does not accept
        raise koji.GenericError("Invalid regular expression %r: %s"
                                % (terms, str(exc.orig).splitlines()[0])) from None
    return apply_query_opts([{"id": r.id, "name": r.name} for r in rows], queryOpts)
