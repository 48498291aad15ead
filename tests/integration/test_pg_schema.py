"""Migrations on a fresh PostgreSQL database: through ``mie migrate`` and through bootstrap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from starlette.testclient import TestClient

from mie.bootstrap import build
from mie.storage.sql.db import MIGRATIONS_DIR, temporary_engine
from mie.storage.sql.search_tables import UNMAPPED_PREFIX
from mie.storage.sql.tables import metadata
from tests.conftest import fast_settings
from tests.helpers import API_KEY, make_workflow, operation, start, wait_for
from tests.integration.conftest import PgServer

pytestmark = pytest.mark.integration


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def assert_schema_is_current(url: str) -> None:
    """The database is at the newest revision and has exactly the schema of ``tables.py``."""
    engine = temporary_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_name": lambda name, *_: not (name or "").startswith(UNMAPPED_PREFIX)}
            )
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def run_cli(*args: str, url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``mie`` command line (its entry point, in a fresh interpreter) against ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIE_")}
    env.update(MIE_DATABASE_URL=url, MIE_DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-c", "from mie.cli.main import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_mie_migrate_builds_the_schema_on_a_fresh_database(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.create("mie_migrate")
    try:
        first = run_cli("migrate", url=url, data_dir=tmp_path / "data")
        assert first.returncode == 0, first.stderr
        assert "database is up to date" in first.stdout
        assert_schema_is_current(url)
        # Nothing to do the second time, and nothing breaks.
        again = run_cli("migrate", url=url, data_dir=tmp_path / "data")
        assert again.returncode == 0, again.stderr
        assert_schema_is_current(url)
        # The data directory holds no database when the URL names PostgreSQL.
        assert not (tmp_path / "data" / "mie.db").exists()
    finally:
        pg_server.drop(url)


def test_bootstrap_migrates_a_fresh_database_and_runs_a_workflow(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.create("mie_bootstrap")
    try:
        svc = build(fast_settings(tmp_path / "data", database_url=url))
        svc.start()
        try:
            assert not svc.db.is_sqlite
            assert_schema_is_current(url)
            with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
                make_workflow(client, "boot-wf", [[operation("boot-op")]])
                done = wait_for(client, start(client, "boot-wf", "upload/boot.mp4")["Id"], {"Complete", "Error"})
                assert done["Status"] == "Complete", done.get("Message")
        finally:
            svc.stop()
        # A restart on the same database finds it current.
        svc = build(fast_settings(tmp_path / "data2", database_url=url))
        svc.stop()
        assert_schema_is_current(url)
    finally:
        pg_server.drop(url)
