"""Alembic revisions of the diagnoser branch, applied to every tenant store."""
