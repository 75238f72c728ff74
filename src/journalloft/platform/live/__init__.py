"""What keeps lookups up to date: the change feed (:mod:`.changes`), the subscriptions
(:mod:`.subscriptions`) and the streams open in a process (:mod:`.hub`)."""
