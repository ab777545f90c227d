"""Schema version 1: users, hosts, tags, targets, packages, groups, external repos, tasks,
builds, RPMs and signatures (the tables of the first release), with Koji's seed rows.

The DDL is frozen here as it was (generated once from that release's schema.py); later changes
to schema.py come as new revisions, never as edits of this one.
"""

import time

import sqlalchemy as sa
from alembic import op

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

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('build_target',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('channels',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('external_repo',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('groups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('package',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('permissions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('schema_version',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('applied_ts', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('tag',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('password', sa.String(length=255), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('usertype', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('volume',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('build_target_config',
    sa.Column('build_target_id', sa.Integer(), nullable=False),
    sa.Column('build_tag', sa.Integer(), nullable=False),
    sa.Column('dest_tag', sa.Integer(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['build_tag'], ['tag.id'], ),
    sa.ForeignKeyConstraint(['build_target_id'], ['build_target.id'], ),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['dest_tag'], ['tag.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], )
    )
    op.create_index('ix_build_target_config_active', 'build_target_config', ['active'], unique=False)
    op.create_index('ix_build_target_config_build_target_id', 'build_target_config', ['build_target_id'], unique=False)
    op.create_index('ix_build_target_config_events', 'build_target_config', ['create_event', 'revoke_event'], unique=False)
    op.create_table('external_repo_config',
    sa.Column('external_repo_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['external_repo_id'], ['external_repo.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], )
    )
    op.create_index('ix_external_repo_config_active', 'external_repo_config', ['active'], unique=False)
    op.create_index('ix_external_repo_config_events', 'external_repo_config', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_external_repo_config_external_repo_id', 'external_repo_config', ['external_repo_id'], unique=False)
    op.create_table('group_config',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('exported', sa.Boolean(), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=True),
    sa.Column('uservisible', sa.Boolean(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('langonly', sa.Text(), nullable=True),
    sa.Column('biarchonly', sa.Boolean(), nullable=True),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_group_config_active', 'group_config', ['active'], unique=False)
    op.create_index('ix_group_config_events', 'group_config', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_group_config_tag_id', 'group_config', ['tag_id'], unique=False)
    op.create_table('group_package_listing',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('package', sa.String(length=255), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('basearchonly', sa.Boolean(), nullable=True),
    sa.Column('requires', sa.Text(), nullable=True),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_group_package_listing_active', 'group_package_listing', ['active'], unique=False)
    op.create_index('ix_group_package_listing_events', 'group_package_listing', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_group_package_listing_tag_id', 'group_package_listing', ['tag_id'], unique=False)
    op.create_table('group_req_listing',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('req_id', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('is_metapkg', sa.Boolean(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], ),
    sa.ForeignKeyConstraint(['req_id'], ['groups.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_group_req_listing_active', 'group_req_listing', ['active'], unique=False)
    op.create_index('ix_group_req_listing_events', 'group_req_listing', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_group_req_listing_tag_id', 'group_req_listing', ['tag_id'], unique=False)
    op.create_table('host',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('update_ts', sa.Float(), nullable=True),
    sa.Column('ready', sa.Boolean(), nullable=False),
    sa.Column('task_load', sa.Float(), nullable=False),
    sa.Column('data', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('user_id')
    )
    op.create_table('sessions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('hostip', sa.String(length=255), nullable=True),
    sa.Column('authtype', sa.Integer(), nullable=False),
    sa.Column('master', sa.Integer(), nullable=True),
    sa.Column('exclusive', sa.Boolean(), nullable=True),
    sa.Column('callnum', sa.Integer(), nullable=True),
    sa.Column('start_ts', sa.Float(), nullable=False),
    sa.Column('update_ts', sa.Float(), nullable=False),
    sa.Column('renew_ts', sa.Float(), nullable=True),
    sa.Column('expired', sa.Boolean(), nullable=False),
    sa.Column('closed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['master'], ['sessions.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tag_config',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('arches', sa.Text(), nullable=True),
    sa.Column('perm_id', sa.Integer(), nullable=True),
    sa.Column('locked', sa.Boolean(), nullable=False),
    sa.Column('maven_support', sa.Boolean(), nullable=False),
    sa.Column('maven_include_all', sa.Boolean(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['perm_id'], ['permissions.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_config_active', 'tag_config', ['active'], unique=False)
    op.create_index('ix_tag_config_events', 'tag_config', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_config_tag_id', 'tag_config', ['tag_id'], unique=False)
    op.create_table('tag_external_repos',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('external_repo_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('merge_mode', sa.String(length=32), nullable=False),
    sa.Column('arches', sa.Text(), nullable=True),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['external_repo_id'], ['external_repo.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_external_repos_active', 'tag_external_repos', ['active'], unique=False)
    op.create_index('ix_tag_external_repos_events', 'tag_external_repos', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_external_repos_external_repo_id', 'tag_external_repos', ['external_repo_id'], unique=False)
    op.create_index('ix_tag_external_repos_tag_id', 'tag_external_repos', ['tag_id'], unique=False)
    op.create_table('tag_extra',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_extra_active', 'tag_extra', ['active'], unique=False)
    op.create_index('ix_tag_extra_events', 'tag_extra', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_extra_tag_id', 'tag_extra', ['tag_id'], unique=False)
    op.create_table('tag_inheritance',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('maxdepth', sa.Integer(), nullable=True),
    sa.Column('intransitive', sa.Boolean(), nullable=False),
    sa.Column('noconfig', sa.Boolean(), nullable=False),
    sa.Column('pkg_filter', sa.Text(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['parent_id'], ['tag.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_inheritance_active', 'tag_inheritance', ['active'], unique=False)
    op.create_index('ix_tag_inheritance_events', 'tag_inheritance', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_inheritance_parent_id', 'tag_inheritance', ['parent_id'], unique=False)
    op.create_index('ix_tag_inheritance_tag_id', 'tag_inheritance', ['tag_id'], unique=False)
    op.create_table('tag_package_owners',
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.Integer(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['owner'], ['users.id'], ),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_package_owners_active', 'tag_package_owners', ['active'], unique=False)
    op.create_index('ix_tag_package_owners_events', 'tag_package_owners', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_package_owners_tag_id_package_id', 'tag_package_owners', ['tag_id', 'package_id'], unique=False)
    op.create_table('tag_packages',
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('extra_arches', sa.Text(), nullable=True),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['package_id'], ['package.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_packages_active', 'tag_packages', ['active'], unique=False)
    op.create_index('ix_tag_packages_events', 'tag_packages', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_packages_package_id', 'tag_packages', ['package_id'], unique=False)
    op.create_index('ix_tag_packages_tag_id', 'tag_packages', ['tag_id'], unique=False)
    op.create_table('tag_updates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('update_event', sa.Integer(), nullable=False),
    sa.Column('updater_id', sa.Integer(), nullable=True),
    sa.Column('update_type', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], ),
    sa.ForeignKeyConstraint(['update_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['updater_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('user_krb_principals',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('krb_principal', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.UniqueConstraint('krb_principal')
    )
    op.create_table('user_perms',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('perm_id', sa.Integer(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['perm_id'], ['permissions.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], )
    )
    op.create_index('ix_user_perms_active', 'user_perms', ['active'], unique=False)
    op.create_index('ix_user_perms_events', 'user_perms', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_user_perms_user_id', 'user_perms', ['user_id'], unique=False)
    op.create_table('host_channels',
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], ),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], )
    )
    op.create_index('ix_host_channels_active', 'host_channels', ['active'], unique=False)
    op.create_index('ix_host_channels_channel_id', 'host_channels', ['channel_id'], unique=False)
    op.create_index('ix_host_channels_events', 'host_channels', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_host_channels_host_id', 'host_channels', ['host_id'], unique=False)
    op.create_table('host_config',
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('arches', sa.Text(), nullable=True),
    sa.Column('capacity', sa.Float(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], )
    )
    op.create_index('ix_host_config_active', 'host_config', ['active'], unique=False)
    op.create_index('ix_host_config_events', 'host_config', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_host_config_host_id', 'host_config', ['host_id'], unique=False)
    op.create_table('task',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('create_ts', sa.Float(), nullable=False),
    sa.Column('start_ts', sa.Float(), nullable=True),
    sa.Column('completion_ts', sa.Float(), nullable=True),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('parent', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=255), nullable=True),
    sa.Column('waiting', sa.Boolean(), nullable=True),
    sa.Column('awaited', sa.Boolean(), nullable=True),
    sa.Column('owner', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=255), nullable=False),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('eta', sa.Float(), nullable=True),
    sa.Column('arch', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], ),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['owner'], ['users.id'], ),
    sa.ForeignKeyConstraint(['parent'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('parent', 'label', name='uq_task_parent_label')
    )
    op.create_index('ix_task_host', 'task', ['host_id', 'state'], unique=False)
    op.create_index('ix_task_parent', 'task', ['parent'], unique=False)
    op.create_index('ix_task_queue', 'task', ['state', 'channel_id', 'arch', 'priority'], unique=False)
    op.create_table('build',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('pkg_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('release', sa.String(length=255), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=True),
    sa.Column('draft', sa.Boolean(), nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.Integer(), nullable=False),
    sa.Column('volume_id', sa.Integer(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('start_ts', sa.Float(), nullable=True),
    sa.Column('completion_ts', sa.Float(), nullable=True),
    sa.Column('promotion_ts', sa.Float(), nullable=True),
    sa.Column('promoter', sa.Integer(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['owner'], ['users.id'], ),
    sa.ForeignKeyConstraint(['pkg_id'], ['package.id'], ),
    sa.ForeignKeyConstraint(['promoter'], ['users.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.ForeignKeyConstraint(['volume_id'], ['volume.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pkg_id', 'version', 'release', name='uq_build_nvr')
    )
    op.create_table('rpminfo',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('build_id', sa.Integer(), nullable=True),
    sa.Column('buildroot_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('release', sa.String(length=255), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=True),
    sa.Column('arch', sa.String(length=32), nullable=False),
    sa.Column('draft', sa.Boolean(), nullable=False),
    sa.Column('external_repo_id', sa.Integer(), nullable=False),
    sa.Column('payloadhash', sa.String(length=255), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('buildtime', sa.Integer(), nullable=False),
    sa.Column('metadata_only', sa.Boolean(), nullable=False),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.ForeignKeyConstraint(['external_repo_id'], ['external_repo.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version', 'release', 'arch', 'external_repo_id', name='uq_rpminfo_nvra')
    )
    op.create_index('ix_rpminfo_build', 'rpminfo', ['build_id'], unique=False)
    op.create_table('tag_listing',
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('create_event', sa.Integer(), nullable=False),
    sa.Column('revoke_event', sa.Integer(), nullable=True),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('revoker_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['build_id'], ['build.id'], ),
    sa.ForeignKeyConstraint(['create_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['revoke_event'], ['events.id'], ),
    sa.ForeignKeyConstraint(['revoker_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], )
    )
    op.create_index('ix_tag_listing_active', 'tag_listing', ['active'], unique=False)
    op.create_index('ix_tag_listing_build_id', 'tag_listing', ['build_id'], unique=False)
    op.create_index('ix_tag_listing_events', 'tag_listing', ['create_event', 'revoke_event'], unique=False)
    op.create_index('ix_tag_listing_tag_id_active', 'tag_listing', ['tag_id', 'active'], unique=False)
    op.create_table('rpmsigs',
    sa.Column('rpm_id', sa.Integer(), nullable=False),
    sa.Column('sigkey', sa.String(length=64), nullable=False),
    sa.Column('sighash', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['rpm_id'], ['rpminfo.id'], ),
    sa.UniqueConstraint('rpm_id', 'sigkey', name='uq_rpmsigs')
    )

    meta = sa.MetaData()
    permissions = sa.Table("permissions", meta, sa.Column("name"), sa.Column("description"))
    channels = sa.Table("channels", meta, sa.Column("name"), sa.Column("enabled"))
    volume = sa.Table("volume", meta, sa.Column("name"))
    external_repo = sa.Table("external_repo", meta, sa.Column("id"), sa.Column("name"))
    schema_version = sa.Table("schema_version", meta, sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(permissions, [{"name": n, "description": d} for n, d in SEED_PERMISSIONS])
    op.bulk_insert(channels, [{"name": n, "enabled": True} for n in SEED_CHANNELS])
    op.bulk_insert(volume, [{"name": "DEFAULT"}])
    # Koji's reserved external repo 0 marks RPMs built internally.
    op.bulk_insert(external_repo, [{"id": 0, "name": "INTERNAL"}])
    op.bulk_insert(schema_version, [{"version": 1, "applied_ts": time.time()}])
