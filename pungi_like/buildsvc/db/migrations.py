"""Versioned schema migrations.

Each migration is a function that takes a connection inside a transaction and moves the schema
from version N-1 to N; ``schema_version`` holds one row per applied version. A migration names the
tables it creates explicitly (never ``create_all``), so a later change to ``schema.py`` is written
as a new migration here and old databases upgrade step by step.
"""

from __future__ import annotations

import time

from sqlalchemy import inspect, insert, select, text

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


#: Tables created by migration 2 (repos, repo requests, buildroots, archives), in dependency order.
_V2_TABLES = [
    "repo", "repo_queue", "buildroot", "buildroot_listing", "btype", "build_types",
    "archivetypes", "archiveinfo", "image_archives", "archive_rpm_components", "image_builds",
]

#: Koji's legacy build types, in Koji's id order.
SEED_BTYPES = ["rpm", "maven", "win", "image"]

#: Archive types a fresh hub knows: Koji's names, descriptions and extensions for the types image
#: tasks produce ("tar" covers .tar.gz as in Koji), plus "log" which Koji keeps out of archives.
SEED_ARCHIVETYPES = [
    ("tar", "Tar file", "tar tar.gz tar.bz2 tar.xz tgz", "tar"),
    ("zip", "Zip file", "zip", "zip"),
    ("xml", "XML file", "xml", None),
    ("xmlcompressed", "Compressed XML file", "xml.gz xml.bz2 xml.xz", None),
    ("spec", "RPM spec file", "spec", None),
    ("iso", "CD/DVD Image", "iso", None),
    ("raw", "Raw disk image", "raw", None),
    ("qcow", "QCOW image", "qcow", None),
    ("qcow2", "QCOW2 image", "qcow2", None),
    ("vmdk", "vSphere image", "vmdk", None),
    ("ova", "Open Virtualization Archive", "ova", None),
    ("ks", "Kickstart", "ks", None),
    ("cfg", "Configuration file", "cfg", None),
    ("vdi", "VirtualBox Virtual Disk Image", "vdi", None),
    ("txt", "Text file", "txt", None),
    ("vhd", "Hyper-V image", "vhd", None),
    ("vhdx", "Hyper-V Virtual Hard Disk v2 image", "vhdx", None),
    ("box", "Vagrant Box Image", "box", None),
    ("raw-xz", "xz compressed raw disk image", "raw.xz", None),
    ("json", "JSON data", "json", None),
    ("yaml", "YAML Ain't Markup Language", "yaml yml", None),
    ("liveimg-squashfs", "liveimg compatible squashfs image", "liveimg.squashfs", None),
    ("raw-gz", "GZIP compressed raw disk image", "raw.gz", None),
    ("qcow2-compressed", "Compressed QCOW2 image", "qcow2.gz qcow2.xz", None),
    ("iso-compressed", "Compressed iso image", "iso.gz iso.xz", None),
    ("vhd-compressed", "Compressed VHD image", "vhd.gz vhd.xz", None),
    ("vmdk-compressed", "Compressed VMDK image", "vmdk.gz vmdk.xz", None),
    ("kernel-image", "Kernel BZ2 Image", "vmlinuz vmlinuz.gz vmlinuz.xz", None),
    ("initramfs", "Compressed Initramfs Image", "img", None),
    ("checksum", "Checksum file", "sha256", None),
    ("squashfs", "SquashFS image", "squashfs", None),
    ("log", "Log file", "log", None),
]


def _v2(conn):
    for name in _V2_TABLES:
        s.metadata.tables[name].create(conn)
    conn.execute(insert(s.btype), [{"name": n} for n in SEED_BTYPES])
    conn.execute(insert(s.archivetypes), [
        {"name": n, "description": d, "extensions": e, "compression_type": c}
        for n, d, e, c in SEED_ARCHIVETYPES])
    # Builds that exist already (v1 knew RPM builds only) get their rpm build type.
    rpm_btype = conn.execute(select(s.btype.c.id).where(s.btype.c.name == "rpm")).scalar_one()
    build_ids = [r[0] for r in conn.execute(select(s.build.c.id))]
    if build_ids:
        conn.execute(insert(s.build_types), [{"build_id": b, "btype_id": rpm_btype}
                                             for b in build_ids])


def _dedupe_active(conn, index):
    """Revoke all but the newest active row of each key of ``index`` that has several.

    Concurrent writers on databases older than version 3 could leave two current rows for one
    key (a build listed twice in a tag, a tag with two configs). The newest row (highest
    create_event) stays; the others are revoked at that row's create_event, i.e. superseded by
    it, so history "as of event N" shows one row from then on. Rows have no id column: the
    backend's own row address (PostgreSQL ``ctid``, SQLite ``rowid``) tells them apart.
    """
    table = index.table
    rowid = "ctid" if conn.dialect.name == "postgresql" else "rowid"
    keys = ", ".join(c.name for c in index.columns)
    active = "active IS TRUE" if conn.dialect.name == "postgresql" else "active = 1"
    ranked = (f"SELECT {rowid} AS rid, first_value(create_event) OVER w AS keeper_event, "
              f"row_number() OVER w AS rn FROM {table.name} WHERE {active} "
              f"WINDOW w AS (PARTITION BY {keys} ORDER BY create_event DESC, {rowid} DESC)")
    dupes = conn.execute(text(f"SELECT rid, keeper_event FROM ({ranked}) AS r WHERE rn > 1"))
    for rid, keeper_event in dupes.fetchall():
        where = "ctid = CAST(:rid AS tid)" if rowid == "ctid" else "rowid = :rid"
        conn.execute(text(f"UPDATE {table.name} SET active = NULL, revoke_event = :ev "
                          f"WHERE {where}"), {"ev": keeper_event, "rid": str(rid)
                                               if rowid == "ctid" else rid})


def _v3(conn):
    """Partial unique indexes on the active rows of every versioned table (Koji's
    ``UNIQUE (..., active)``), after de-duplicating rows that concurrent writers left behind."""
    for index in s.ACTIVE_UNIQUE:
        _dedupe_active(conn, index)
        # A database created at version 1 or 2 by today's schema.py already has them.
        index.create(conn, checkfirst=True)


MIGRATIONS = [_v1, _v2, _v3]
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
