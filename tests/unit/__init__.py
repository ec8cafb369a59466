"""The unit layer: pure, in-process tests over hand-built snapshots (see builders.py)."""
