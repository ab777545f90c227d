"""Alembic migrations of the build service's database (see ``db/migrations.py``)."""
