"""Alembic revisions of the kommunale-tjenester branch, applied to every tenant store."""
