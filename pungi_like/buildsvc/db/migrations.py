"""Versioned schema migrations, with Alembic.

The revisions are in ``alembic/versions/``: revision ``NNNN`` makes schema version N and records
it in ``schema_version`` too (what ``current_version`` reads, and what databases made before
Alembic have). Each revision's DDL is frozen as it was released; a change to ``schema.py`` comes
with a new revision (``tests/integration/hub/test_migrations.py`` fails when the two differ). A
database made before Alembic (``schema_version`` rows, no ``alembic_version`` table) is stamped at
its version first, then upgraded like any other.

Add a revision: copy the newest file in ``alembic/versions/`` to ``NNNN_<what>.py`` with
``revision = "NNNN"`` and ``down_revision`` the previous one, write its ``upgrade()`` with
``alembic.op`` (and insert its ``schema_version`` row), and change ``schema.py`` to match.
"""

from __future__ import annotations

import os

from sqlalchemy import inspect, select

from . import schema as s

ALEMBIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alembic")


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(ALEMBIC_DIR)


def _latest():
    return int(_script().get_current_head())


#: The schema version of the newest revision.
LATEST_VERSION = _latest()


def current_version(conn) -> int:
    """The schema version of the database behind ``conn`` (0 when empty)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    versions = [r[0] for r in conn.execute(select(s.schema_version.c.version))]
    return max(versions, default=0)


def _config(conn):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", ALEMBIC_DIR)
    cfg.attributes["connection"] = conn
    return cfg


def migrate(engine, target: str | int = "head") -> int:
    """Upgrade the database to ``target`` (a schema version, default the newest) in one
    transaction; returns the version it is at then."""
    from alembic import command

    target = "%04d" % target if isinstance(target, int) else target
    with engine.begin() as conn:
        version = current_version(conn)
        if version > LATEST_VERSION:
            # made by a newer release: Alembic would only say it cannot find the revision
            from pungi_like.errors import HubError

            raise HubError(
                "the database has schema version %d, newer than this release knows (%d); "
                "run a release that has it, or a database made by this one"
                % (version, LATEST_VERSION))
        if version and not inspect(conn).has_table("alembic_version"):
            command.stamp(_config(conn), "%04d" % version)
        command.upgrade(_config(conn), target)
        return current_version(conn)
