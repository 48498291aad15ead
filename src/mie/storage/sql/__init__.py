"""SQL storage through SQLAlchemy Core: one schema for SQLite (embedded) and PostgreSQL (scaled out)."""

from mie.storage.sql import (  # noqa: F401 -- complete the shared metadata
    faces_tables,
    jobs_tables,
    notify_tables,
    search_tables,
)
from mie.storage.sql.db import Database

__all__ = ["Database"]
