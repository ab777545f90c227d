"""The build service's data model (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

The model follows Koji's. Tables whose rows change over time are *versioned*: a change revokes the
current row (``revoke_event``, ``revoker_id``, ``active`` = NULL) and inserts a new one, so every
query can be asked "as of event N" (``create_event <= N AND (revoke_event IS NULL OR N <
revoke_event)``). Nothing versioned is ever deleted.

Timestamps are stored as float seconds since the epoch (``*_ts``); the API formats them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _versioned(name, *columns, indexes=(), unique=()):
    """A table with Koji's history columns.

    ``indexes`` are tuples of column names; ``unique`` are the keys no two *active* rows may
    share (Koji's ``UNIQUE (..., active)``), enforced by partial unique indexes on both backends
    so concurrent writers cannot leave two current rows (see :data:`ACTIVE_UNIQUE`).
    """
    table = Table(
        name,
        metadata,
        *columns,
        Column("create_event", Integer, ForeignKey("events.id"), nullable=False),
        Column("revoke_event", Integer, ForeignKey("events.id"), nullable=True),
        Column("creator_id", Integer, ForeignKey("users.id"), nullable=True),
        Column("revoker_id", Integer, ForeignKey("users.id"), nullable=True),
        # True while current, NULL once revoked (so unique indexes can include it).
        Column("active", Boolean, nullable=True, default=True),
    )
    for cols in indexes:
        Index("ix_%s_%s" % (name, "_".join(cols)), *[table.c[c] for c in cols])
    Index("ix_%s_active" % name, table.c.active)
    Index("ix_%s_events" % name, table.c.create_event, table.c.revoke_event)
    for cols in unique:
        ACTIVE_UNIQUE.append(Index(
            "uq_%s_active_%s" % (name, "_".join(cols)), *[table.c[c] for c in cols],
            unique=True, postgresql_where=table.c.active.is_(True),
            sqlite_where=table.c.active.is_(True)))
    return table


#: Partial unique indexes on the active rows of the versioned tables (schema version 3).
ACTIVE_UNIQUE: list = []


schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_ts", Float, nullable=False),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
)

permissions = Table(
    "permissions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=True),
)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("password", String(255), nullable=True),
    Column("status", Integer, nullable=False, default=0),     # 0 NORMAL, 1 BLOCKED
    Column("usertype", Integer, nullable=False, default=0),   # 0 NORMAL, 1 HOST, 2 GROUP
)

user_krb_principals = Table(
    "user_krb_principals", metadata,
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("krb_principal", String(255), nullable=False, unique=True),
)

user_perms = _versioned(
    "user_perms",
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("perm_id", Integer, ForeignKey("permissions.id"), nullable=False),
    indexes=[("user_id",)],
    unique=[('user_id', 'perm_id')],
)

sessions = Table(
    "sessions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("hostip", String(255), nullable=True),
    Column("authtype", Integer, nullable=False),
    Column("master", Integer, ForeignKey("sessions.id"), nullable=True),
    Column("exclusive", Boolean, nullable=True),
    Column("callnum", Integer, nullable=True),
    Column("start_ts", Float, nullable=False),
    Column("update_ts", Float, nullable=False),
    Column("renew_ts", Float, nullable=True),
    Column("expired", Boolean, nullable=False, default=False),
    Column("closed", Boolean, nullable=False, default=False),
)

channels = Table(
    "channels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("comment", Text, nullable=True),
)

host = Table(
    "host", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, unique=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("update_ts", Float, nullable=True),
    Column("ready", Boolean, nullable=False, default=False),
    Column("task_load", Float, nullable=False, default=0.0),
    Column("data", Text, nullable=True),   # JSON scheduler data (methods, maxjobs)
)

host_config = _versioned(
    "host_config",
    Column("host_id", Integer, ForeignKey("host.id"), nullable=False),
    Column("arches", Text, nullable=True),
    Column("capacity", Float, nullable=False, default=2.0),
    Column("description", Text, nullable=True),
    Column("comment", Text, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    indexes=[("host_id",)],
    unique=[('host_id',)],
)

host_channels = _versioned(
    "host_channels",
    Column("host_id", Integer, ForeignKey("host.id"), nullable=False),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    indexes=[("host_id",), ("channel_id",)],
    unique=[('host_id', 'channel_id')],
)

tag = Table(
    "tag", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

tag_config = _versioned(
    "tag_config",
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("arches", Text, nullable=True),
    Column("perm_id", Integer, ForeignKey("permissions.id"), nullable=True),
    Column("locked", Boolean, nullable=False, default=False),
    Column("maven_support", Boolean, nullable=False, default=False),
    Column("maven_include_all", Boolean, nullable=False, default=False),
    indexes=[("tag_id",)],
    unique=[('tag_id',)],
)

tag_extra = _versioned(
    "tag_extra",
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Text, nullable=True),   # JSON; NULL = blocked key
    indexes=[("tag_id",)],
    unique=[('tag_id', 'key')],
)

tag_updates = Table(
    "tag_updates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("update_event", Integer, ForeignKey("events.id"), nullable=False),
    Column("updater_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("update_type", Integer, nullable=False, default=0),
)

tag_inheritance = _versioned(
    "tag_inheritance",
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("parent_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("maxdepth", Integer, nullable=True),
    Column("intransitive", Boolean, nullable=False, default=False),
    Column("noconfig", Boolean, nullable=False, default=False),
    Column("pkg_filter", Text, nullable=False, default=""),
    indexes=[("tag_id",), ("parent_id",)],
    unique=[('tag_id', 'parent_id'), ('tag_id', 'priority')],
)

build_target = Table(
    "build_target", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

build_target_config = _versioned(
    "build_target_config",
    Column("build_target_id", Integer, ForeignKey("build_target.id"), nullable=False),
    Column("build_tag", Integer, ForeignKey("tag.id"), nullable=False),
    Column("dest_tag", Integer, ForeignKey("tag.id"), nullable=False),
    indexes=[("build_target_id",)],
    unique=[('build_target_id',)],
)

package = Table(
    "package", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

tag_packages = _versioned(
    "tag_packages",
    Column("package_id", Integer, ForeignKey("package.id"), nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("extra_arches", Text, nullable=True),
    indexes=[("tag_id",), ("package_id",)],
    unique=[('package_id', 'tag_id')],
)

tag_package_owners = _versioned(
    "tag_package_owners",
    Column("package_id", Integer, ForeignKey("package.id"), nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("owner", Integer, ForeignKey("users.id"), nullable=False),
    indexes=[("tag_id", "package_id")],
    unique=[('package_id', 'tag_id')],
)

groups = Table(
    "groups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

group_config = _versioned(
    "group_config",
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("exported", Boolean, nullable=False, default=True),
    Column("display_name", Text, nullable=False),
    Column("is_default", Boolean, nullable=True),
    Column("uservisible", Boolean, nullable=True),
    Column("description", Text, nullable=True),
    Column("langonly", Text, nullable=True),
    Column("biarchonly", Boolean, nullable=True),
    indexes=[("tag_id",)],
    unique=[('group_id', 'tag_id')],
)

group_req_listing = _versioned(
    "group_req_listing",
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("req_id", Integer, ForeignKey("groups.id"), nullable=False),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("type", String(32), nullable=False, default="mandatory"),
    Column("is_metapkg", Boolean, nullable=False, default=False),
    indexes=[("tag_id",)],
    unique=[('group_id', 'tag_id', 'req_id')],
)

group_package_listing = _versioned(
    "group_package_listing",
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("package", String(255), nullable=False),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("type", String(32), nullable=False, default="mandatory"),
    Column("basearchonly", Boolean, nullable=True),
    Column("requires", Text, nullable=True),
    indexes=[("tag_id",)],
    unique=[('group_id', 'tag_id', 'package')],
)

external_repo = Table(
    "external_repo", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

external_repo_config = _versioned(
    "external_repo_config",
    Column("external_repo_id", Integer, ForeignKey("external_repo.id"), nullable=False),
    Column("url", Text, nullable=False),
    indexes=[("external_repo_id",)],
    unique=[('external_repo_id',)],
)

tag_external_repos = _versioned(
    "tag_external_repos",
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("external_repo_id", Integer, ForeignKey("external_repo.id"), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("merge_mode", String(32), nullable=False, default="koji"),
    Column("arches", Text, nullable=True),
    indexes=[("tag_id",), ("external_repo_id",)],
    unique=[('tag_id', 'external_repo_id'), ('tag_id', 'priority')],
)

volume = Table(
    "volume", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

task = Table(
    "task", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", Integer, nullable=False, default=0),  # koji.TASK_STATES
    Column("create_ts", Float, nullable=False),
    Column("start_ts", Float, nullable=True),
    Column("completion_ts", Float, nullable=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("host_id", Integer, ForeignKey("host.id"), nullable=True),
    Column("parent", Integer, ForeignKey("task.id"), nullable=True),
    Column("label", String(255), nullable=True),
    Column("waiting", Boolean, nullable=True),
    Column("awaited", Boolean, nullable=True),
    Column("owner", Integer, ForeignKey("users.id"), nullable=False),
    Column("method", String(255), nullable=False),
    Column("request", Text, nullable=False),   # XML-RPC methodCall document
    Column("result", Text, nullable=True),     # XML-RPC methodResponse document (or Fault)
    Column("eta", Float, nullable=True),
    Column("arch", String(32), nullable=False, default="noarch"),
    Column("priority", Integer, nullable=False, default=20),
    Column("weight", Float, nullable=False, default=1.0),
    UniqueConstraint("parent", "label", name="uq_task_parent_label"),
)
Index("ix_task_queue", task.c.state, task.c.channel_id, task.c.arch, task.c.priority)
Index("ix_task_parent", task.c.parent)
Index("ix_task_host", task.c.host_id, task.c.state)

# the scheduler's record (schema version 4, Koji 1.34's tables): each assignment of a task to a
# host is a run (active until the assignment is opened and the task ends, is freed, refused or
# times out), and what the scheduler did or saw is a log message
scheduler_task_runs = Table(
    "scheduler_task_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("task.id"), nullable=False),
    Column("host_id", Integer, ForeignKey("host.id"), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("create_ts", Float, nullable=False),
)
Index("ix_scheduler_task_runs_task", scheduler_task_runs.c.task_id)
Index("ix_scheduler_task_runs_host_active", scheduler_task_runs.c.host_id,
      scheduler_task_runs.c.active)

scheduler_log_messages = Table(
    "scheduler_log_messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, ForeignKey("task.id"), nullable=True),
    Column("host_id", Integer, ForeignKey("host.id"), nullable=True),
    Column("msg_ts", Float, nullable=False),
    Column("msg", Text, nullable=False),
)
Index("ix_scheduler_log_messages_task", scheduler_log_messages.c.task_id)

build = Table(
    "build", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pkg_id", Integer, ForeignKey("package.id"), nullable=False),
    Column("version", String(255), nullable=False),
    Column("release", String(255), nullable=False),
    Column("epoch", Integer, nullable=True),
    Column("draft", Boolean, nullable=False, default=False),
    Column("state", Integer, nullable=False),   # koji.BUILD_STATES
    Column("task_id", Integer, ForeignKey("task.id"), nullable=True),
    Column("owner", Integer, ForeignKey("users.id"), nullable=False),
    Column("volume_id", Integer, ForeignKey("volume.id"), nullable=False),
    Column("create_event", Integer, ForeignKey("events.id"), nullable=False),
    Column("start_ts", Float, nullable=True),
    Column("completion_ts", Float, nullable=True),
    Column("promotion_ts", Float, nullable=True),
    Column("promoter", Integer, ForeignKey("users.id"), nullable=True),
    Column("source", Text, nullable=True),
    Column("extra", Text, nullable=True),  # JSON
    Column("cg_id", Integer, ForeignKey("content_generator.id"), nullable=True),  # version 5
    UniqueConstraint("pkg_id", "version", "release", name="uq_build_nvr"),
)

rpminfo = Table(
    "rpminfo", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("build_id", Integer, ForeignKey("build.id"), nullable=True),
    Column("buildroot_id", Integer, nullable=True),
    Column("name", String(255), nullable=False),
    Column("version", String(255), nullable=False),
    Column("release", String(255), nullable=False),
    Column("epoch", Integer, nullable=True),
    Column("arch", String(32), nullable=False),
    Column("draft", Boolean, nullable=False, default=False),
    Column("external_repo_id", Integer, ForeignKey("external_repo.id"), nullable=False, default=0),
    Column("payloadhash", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("buildtime", Integer, nullable=False),
    Column("metadata_only", Boolean, nullable=False, default=False),
    Column("extra", Text, nullable=True),
    UniqueConstraint("name", "version", "release", "arch", "external_repo_id",
                     name="uq_rpminfo_nvra"),
)
Index("ix_rpminfo_build", rpminfo.c.build_id)

rpmsigs = Table(
    "rpmsigs", metadata,
    Column("rpm_id", Integer, ForeignKey("rpminfo.id"), nullable=False),
    Column("sigkey", String(64), nullable=False),
    Column("sighash", String(255), nullable=False),
    UniqueConstraint("rpm_id", "sigkey", name="uq_rpmsigs"),
)

tag_listing = _versioned(
    "tag_listing",
    Column("build_id", Integer, ForeignKey("build.id"), nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    indexes=[("tag_id", "active"), ("build_id",)],
    unique=[('build_id', 'tag_id')],
)

#: Versioned tables, as queryHistory knows them.
VERSIONED_TABLES = [
    "user_perms", "host_config", "host_channels", "tag_config", "tag_extra", "tag_inheritance",
    "build_target_config", "tag_packages", "tag_package_owners", "group_config",
    "group_req_listing", "group_package_listing", "external_repo_config", "tag_external_repos",
    "tag_listing", "user_groups", "cg_users",   # the last two: schema version 5
]


# --- schema version 2: repos, repo requests, buildroots, archives (Koji's names) -------------

repo = Table(
    "repo", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("create_event", Integer, ForeignKey("events.id"), nullable=False),
    Column("create_ts", Float, nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("state", Integer, nullable=False, default=0),   # koji.REPO_STATES
    Column("state_ts", Float, nullable=True),
    Column("dist", Boolean, nullable=False, default=False),
    Column("task_id", Integer, ForeignKey("task.id"), nullable=True),
    Column("begin_event", Integer, ForeignKey("events.id"), nullable=True),
    Column("end_event", Integer, ForeignKey("events.id"), nullable=True),
    Column("opts", Text, nullable=True),          # JSON {src, debuginfo, separate_src, maven}
    Column("custom_opts", Text, nullable=True),   # JSON: the opts that were explicitly asked for
)
Index("ix_repo_tag_state", repo.c.tag_id, repo.c.state)

repo_queue = Table(
    "repo_queue", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("create_time", Float, nullable=False),
    Column("update_time", Float, nullable=False),
    Column("owner", Integer, ForeignKey("users.id"), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=False),
    Column("at_event", Integer, ForeignKey("events.id"), nullable=True),
    Column("min_event", Integer, ForeignKey("events.id"), nullable=True),
    Column("opts", Text, nullable=False),         # JSON
    Column("active", Boolean, nullable=False, default=True),
    Column("task_id", Integer, ForeignKey("task.id"), nullable=True),
    Column("tries", Integer, nullable=False, default=0),
    Column("repo_id", Integer, ForeignKey("repo.id"), nullable=True),
)
Index("ix_repo_queue_active", repo_queue.c.active, repo_queue.c.tag_id)

# Koji splits this into buildroot + standard_buildroot; one table is enough here.
buildroot = Table(
    "buildroot", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("br_type", Integer, nullable=False, default=0),   # koji.BR_TYPES STANDARD=0
    Column("host_id", Integer, ForeignKey("host.id"), nullable=True),
    Column("repo_id", Integer, ForeignKey("repo.id"), nullable=True),
    Column("task_id", Integer, ForeignKey("task.id"), nullable=True),
    Column("arch", String(32), nullable=True),
    Column("state", Integer, nullable=True),                  # koji.BR_STATES
    Column("create_event", Integer, ForeignKey("events.id"), nullable=True),
    Column("retire_event", Integer, ForeignKey("events.id"), nullable=True),
    Column("container_type", Text, nullable=True),
    Column("container_arch", Text, nullable=True),
    Column("host_os", Text, nullable=True),
    Column("host_arch", Text, nullable=True),
    Column("extra", Text, nullable=True),
    Column("cg_id", Integer, ForeignKey("content_generator.id"), nullable=True),  # version 5
    Column("cg_version", Text, nullable=True),                                    # version 5
)
Index("ix_buildroot_task", buildroot.c.task_id)

buildroot_listing = Table(
    "buildroot_listing", metadata,
    Column("buildroot_id", Integer, ForeignKey("buildroot.id"), nullable=False),
    Column("rpm_id", Integer, ForeignKey("rpminfo.id"), nullable=False),
    Column("is_update", Boolean, nullable=False, default=False),
    UniqueConstraint("buildroot_id", "rpm_id", name="uq_buildroot_listing"),
)
Index("ix_buildroot_listing_rpm", buildroot_listing.c.rpm_id)

btype = Table(
    "btype", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
)

build_types = Table(
    "build_types", metadata,
    Column("build_id", Integer, ForeignKey("build.id"), primary_key=True),
    Column("btype_id", Integer, ForeignKey("btype.id"), primary_key=True),
)

archivetypes = Table(
    "archivetypes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("extensions", Text, nullable=False),
    Column("compression_type", String(32), nullable=True),
)

archiveinfo = Table(
    "archiveinfo", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type_id", Integer, ForeignKey("archivetypes.id"), nullable=False),
    Column("btype_id", Integer, ForeignKey("btype.id"), nullable=True),
    Column("build_id", Integer, ForeignKey("build.id"), nullable=False),
    Column("buildroot_id", Integer, ForeignKey("buildroot.id"), nullable=True),
    Column("filename", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("checksum", Text, nullable=False),
    Column("checksum_type", Integer, nullable=False),   # koji.CHECKSUM_TYPES
    Column("metadata_only", Boolean, nullable=False, default=False),
    Column("extra", Text, nullable=True),               # JSON
)
Index("ix_archiveinfo_build", archiveinfo.c.build_id)
Index("ix_archiveinfo_buildroot", archiveinfo.c.buildroot_id)
Index("ix_archiveinfo_filename", archiveinfo.c.filename)

image_archives = Table(
    "image_archives", metadata,
    Column("archive_id", Integer, ForeignKey("archiveinfo.id"), primary_key=True),
    Column("arch", String(32), nullable=False),
)

archive_rpm_components = Table(
    "archive_rpm_components", metadata,
    Column("archive_id", Integer, ForeignKey("archiveinfo.id"), nullable=False),
    Column("rpm_id", Integer, ForeignKey("rpminfo.id"), nullable=False),
    UniqueConstraint("archive_id", "rpm_id", name="uq_archive_rpm_components"),
)
Index("ix_archive_rpm_components_rpm", archive_rpm_components.c.rpm_id)

image_builds = Table(
    "image_builds", metadata,
    Column("build_id", Integer, ForeignKey("build.id"), primary_key=True),
)


# --- schema version 5: group membership, content generators, build notifications ------------
# (side tags need no table: as in Koji's sidetag plugin they are tags with the tag_extra keys
# ``sidetag`` and ``sidetag_user_id``; draft builds use build.draft/promoter/promotion_ts)

# groups are users of usertype GROUP; a membership is versioned like a permission grant
user_groups = _versioned(
    "user_groups",
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("group_id", Integer, ForeignKey("users.id"), nullable=False),
    indexes=[("user_id",), ("group_id",)],
    unique=[("user_id", "group_id")],
)

content_generator = Table(
    "content_generator", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
)

cg_users = _versioned(
    "cg_users",
    Column("cg_id", Integer, ForeignKey("content_generator.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    indexes=[("user_id",)],
    unique=[("cg_id", "user_id")],
)

# a build reserved by CGInitBuild: CGImport/CGRefundBuild must present its token
build_reservations = Table(
    "build_reservations", metadata,
    Column("build_id", Integer, ForeignKey("build.id"), primary_key=True),
    Column("token", String(64), nullable=True),
    Column("created", Float, nullable=False),
)

build_notifications = Table(
    "build_notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("package_id", Integer, ForeignKey("package.id"), nullable=True),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=True),
    Column("success_only", Boolean, nullable=False, default=False),
    Column("email", Text, nullable=False),
)
Index("ix_build_notifications_user", build_notifications.c.user_id)

build_notifications_block = Table(
    "build_notifications_block", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("package_id", Integer, ForeignKey("package.id"), nullable=True),
    Column("tag_id", Integer, ForeignKey("tag.id"), nullable=True),
)
Index("ix_build_notifications_block_user", build_notifications_block.c.user_id)

#: Schema version 7: one row (id 1) whose ``n`` every committing write transaction raises on
#: PostgreSQL (triggers on every table; see alembic/versions/0007_data_version.py), the state
#: key of the hub's answer cache (hub/answer_cache.py)
data_version = Table(
    "data_version", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)
