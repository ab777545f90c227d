"""Schema version 4: the task scheduler's record (Koji 1.34's tables): ``scheduler_task_runs``
(each assignment of a task to a host) and ``scheduler_log_messages`` (what the scheduler did).
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scheduler_task_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('create_ts', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_scheduler_task_runs_task', 'scheduler_task_runs', ['task_id'])
    op.create_index('ix_scheduler_task_runs_host_active', 'scheduler_task_runs',
                    ['host_id', 'active'])
    op.create_table('scheduler_log_messages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('host_id', sa.Integer(), nullable=True),
    sa.Column('msg_ts', sa.Float(), nullable=False),
    sa.Column('msg', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['host_id'], ['host.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_scheduler_log_messages_task', 'scheduler_log_messages', ['task_id'])
    schema_version = sa.Table("schema_version", sa.MetaData(), sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(schema_version, [{"version": 4, "applied_ts": time.time()}])
