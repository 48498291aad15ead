"""SQL storage through SQLAlchemy Core: one schema for SQLite (embedded) and PostgreSQL (scaled out)."""

from mie.storage.sql.db import Database

__all__ = ["Database"]
