"""Benchmarks: scripts that print figures, not tests (they are not part of ``make test``).

Run ``python -m benchmarks --list`` to see them; ``benchmarks/README.md`` says how to run
each one and what it checks.
"""
