"""The operations every face calls: each takes an access, the input and the runtime (see
docs/architecture.md, "Operations")."""
