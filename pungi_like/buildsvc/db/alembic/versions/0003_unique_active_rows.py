"""Schema version 3: no two *active* rows of a versioned table share a key (Koji's
``UNIQUE (..., active)``), as partial unique indexes on both backends, after de-duplicating the
rows concurrent writers could leave behind on older databases: the newest row (highest
create_event) of each key stays; the others are revoked at its create_event, i.e. superseded by it,
so history "as of event N" shows one row from then on.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: (index name, table, key columns)
UNIQUE_ACTIVE = [
    ('uq_build_target_config_active_build_target_id', 'build_target_config', ('build_target_id',)),
    ('uq_external_repo_config_active_external_repo_id', 'external_repo_config', ('external_repo_id',)),
    ('uq_group_config_active_group_id_tag_id', 'group_config', ('group_id', 'tag_id')),
    ('uq_group_package_listing_active_group_id_tag_id_package', 'group_package_listing', ('group_id', 'tag_id', 'package')),
    ('uq_group_req_listing_active_group_id_tag_id_req_id', 'group_req_listing', ('group_id', 'tag_id', 'req_id')),
    ('uq_host_channels_active_host_id_channel_id', 'host_channels', ('host_id', 'channel_id')),
    ('uq_host_config_active_host_id', 'host_config', ('host_id',)),
    ('uq_tag_config_active_tag_id', 'tag_config', ('tag_id',)),
    ('uq_tag_external_repos_active_tag_id_external_repo_id', 'tag_external_repos', ('tag_id', 'external_repo_id')),
    ('uq_tag_external_repos_active_tag_id_priority', 'tag_external_repos', ('tag_id', 'priority')),
    ('uq_tag_extra_active_tag_id_key', 'tag_extra', ('tag_id', 'key')),
    ('uq_tag_inheritance_active_tag_id_parent_id', 'tag_inheritance', ('tag_id', 'parent_id')),
    ('uq_tag_inheritance_active_tag_id_priority', 'tag_inheritance', ('tag_id', 'priority')),
    ('uq_tag_listing_active_build_id_tag_id', 'tag_listing', ('build_id', 'tag_id')),
    ('uq_tag_package_owners_active_package_id_tag_id', 'tag_package_owners', ('package_id', 'tag_id')),
    ('uq_tag_packages_active_package_id_tag_id', 'tag_packages', ('package_id', 'tag_id')),
    ('uq_user_perms_active_user_id_perm_id', 'user_perms', ('user_id', 'perm_id')),
]


def _dedupe_active(conn, table, cols):
    # Rows have no id column: the backend's own row address (PostgreSQL ctid, SQLite rowid)
    # tells them apart.
    pg = conn.dialect.name == "postgresql"
    rowid = "ctid" if pg else "rowid"
    keys = ", ".join(cols)
    active = "active IS TRUE" if pg else "active = 1"
    ranked = (f"SELECT {rowid} AS rid, first_value(create_event) OVER w AS keeper_event, "
              f"row_number() OVER w AS rn FROM {table} WHERE {active} "
              f"WINDOW w AS (PARTITION BY {keys} ORDER BY create_event DESC, {rowid} DESC)")
    dupes = conn.execute(sa.text(f"SELECT rid, keeper_event FROM ({ranked}) AS r WHERE rn > 1"))
    for rid, keeper_event in dupes.fetchall():
        where = "ctid = CAST(:rid AS tid)" if pg else "rowid = :rid"
        conn.execute(sa.text(f"UPDATE {table} SET active = NULL, revoke_event = :ev "
                             f"WHERE {where}"), {"ev": keeper_event,
                                                 "rid": str(rid) if pg else rid})


def upgrade():
    conn = op.get_bind()
    existing = {(t, i["name"]) for t in {t for _, t, _ in UNIQUE_ACTIVE}
                for i in sa.inspect(conn).get_indexes(t)}
    for name, table, cols in UNIQUE_ACTIVE:
        _dedupe_active(conn, table, cols)
        if (table, name) in existing:  # made by an older hub's create_all
            continue
        op.create_index(name, table, list(cols), unique=True,
                        postgresql_where=sa.text("active IS TRUE"),
                        sqlite_where=sa.text("active = 1"))
    schema_version = sa.Table("schema_version", sa.MetaData(), sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(schema_version, [{"version": 3, "applied_ts": time.time()}])
