"""The one error a pass raises for the caller to report."""


class PassError(Exception):
    """The pass could not run (store unreadable, ...): nothing was decided."""
