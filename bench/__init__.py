"""Benchmarks for autocancel (issue 6); not part of the test suite. See bench/README.md."""
