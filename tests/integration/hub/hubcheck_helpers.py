"""Helpers of the hub's concurrency and soak tests: client sessions and a database integrity check.

The keys below are Koji's ``UNIQUE (..., active)`` constraints (its schema.sql), written out here
rather than read from our schema module, so the check also judges a database made by older code.
"""

from __future__ import annotations

import json
import os

import koji
from sqlalchemy import create_engine, text

#: versioned table -> the keys no two active rows may share (Koji's schema)
ACTIVE_KEYS = {
    "user_perms": [("user_id", "perm_id")],
    "host_config": [("host_id",)],
    "host_channels": [("host_id", "channel_id")],
    "tag_config": [("tag_id",)],
    "tag_extra": [("tag_id", "key")],
    "tag_inheritance": [("tag_id", "parent_id"), ("tag_id", "priority")],
    "build_target_config": [("build_target_id",)],
    "tag_packages": [("package_id", "tag_id")],
    "tag_package_owners": [("package_id", "tag_id")],
    "group_config": [("group_id", "tag_id")],
    "group_req_listing": [("group_id", "tag_id", "req_id")],
    "group_package_listing": [("group_id", "tag_id", "package")],
    "external_repo_config": [("external_repo_id",)],
    "tag_external_repos": [("tag_id", "external_repo_id"), ("tag_id", "priority")],
    "tag_listing": [("build_id", "tag_id")],
}


def session(hub, user="kojiadmin"):
    """A logged-in koji.ClientSession of ``user`` (its own HTTPS connection)."""
    opts = koji.read_config(user, user_config=hub.conf)
    s = koji.ClientSession(opts["server"], opts)
    s.ssl_login(opts["cert"], None, opts["serverca"])
    return s


def db_url(hub):
    """The hub's database URL (SQLAlchemy form), read from its hub.json."""
    with open(os.path.join(hub.topdir, ".hub", "hub.json"), encoding="utf-8") as f:
        url = json.load(f)["db_url"].replace("{topdir}", hub.topdir)
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return url


def duplicate_active_rows(hub):
    """``{(table, key columns): [(key values..., count), ...]}`` of keys with several active
    rows; empty when the database is consistent."""
    engine = create_engine(db_url(hub))
    found = {}
    try:
        with engine.connect() as conn:
            active = "active IS TRUE" if engine.dialect.name == "postgresql" else "active = 1"
            for table, keys in ACTIVE_KEYS.items():
                for cols in keys:
                    c = ", ".join(cols)
                    rows = conn.execute(text(
                        f"SELECT {c}, count(*) FROM {table} WHERE {active} GROUP BY {c} "
                        f"HAVING count(*) > 1")).all()
                    if rows:
                        found[(table, cols)] = [tuple(r) for r in rows]
    finally:
        engine.dispose()
    return found
