"""Benchmarks: `python -m benchmarks.reminders` (also `make bench`); they print figures, they assert nothing."""
