"""Per-operation concurrency limits (an operation's ``MaxConcurrent``), on top of ``MaxConcurrentWorkflows``.

MIE users hit provider quotas (a few concurrent transcodes, say); here a slow or heavy operation can be capped
without capping workflows. The count is of running tasks in the database, so the limit holds across nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mie.storage.engine import EngineTx
from mie.types import JSONDict


def limit_of(record: Mapping[str, Any] | None) -> int | None:
    """The operation's ``MaxConcurrent`` (None: unlimited)."""
    if record is None:
        return None
    value = record.get("MaxConcurrent")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def running_counts(tx: EngineTx, names: Iterable[str]) -> dict[str, int]:
    """Running tasks per operation, for ``names``."""
    return tx.running_counts(sorted(set(names)))


def still_saturated(tx: EngineTx, saturated: set[str], records: Mapping[str, JSONDict]) -> set[str]:
    """Which of the operations that were at their limit still are."""
    if not saturated:
        return set()
    counts = running_counts(tx, saturated)
    return {name for name in saturated if (limit := limit_of(records.get(name))) and counts.get(name, 0) >= limit}


def admit(tx: EngineTx, candidates: list[Any], records: Mapping[str, JSONDict]) -> tuple[list[Any], set[str]]:
    """Split due tasks (rows with ``operation``) into those that may start now, and name the operations that
    reached their limit (their other tasks wait until one of theirs finishes)."""
    limits = {t.operation: n for t in candidates if (n := limit_of(records.get(t.operation))) is not None}
    if not limits:
        return candidates, set()
    counts = running_counts(tx, limits)
    allowed: list[Any] = []
    for task in candidates:
        limit = limits.get(task.operation)
        if limit is None:
            allowed.append(task)
            continue
        if counts.get(task.operation, 0) < limit:
            counts[task.operation] = counts.get(task.operation, 0) + 1
            allowed.append(task)
    saturated = {name for name, limit in limits.items() if counts.get(name, 0) >= limit}
    return allowed, saturated
