"""Storage: the SQL store (SQLite or PostgreSQL through SQLAlchemy) and object stores (local folder)."""
