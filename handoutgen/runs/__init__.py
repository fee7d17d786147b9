"""Runs: many requests at once. Appointment lists (tables.py), batches in parallel with a manifest
(runner.py), and the names of what a run writes (naming.py)."""
