"""Alembic migrations on SQLite: they build exactly the schema of ``tables.py``, the app runs on what they build,
older databases upgrade with their rows, and ``mie migrate`` can be run any number of times."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, MetaData, Text, inspect, text
from starlette.testclient import TestClient
from typer.testing import CliRunner

from mie.bootstrap import build
from mie.cli.main import app as cli
from mie.config import Settings
from mie.storage.sql.db import MIGRATIONS_DIR, Database, temporary_engine
from mie.storage.sql.search_tables import UNMAPPED_PREFIX
from mie.storage.sql.tables import metadata
from tests.helpers import API_KEY, make_workflow, operation, start, wait_for

FIRST_REVISION = "0001"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(_config())
    assert len(script.get_heads()) == 1, f"the migrations have several heads: {script.get_heads()}"
    head = script.get_current_head()
    assert head is not None
    return head


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def alembic(url: str, action: str, revision: str) -> None:
    """``alembic upgrade|downgrade REVISION`` on ``url``, through the same env.py as the app."""
    engine = temporary_engine(url)
    try:
        with engine.connect() as conn:
            cfg = _config()
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
            conn.commit()
    finally:
        engine.dispose()


def mapped(name: str | None, type_: str, parent: Any) -> bool:
    """Leave out the full-text objects SQLAlchemy cannot describe (an FTS5 virtual table, its shadow tables, a GIN
    expression index): ``search_tables.UNMAPPED_PREFIX``; the search tests cover them."""
    return not (name or "").startswith(UNMAPPED_PREFIX)


def schema_diff(url: str, target: MetaData = metadata) -> list[Any]:
    """What autogenerate would change to turn the database into ``target`` (types and defaults compared)."""
    engine = temporary_engine(url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "compare_server_default": True, "include_name": mapped}
            context = MigrationContext.configure(conn, opts=opts)
            return list(compare_metadata(context, target))
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = temporary_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def schema_sql(url: str) -> list[tuple[str, str, str | None]]:
    """The database's schema as SQLite stores it: every table and index with its CREATE statement."""
    engine = temporary_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")).all()
            return [(r.type, r.name, r.sql) for r in rows]
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = temporary_engine(url)
    try:
        return {name for name in inspect(engine).get_table_names() if mapped(name, "table", None)}
    finally:
        engine.dispose()


def assert_schema_is_current(url: str) -> None:
    assert current_revision(url) == head_revision()
    assert schema_diff(url) == []


# --- migrations == tables.py -----------------------------------------------------------------------------------


def test_migrations_build_exactly_the_schema_of_tables_py(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "mie.db")
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()
    assert_schema_is_current(url)
    assert table_names(url) == set(metadata.tables) | {"alembic_version"}


def test_the_comparison_notices_drift(tmp_path: Path) -> None:
    """A column or index that tables.py has and the migrations lack is reported (so the test above can fail)."""
    url = sqlite_url(tmp_path / "mie.db")
    alembic(url, "upgrade", "head")
    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["tasks"].append_column(Column("not_migrated", Text, nullable=True))
    Index("ix_not_migrated", drifted.tables["assets"].c.created)
    kinds = {diff[0] for diff in schema_diff(url, drifted) if isinstance(diff, tuple)}
    assert {"add_column", "add_index"} <= kinds
    without_outbox = MetaData()
    for name, table in metadata.tables.items():
        if name != "outbox":
            table.to_metadata(without_outbox)
    assert [diff[0] for diff in schema_diff(url, without_outbox)] == ["remove_table"]


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "mie.db")
    alembic(url, "upgrade", "head")
    alembic(url, "downgrade", "base")
    assert current_revision(url) is None
    assert table_names(url) == {"alembic_version"}
    alembic(url, "upgrade", "head")
    assert_schema_is_current(url)


def test_a_database_of_the_first_revision_upgrades_with_its_rows(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "mie.db")
    alembic(url, "upgrade", FIRST_REVISION)
    engine = temporary_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO system_configuration (name, value) VALUES ('MaxConcurrentWorkflows', '7')"))
            conn.execute(
                text(
                    "INSERT INTO tasks (execution_id, stage, branch, operation, op_type, phase, state, attempt, "
                    "polls, due_at, payload) VALUES ('e1', 's1', 0, 'op', 'Sync', 'start', 'pending', 0, 0, 1.5, '{}')"
                )
            )
        alembic(url, "upgrade", "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM system_configuration")).scalar_one() == "7"
            task = conn.execute(text("SELECT * FROM tasks")).mappings().one()
    finally:
        engine.dispose()
    assert task["execution_id"] == "e1"
    assert task["due_at"] == 1.5
    assert task["progress"] is None  # added by a later revision
    assert_schema_is_current(url)


# --- the app and the CLI on a migrated database ----------------------------------------------------------------


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose settings come only from the arguments (no MIE_* of the developer's shell)."""
    for name in [n for n in os.environ if n.startswith("MIE_")]:
        monkeypatch.delenv(name)
    return CliRunner()


def migrate_cli(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(cli, ["migrate", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.output


@pytest.fixture
def migrated(runner: CliRunner, settings: Settings) -> str:
    """The settings' data directory, with a database built by ``mie migrate`` only; returns its URL."""
    migrate_cli(runner, settings.data_dir)
    url = settings.effective_database_url
    assert_schema_is_current(url)
    return url


def test_mie_migrate_is_idempotent(runner: CliRunner, settings: Settings, migrated: str) -> None:
    engine = temporary_engine(migrated)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO operations (name, doc) VALUES ('kept', '{}')"))
    finally:
        engine.dispose()
    before = schema_sql(migrated)
    for _ in range(2):
        migrate_cli(runner, settings.data_dir)
        assert schema_sql(migrated) == before
    assert_schema_is_current(migrated)
    engine = temporary_engine(migrated)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM operations")).scalars().all() == ["kept"]
    finally:
        engine.dispose()


def test_the_app_runs_on_a_database_built_by_migrations(settings: Settings, migrated: str) -> None:
    before = schema_sql(migrated)
    svc = build(settings)
    svc.start()
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            make_workflow(client, "migrated-wf", [[operation("migrated-op")]])
            execution = start(client, "migrated-wf", "upload/migrated.mp4")
            done = wait_for(client, execution["Id"], {"Complete", "Error"})
            assert done["Status"] == "Complete", done.get("Message")
            asset = client.get(f"/api/dataplane/metadata/{done['AssetId']}")
            assert asset.status_code == 200, asset.text
    finally:
        svc.stop()
    # Opening the app changed no schema; a second start finds its records.
    assert schema_sql(migrated) == before
    svc = build(settings)
    try:
        with TestClient(svc.app(), headers={"x-api-key": API_KEY}) as client:
            assert client.get(f"/api/workflow/execution/{execution['Id']}").json()["Status"] == "Complete"
    finally:
        svc.stop()
    assert_schema_is_current(migrated)
