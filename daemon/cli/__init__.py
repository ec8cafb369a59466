"""The ``autocancel`` command line.

``main`` is the entry point, ``parser`` builds the arguments, ``commands``
holds one handler per command; each command group has its own module.
"""
