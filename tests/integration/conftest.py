"""PostgreSQL fixtures: one fresh database per test session, emptied before each test, dropped at the end.

The server comes from ``MIE_TEST_POSTGRES_URL`` (a libpq URL of a role that may create databases; default
``postgresql://postgres@127.0.0.1:5432/postgres``). When it cannot be reached the tests are skipped on a developer
machine, but fail when ``CI=true``: a CI run that silently skips its integration tier tests nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import Settings
from mie.storage.sql.db import Database, temporary_engine
from mie.storage.sql.tables import metadata
from tests.conftest import fast_settings
from tests.helpers import API_KEY

ADMIN_URL = os.environ.get("MIE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, because a service the test needs is missing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration services must be present)", pytrace=False)
    pytest.skip(reason)


def sqlalchemy_url(libpq_url: str, database: str) -> str:
    """The ``postgresql+psycopg://`` URL of ``database`` on the server of ``libpq_url``."""
    return make_url(libpq_url).set(drivername="postgresql+psycopg", database=database).render_as_string(False)


class PgServer:
    """Creates and drops databases on the test server (through psycopg, in autocommit mode)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def create(self, prefix: str = "mie_test") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return sqlalchemy_url(self.admin_url, name)

    def drop(self, url: str) -> None:
        """Drop a database made by :meth:`create`, closing whatever connections are still open on it."""
        name = make_url(url).database
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """The PostgreSQL server, or a skip (a failure under CI) when there is none."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is in the dev extra
        unavailable("psycopg is not installed (pip install -e '.[postgres]')")
        raise
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}")
    return PgServer(ADMIN_URL)


@pytest.fixture(scope="session")
def pg_session_url(pg_server: PgServer) -> Iterator[str]:
    """A database for this test session, migrated to the newest revision, dropped afterwards."""
    url = pg_server.create()
    try:
        db = Database(url)
        try:
            db.migrate()
        finally:
            db.dispose()
        yield url
    finally:
        pg_server.drop(url)


@pytest.fixture
def pg_url(pg_session_url: str) -> str:
    """The session database, emptied (sequences restarted, so the change log starts at seq 1 again)."""
    engine = temporary_engine(pg_session_url)
    try:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return pg_session_url


@pytest.fixture
def pg_settings(tmp_path: Path, pg_url: str) -> Settings:
    """Fast settings on the PostgreSQL test database."""
    return fast_settings(tmp_path / "data", database_url=pg_url)


@pytest.fixture
def make_services() -> Iterator[Callable[[Settings], Services]]:
    """Build and start engines ("nodes"); every one is stopped when the test ends."""
    made: list[Services] = []

    def make(settings: Settings) -> Services:
        svc = build(settings)
        made.append(svc)
        svc.start()
        return svc

    yield make
    for svc in reversed(made):
        svc.stop()


@pytest.fixture
def pg_services(pg_settings: Settings, make_services: Callable[[Settings], Services]) -> Services:
    """One started engine on PostgreSQL."""
    return make_services(pg_settings)


@pytest.fixture
def pg_client(pg_services: Services) -> Iterator[TestClient]:
    """An in-process HTTP client of :func:`pg_services`."""
    with TestClient(pg_services.app(), headers={"x-api-key": API_KEY}) as client:
        yield client
