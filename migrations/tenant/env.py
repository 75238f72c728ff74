"""Alembic environment applied to one tenant's store at a time.

The connection arrives with the tenant's ``schema_translate_map``; migration scripts create tables in
the placeholder schema ``tenant`` and the map puts them in the tenant's own schema (PostgreSQL) or in
its own file (SQLite). The version table lives in the tenant's schema too.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table_schema=context.config.attributes.get("version_table_schema"),
)
with context.begin_transaction():
    context.run_migrations()
