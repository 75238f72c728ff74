"""The multi-tenant core: settings, tenancy, storage, auth, audit, app factory, CLI, service registry."""
