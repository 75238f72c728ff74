"""Alembic revisions of the kartlegginger branch, applied to every tenant store."""
