"""The multi-tenant core: settings, tenancy, storage, auth, audit, app, CLI, service registry."""
