"""Business rules. Services own the database commits; views only load, call and dump."""
