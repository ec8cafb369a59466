"""The ``autocancel`` command line: argument parsing in ``main``, one module per command group."""
