"""Absent, as on an operator's install (see tests/without_test_extras/README.md)."""

raise ImportError("pygments is a test-only dependency: an operator's install does not have it")
