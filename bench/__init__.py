"""Benchmarks of journalloft against the same machine's ceilings, measured in one run.

``python -m bench`` (``make bench``) or ``python -m bench --quick`` (``make bench-quick``).
Benchmarks print figures; they are never timed tests and never fail CI.
"""
