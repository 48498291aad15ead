"""The schema. Records are MIE documents kept as JSON text; the columns beside them exist for indexes.

Alembic migrations under ``migrations/`` create exactly this schema; ``tests/unit/test_migrations.py`` checks
that they agree.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

system_configuration = Table(
    "system_configuration",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

operations = Table(
    "operations",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("doc", Text, nullable=False),
)

stages = Table(
    "stages",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("doc", Text, nullable=False),
)

workflows = Table(
    "workflows",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("doc", Text, nullable=False),
)

executions = Table(
    "executions",
    metadata,
    # seq orders admission (oldest first) and pagination.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("workflow_name", String(255), nullable=False),
    Column("asset_id", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("current_stage", String(255), nullable=False),
    Column("message", Text, nullable=True),
    Column("created", String(32), nullable=False),
    # When the execution entered the admission queue (Queued or Resumed), and when it ended.
    Column("queued_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("doc", Text, nullable=False),
    Index("ix_executions_status_queued", "status", "queued_at"),
    Index("ix_executions_asset", "asset_id"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(64), nullable=False),
    Column("stage", String(255), nullable=False),
    Column("branch", Integer, nullable=False),
    Column("operation", String(255), nullable=False),
    # Sync | Async, fixed when the task is created
    Column("op_type", String(8), nullable=False),
    # start | monitor | wait
    Column("phase", String(16), nullable=False),
    # pending | running | waiting | done
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, default=0),
    Column("polls", Integer, nullable=False, default=0),
    Column("due_at", Float, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("lease_owner", String(128), nullable=True),
    # The event (start) or previous output (monitor) the operator is called with; its output once done.
    Column("payload", Text, nullable=False),
    Column("output", Text, nullable=True),
    # {"Percent", "Message", "Updated"} as the running operator last reported it (JSON), shown on the execution.
    Column("progress", Text, nullable=True),
    # What the worker holding the lease reported when the call ended (JSON), until the scheduler applies it.
    Column("outcome", Text, nullable=True),
    Index("ix_tasks_state_due", "state", "due_at"),
    # Per-operation concurrency limits count running tasks by operation.
    Index("ix_tasks_operation_state", "operation", "state"),
    Index("ix_tasks_execution_stage", "execution_id", "stage"),
)

assets = Table(
    "assets",
    metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("s3_bucket", String(255), nullable=False),
    Column("s3_key", Text, nullable=False),
    Column("media_type", String(32), nullable=True),
    Column("created", String(32), nullable=False),
    Column("locked_by", String(255), nullable=True),
    Column("locked_at", Integer, nullable=True),
)

metadata_pointers = Table(
    "metadata_pointers",
    metadata,
    # Newest pointer of an operator = highest id (MIE keeps the list newest first).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(64), nullable=False),
    Column("operator", String(255), nullable=False),
    Column("workflow", String(255), nullable=False),
    Column("pointer", Text, nullable=False),
    Index("ix_pointers_asset_operator", "asset_id", "operator"),
)

metadata_pages = Table(
    "metadata_pages",
    metadata,
    # Pages of a paginated result, appended as rows so concurrent writers never lose one; folded into the
    # result object when the final page (end=true) arrives.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(64), nullable=False),
    Column("operator", String(255), nullable=False),
    Column("workflow", String(255), nullable=False),
    Column("page", Text, nullable=False),
    Index("ix_pages_key", "asset_id", "workflow", "operator"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    # "Dataplane" (MIE's analytics stream payloads) or "WorkflowExecution" (status changes)
    Column("source", String(32), nullable=False),
    Column("asset_id", String(64), nullable=True),
    Column("created", Float, nullable=False),
    Column("payload", Text, nullable=False),
)
