"""Versioned schema migrations.

Each migration is a function that takes a connection inside a transaction and moves the schema
from version N-1 to N; ``schema_version`` holds one row per applied version. A migration names the
tables it creates explicitly (never ``create_all``), so a later change to ``schema.py`` is written
as a new migration here and old databases upgrade step by step.
"""

from __future__ import annotations

import time

from sqlalchemy import inspect, insert, select

from . import schema as s

#: Tables created by migration 1, in dependency order.
_V1_TABLES = [
    "schema_version", "events", "permissions", "users", "user_krb_principals", "user_perms",
    "sessions", "channels", "host", "host_config", "host_channels", "tag", "tag_config",
    "tag_extra", "tag_updates", "tag_inheritance", "build_target", "build_target_config",
    "package", "tag_packages", "tag_package_owners", "groups", "group_config",
    "group_req_listing", "group_package_listing", "external_repo", "external_repo_config",
    "tag_external_repos", "volume", "task", "build", "rpminfo", "rpmsigs", "tag_listing",
]

#: Permissions a fresh hub knows (Koji's seeded set).
SEED_PERMISSIONS = [
    ("admin", "Full administrator access. Perform all actions."),
    ("appliance", "Create appliance builds - deprecated."),
    ("dist-repo", "Create a dist-repo."),
    ("host", "Add, remove, enable or disable hosts and channels."),
    ("image", "Start image tasks."),
    ("image-import", "Import image archives."),
    ("livecd", "Start livecd tasks."),
    ("maven-import", "Import maven archives."),
    ("repo", "Manage repos: newRepo, repoExpire, repoDelete, repoProblem."),
    ("sign", "Sign RPMs."),
    ("tag", "Manage packages in tags: add, block, remove, and clone tags."),
    ("target", "Add, edit, and remove targets."),
    ("win-admin", "The default hub policy rule for 'vm' requires this permission."),
    ("win-import", "Import win archives."),
    ("draft-promoter", "The permission required in the default 'draft_promotion' hub policy rule."),
]

#: Channels a fresh hub knows (Koji's seeded set).
SEED_CHANNELS = ["default", "createrepo", "maven", "livecd", "appliance", "vm", "image",
                 "livemedia"]


def _v1(conn):
    for name in _V1_TABLES:
        s.metadata.tables[name].create(conn)
    conn.execute(insert(s.permissions), [{"name": n, "description": d}
                                         for n, d in SEED_PERMISSIONS])
    conn.execute(insert(s.channels), [{"name": n, "enabled": True} for n in SEED_CHANNELS])
    conn.execute(insert(s.volume), [{"name": "DEFAULT"}])
    # Koji's reserved external repo 0 marks RPMs built internally.
    conn.execute(insert(s.external_repo), [{"id": 0, "name": "INTERNAL"}])


MIGRATIONS = [_v1]
LATEST_VERSION = len(MIGRATIONS)


def current_version(conn) -> int:
    """The schema version of the database behind ``conn`` (0 when empty)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    versions = [r[0] for r in conn.execute(select(s.schema_version.c.version))]
    return max(versions, default=0)


def migrate(engine) -> int:
    """Apply every pending migration, each in its own transaction; return the final version."""
    with engine.begin() as conn:
        version = current_version(conn)
    while version < LATEST_VERSION:
        with engine.begin() as conn:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(insert(s.schema_version).values(version=version, applied_ts=time.time()))
    return version
