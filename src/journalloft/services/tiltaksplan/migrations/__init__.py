"""Tiltaksplan's Alembic revisions (its own branch in every tenant store)."""
