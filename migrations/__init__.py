"""Alembic environment for the engine's database (see alembic.ini)."""
