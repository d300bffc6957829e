"""What differs by database, chosen once: the unit of work, the PostgreSQL autocommit runner,
the SQLite writer gate.

`from backend.db import work` is the one way to commit (db/work.py).
"""

from backend.db.work import NestedWork, end_read, work

__all__ = ["NestedWork", "end_read", "work"]
