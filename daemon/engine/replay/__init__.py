"""Replaying the order history through a rules file: ``autocancel replay`` and ``diff``.

:mod:`.world` is the store in memory and a plan's effects on it, :mod:`.run`
the simulated passes, :mod:`.outcomes` and :mod:`.summary` what they
decided and the report, :mod:`.diff` two files compared, :mod:`.load` the
reads from the (read-only) store.
"""
