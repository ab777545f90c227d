"""Schema version 7: the ``data_version`` counter (one row), which every transaction that
writes to the database raises by one when it commits (PostgreSQL), for the hub's cache of whole
answers (``hub/answer_cache.py``).

On PostgreSQL every table gets a deferred constraint trigger (AFTER INSERT OR UPDATE OR DELETE,
per row, run at commit) and a TRUNCATE trigger that call ``pl_bump_data_version()``: the first
call of a transaction raises the counter (a transaction-local setting remembers it), later calls
of the same transaction return at once. Because the counter row is updated at commit, under its
row lock, the counter's values follow the order in which writers become visible: a snapshot that
sees value N sees exactly the writes of the transactions that committed up to N. A table made by
a later revision needs the same triggers (``add_data_version_triggers``;
``tests/integration/hub/test_answer_cache.py`` checks every table has them).

SQLite needs no trigger: the hub uses the database's own ``PRAGMA data_version`` there. The
table exists on both backends so the schemas stay alike.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BUMP_FUNCTION = """
CREATE OR REPLACE FUNCTION pl_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pungi_like.data_bumped', true) IS DISTINCT FROM '1' THEN
        PERFORM set_config('pungi_like.data_bumped', '1', true);
        UPDATE data_version SET n = n + 1 WHERE id = 1;
    END IF;
    RETURN NULL;
END
$$
"""

#: tables written without the counter: the counter itself and Alembic's own bookkeeping
NOT_COUNTED = ("data_version", "alembic_version")


def add_data_version_triggers(conn, table):
    """The two triggers that make writes to ``table`` raise the counter (PostgreSQL)."""
    conn.exec_driver_sql(
        'CREATE CONSTRAINT TRIGGER pl_data_version AFTER INSERT OR UPDATE OR DELETE ON "%s" '
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pl_bump_data_version()"
        % table)
    conn.exec_driver_sql(
        'CREATE TRIGGER pl_data_version_truncate AFTER TRUNCATE ON "%s" '
        "FOR EACH STATEMENT EXECUTE FUNCTION pl_bump_data_version()" % table)


def upgrade():
    table = op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "n": 0}])
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(BUMP_FUNCTION)
        for name in sa.inspect(conn).get_table_names():
            if name not in NOT_COUNTED:
                add_data_version_triggers(conn, name)
    schema_version = sa.Table("schema_version", sa.MetaData(), sa.Column("version"),
                              sa.Column("applied_ts"))
    op.bulk_insert(schema_version, [{"version": 7, "applied_ts": time.time()}])
