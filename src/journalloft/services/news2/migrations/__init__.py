"""Alembic revisions of the news2 branch, applied to every tenant store."""
