"""Mutation testing of the safety core (``make mutation``); see docs/mutation.md."""
