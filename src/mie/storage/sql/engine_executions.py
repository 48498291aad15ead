"""The engine store's execution, catalog and configuration statements (see mie.storage.engine.EngineTx)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Select, Table, Update, bindparam, delete, func, insert, select, union_all, update

from mie.storage.codec import dumps, loads
from mie.storage.engine import AssetLocation, CatalogKind, ExecutionRow
from mie.storage.sql.engine_tasks import ByIds
from mie.storage.sql.tables import assets, executions, operations, stages, system_configuration, workflows
from mie.types import JSONDict, WorkflowStatus

#: Key of the PostgreSQL advisory lock that serialises admission across nodes ("mieadmit").
ADMISSION_LOCK_KEY = 0x6D696561646D6974
_ADMISSION_LOCK = select(func.pg_advisory_xact_lock(ADMISSION_LOCK_KEY))
_MAX_CONCURRENT = "MaxConcurrentWorkflows"
_SLOTS = select(
    select(system_configuration.c.value).where(system_configuration.c.name == _MAX_CONCURRENT).scalar_subquery(),
    select(func.count()).select_from(executions).where(executions.c.status == WorkflowStatus.STARTED).scalar_subquery(),
)


def _oldest(status: WorkflowStatus) -> Select[Any]:
    oldest = (
        select(executions)
        .where(executions.c.status == status.value)
        .order_by(executions.c.queued_at, executions.c.seq)
        .limit(bindparam("b_limit"))
        # PostgreSQL: lock the rows to admit, so that an API call cancelling or deleting one of them meanwhile is
        # not overwritten by a stale Started; a row such a call holds is skipped (no wait, no deadlock) and its
        # status re-checked. SQLite ignores it (one writer at a time).
        .with_for_update(skip_locked=True)
        .subquery()
    )
    return select(oldest)


# The oldest of each status, each answered in order by the (status, queued_at) index; the engine merges them.
_ADMISSIBLE = union_all(_oldest(WorkflowStatus.QUEUED), _oldest(WorkflowStatus.RESUMED))
# Built once: reusing a statement object skips rebuilding it and its cache key (the engine's hot path).
_LOAD = select(executions).where(executions.c.id == bindparam("b_id"))
_LOAD_LOCKED = _LOAD.with_for_update()
# Ordered, so that schedulers of several nodes (PostgreSQL) lock execution rows in the same order.
_EXECUTIONS_LOCKED = ByIds(
    executions.c.id, lambda where: select(executions).where(where).order_by(executions.c.id).with_for_update()
)
_INSERT = insert(executions)
_UPDATES: dict[tuple[str, ...], Update] = {}
_WITH_STATUS = select(executions).where(executions.c.status.in_(bindparam("b_statuses", expanding=True)))
_LOCK_ASSET = (
    select(assets.c.media_type, assets.c.s3_bucket, assets.c.s3_key)
    .where(assets.c.asset_id == bindparam("b_id"))
    .with_for_update()
)
_CATALOG: dict[str, Table] = {"operations": operations, "stages": stages, "workflows": workflows}


def _update(columns: tuple[str, ...]) -> Update:
    """``UPDATE executions SET <columns> WHERE id = :b_id``, one statement object per column set."""
    stmt = _UPDATES.get(columns)
    if stmt is None:
        stmt = (
            update(executions)
            .where(executions.c.id == bindparam("b_id"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        _UPDATES[columns] = stmt
    return stmt


class ExecutionStatements:
    """The execution and catalog half of :class:`mie.storage.sql.engine_store.SqlEngineTx`."""

    conn: Connection

    def load_execution(self, execution_id: str, *, lock: bool = False) -> ExecutionRow | None:
        row = self.conn.execute(_LOAD_LOCKED if lock else _LOAD, {"b_id": execution_id}).first()
        return cast(ExecutionRow | None, row)

    def lock_executions(self, ids: Sequence[str]) -> Sequence[ExecutionRow]:
        if not ids:
            return []
        return cast(Sequence[ExecutionRow], _EXECUTIONS_LOCKED.run(self.conn, ids).all())

    def insert_execution(self, values: Mapping[str, Any]) -> None:
        self.conn.execute(_INSERT, dict(values))

    def update_executions(self, changes: Sequence[Mapping[str, Any]]) -> None:
        batches: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            columns = tuple(name for name in change if name != "id")
            params = {f"v_{name}": change[name] for name in columns}
            params["b_id"] = change["id"]
            batches.setdefault(columns, []).append(params)
        for columns, params_list in batches.items():
            self.conn.execute(_update(columns), params_list)

    def delete_execution(self, execution_id: str) -> None:
        self.conn.execute(delete(executions).where(executions.c.id == execution_id))

    def admission_slots(self) -> tuple[str | None, int]:
        if self.conn.dialect.name == "postgresql":
            # Schedulers of several nodes would otherwise count the same free slots (or pick the same queued rows)
            # and admit more than MaxConcurrentWorkflows. The lock is held until this transaction commits, and the
            # count below, a new statement (READ COMMITTED), sees every admission committed before. Only admission
            # makes executions Started, so serialising it is enough. SQLite has one writer at a time anyway.
            self.conn.execute(_ADMISSION_LOCK)
        configured, started = self.conn.execute(_SLOTS).one()
        return configured, int(started)

    def admissible(self, limit: int) -> Sequence[ExecutionRow]:
        return cast(Sequence[ExecutionRow], self.conn.execute(_ADMISSIBLE, {"b_limit": limit}).all())

    def executions_with_status(self, statuses: Sequence[str]) -> Sequence[ExecutionRow]:
        return cast(Sequence[ExecutionRow], self.conn.execute(_WITH_STATUS, {"b_statuses": list(statuses)}).all())

    def list_executions(self, status: str | None, after: int | None, limit: int | None) -> Sequence[ExecutionRow]:
        query = select(executions).order_by(executions.c.seq)
        if status is not None:
            query = query.where(executions.c.status == status)
        if after is not None:
            query = query.where(executions.c.seq > after)
        if limit is not None:
            query = query.limit(limit)
        return cast(Sequence[ExecutionRow], self.conn.execute(query).all())

    def executions_of_asset(self, asset_id: str, statuses: Sequence[str] | None = None) -> Sequence[ExecutionRow]:
        query = select(executions).where(executions.c.asset_id == asset_id).order_by(executions.c.seq.desc())
        if statuses is not None:
            query = query.where(executions.c.status.in_(list(statuses)))
        return cast(Sequence[ExecutionRow], self.conn.execute(query).all())

    def lock_asset(self, asset_id: str) -> AssetLocation | None:
        return cast(AssetLocation | None, self.conn.execute(_LOCK_ASSET, {"b_id": asset_id}).first())

    # Catalog --------------------------------------------------------------------------------------------------

    def get_record(self, kind: CatalogKind, name: str) -> JSONDict | None:
        table = _CATALOG[kind]
        row = self.conn.execute(select(table.c.doc).where(table.c.name == name)).first()
        return None if row is None else dict(loads(row[0]))

    def put_record(self, kind: CatalogKind, name: str, doc: JSONDict, *, new: bool) -> None:
        table = _CATALOG[kind]
        if new:
            self.conn.execute(insert(table).values(name=name, doc=dumps(doc)))
        else:
            self.conn.execute(update(table).where(table.c.name == name).values(doc=dumps(doc)))

    def all_records(self, kind: CatalogKind) -> list[JSONDict]:
        table = _CATALOG[kind]
        return [dict(loads(r[0])) for r in self.conn.execute(select(table.c.doc).order_by(table.c.name))]

    def delete_record(self, kind: CatalogKind, name: str) -> None:
        table = _CATALOG[kind]
        self.conn.execute(delete(table).where(table.c.name == name))

    def records_by_name(self, kind: CatalogKind, names: Sequence[str]) -> dict[str, JSONDict]:
        if not names:
            return {}
        table = _CATALOG[kind]
        rows = self.conn.execute(select(table.c.name, table.c.doc).where(table.c.name.in_(list(names))))
        return {r.name: dict(loads(r.doc)) for r in rows}

    def get_setting(self, name: str) -> str | None:
        row = self.conn.execute(select(system_configuration.c.value).where(system_configuration.c.name == name)).first()
        return None if row is None else str(row[0])

    def put_setting(self, name: str, value: str) -> None:
        if self.get_setting(name) is not None:
            self.conn.execute(
                update(system_configuration).where(system_configuration.c.name == name).values(value=value)
            )
        else:
            self.conn.execute(insert(system_configuration).values(name=name, value=value))

    def all_settings(self) -> Sequence[tuple[str, str]]:
        rows = self.conn.execute(select(system_configuration).order_by(system_configuration.c.name)).all()
        return [(r.name, r.value) for r in rows]
