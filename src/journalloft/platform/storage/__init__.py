"""Where data lives: each municipality's store (a SQLite file, or a PostgreSQL schema) and the
platform store (:mod:`.engines`), their tables (:mod:`.tables`, :mod:`.models`) and migrations
(:mod:`.migrations`), idempotent record storage (:mod:`.records`), the query path's statements
and pools (:mod:`.statements`, :mod:`.query_path`), and the key-value store for replay caches
and rate counts (:mod:`.kv`)."""
