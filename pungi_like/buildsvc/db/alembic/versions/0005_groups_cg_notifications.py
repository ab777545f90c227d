"""Schema version 5: group membership (Koji's ``user_groups``), content generators
(``content_generator``, ``cg_users``, ``build_reservations``, ``build.cg_id``,
``buildroot.cg_id``/``cg_version``) and build notifications (``build_notifications``,
``build_notifications_block``). Side tags and draft builds need no new table.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _history_columns():
    return [
        sa.Column('create_event', sa.Integer(), sa.ForeignKey('events.id'), nullable=False),
        sa.Column('revoke_event', sa.Integer(), sa.ForeignKey('events.id'), nullable=True),
        sa.Column('creator_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('revoker_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=True),
    ]


def _versioned_indexes(name, indexes, unique):
    for cols in indexes:
        op.create_index('ix_%s_%s' % (name, '_'.join(cols)), name, list(cols))
    op.create_index('ix_%s_active' % name, name, ['active'])
    op.create_index('ix_%s_events' % name, name, ['create_event', 'revoke_event'])
    op.create_index('uq_%s_active_%s' % (name, '_'.join(unique)), name, list(unique),
                    unique=True, postgresql_where=sa.text("active IS TRUE"),
                    sqlite_where=sa.text("active = 1"))


def upgrade():
    op.create_table('user_groups',
    sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
    sa.Column('group_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
    *_history_columns()
    )
    _versioned_indexes('user_groups', [('user_id',), ('group_id',)], ('user_id', 'group_id'))
    op.create_table('content_generator',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('cg_users',
    sa.Column('cg_id', sa.Integer(), sa.ForeignKey('content_generator.id'), nullable=False),
    sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
    *_history_columns()
    )
    _versioned_indexes('cg_users', [('user_id',)], ('cg_id', 'user_id'))
    op.create_table('build_reservations',
    sa.Column('build_id', sa.Integer(), sa.ForeignKey('build.id'), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=True),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('build_id')
    )
    for table, column, fk in (('build', 'cg_id INTEGER', True),
                              ('buildroot', 'cg_id INTEGER', True),
                              ('buildroot', 'cg_version TEXT', False)):
        if op.get_bind().dialect.name == 'sqlite':
            # SQLite adds a column with an inline REFERENCES in place (Alembic would rebuild the
            # table, which the foreign keys pointing at ``build`` forbid)
            op.execute('ALTER TABLE %s ADD COLUMN %s%s' % (
                table, column, ' REFERENCES content_generator (id)' if fk else ''))
            continue
        name, sqltype = column.split()
        op.add_column(table, sa.Column(name, sa.Integer() if sqltype == 'INTEGER' else sa.Text(),
                                       nullable=True))
        if fk:
            op.create_foreign_key('fk_%s_%s' % (table, name), table, 'content_generator',
                                  [name], ['id'])
    op.create_table('build_notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
    sa.Column('package_id', sa.Integer(), sa.ForeignKey('package.id'), nullable=True),
    sa.Column('tag_id', sa.Integer(), sa.ForeignKey('tag.id'), nullable=True),
    sa.Column('success_only', sa.Boolean(), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_build_notifications_user', 'build_notifications', ['user_id'])
    op.create_table('build_notifications_block',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
    sa.Column('package_id', sa.Integer(), sa.ForeignKey('package.id'), nullable=True),
    sa.Column('tag_id', sa.Integer(), sa.ForeignKey('tag.id'), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_build_notifications_block_user', 'build_notifications_block',
                    ['user_id'])
    schema_version = sa.Table("schema_version", sa.MetaData(), sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(schema_version, [{"version": 5, "applied_ts": time.time()}])
