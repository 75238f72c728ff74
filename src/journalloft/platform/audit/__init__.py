"""The audit log (:mod:`.log`) and its seals (:mod:`.seal`)."""
