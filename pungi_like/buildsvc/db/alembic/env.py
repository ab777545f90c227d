"""Alembic's environment for the build service: always run on a connection handed over by
``pungi_like.buildsvc.db.migrations`` (``config.attributes["connection"]``), in one transaction."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  version_table="alembic_version")
with context.begin_transaction():
    context.run_migrations()
