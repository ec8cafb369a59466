"""autocancel: a rule-based auto-cancellation daemon for Dükkango restaurants."""

__version__ = "0.1.0"
