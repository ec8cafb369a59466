"""INSERT ... ON CONFLICT DO NOTHING on the backends the store runs on (SQLite, PostgreSQL).

A unique key is how two daemons on one store agree who acts: one live
cancellation intent per order, one closure in force per restaurant, one
deactivation per food. The insert that loses the race inserts nothing, and
its caller sees that in the row count, without an error to tell apart from
real failures.
"""

from __future__ import annotations

import sqlalchemy as sa

# Each dialect's insert is imported when a store of that backend needs it: importing
# SQLAlchemy's PostgreSQL dialect costs a SQLite store's process ~50 ms for nothing.


def insert_unless_taken(connection: sa.Connection, table: sa.Table, key: str) -> sa.Insert:
    """An insert into ``table`` that does nothing when the unique ``key`` is taken."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
