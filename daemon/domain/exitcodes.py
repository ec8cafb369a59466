"""Process exit codes fixed by the contract (DESIGN.md, "Command line")."""

OK = 0
RUNTIME_FAILURE = 1
INVALID_CONFIG = 2  # also used for usage errors, as argparse does
