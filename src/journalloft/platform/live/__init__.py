"""What keeps lookups up to date: the change feed (:mod:`.changes`), the subscriptions
(:mod:`.subscription_store`), the change outbox (:mod:`.outbox`) and the
streams open in a process (:mod:`.hub`). The words: docs/architecture.md, "Words for subscriptions
and event streams"."""
