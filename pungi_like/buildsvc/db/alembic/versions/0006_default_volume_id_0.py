"""Schema version 6: the DEFAULT volume has id 0, as in Koji (its schema inserts it with id 0,
so ``getBuild``/``listTagged`` say ``'volume_id': 0`` for builds on DEFAULT and clients may rely
on it). Data only: the row made by revision 0001 (id 1 from the id sequence) is renumbered and the
builds on it follow. Other volumes keep their ids.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    conn = op.get_bind()
    meta = sa.MetaData()
    volume = sa.Table("volume", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String))
    build = sa.Table("build", meta, sa.Column("volume_id", sa.Integer))
    old = conn.execute(sa.select(volume.c.id).where(volume.c.name == "DEFAULT")).scalar()
    if old is not None and old != 0:
        # a second row first, so the builds never point at a missing volume (foreign key)
        conn.execute(volume.insert().values(id=0, name="DEFAULT (renumbering)"))
        conn.execute(build.update().where(build.c.volume_id == old).values(volume_id=0))
        conn.execute(volume.delete().where(volume.c.id == old))
        conn.execute(volume.update().where(volume.c.id == 0).values(name="DEFAULT"))
    schema_version = sa.Table("schema_version", sa.MetaData(), sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(schema_version, [{"version": 6, "applied_ts": time.time()}])
