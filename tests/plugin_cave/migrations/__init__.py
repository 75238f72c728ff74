"""Alembic revisions of the cave branch."""
