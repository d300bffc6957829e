"""What differs by database, chosen once: the unit of work, the PostgreSQL autocommit runner, the SQLite writer gate."""
