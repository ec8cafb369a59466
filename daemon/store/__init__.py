"""The order store: the contract tables a POS writes, and the daemon's own.

``schema`` (tables) and ``sqltypes`` (portable column types); ``migrate`` and
``migrations/`` (Alembic); ``connect`` (engines, session settings, the reader
and writer connections) and ``storefile`` (the SQLite file's permissions);
``rowcheck`` and ``snapshot`` (reading orders without trusting them);
``ledger``, ``upsert`` and ``action_history`` (what the daemon decided and
did); ``syncmerge`` (what sync may change in a POS's order); ``names`` and
``readonly`` (what the read-only commands show).
"""
