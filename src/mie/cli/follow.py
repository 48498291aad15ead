"""Following executions to their end: the change feed long-polled, records re-read, results fetched.

Following wakes on events, not fixed sleeps: the change feed (``GET /api/dataplane/changes?wait=``) is long-polled
and an execution is re-read when an event about it arrives, and at most about once a second while it runs (operator
progress is not evented).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mie.cli import insights, render
from mie.cli.client import ApiError, CliError, MieClient

TERMINAL = frozenset({"Complete", "Error"})
#: Statuses in which an execution makes progress that is not evented (operators report percentages).
RUNNING = frozenset({"Started"})
#: Re-read a running execution at most this often (seconds) when no event about it arrives.
RUNNING_REFRESH = 1.0
#: Re-read a queued or waiting execution this often even without events (a safety net, not the mechanism).
IDLE_REFRESH = 15.0
#: Longest long-poll of the change feed (the API allows up to 60 s).
LONG_POLL = 30.0


# Following -----------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One execution the CLI follows."""

    label: str
    workflow: str
    record: dict[str, Any]
    file: str | None = None
    ended: float | None = None
    results: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, int] = field(default_factory=dict)
    results_error: str | None = None
    found: insights.Insights | None = None
    asset_url: str | None = None

    @property
    def id(self) -> str:
        return str(self.record.get("Id"))

    @property
    def asset_id(self) -> str | None:
        value = self.record.get("AssetId")
        return str(value) if value is not None else None

    @property
    def status(self) -> str:
        return str(self.record.get("Status", "?"))

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def shown_status(self) -> str:
        """The status to print (``Cancelled`` for a cancelled execution, which MIE ends as ``Error``)."""
        return render.execution_status(self.record)

    def elapsed(self) -> float | None:
        created = render.created_of(self.record)
        if created is None:
            return None
        end = self.ended if self.ended is not None else time.time()
        return end - created

    def document(self) -> dict[str, Any]:
        """The ``--json`` entry of this run."""
        return {"file": self.file, "asset_id": self.asset_id, "execution": self.record, "results": self.results}


def change_head(client: MieClient) -> int:
    """The newest sequence number of the change feed, in O(log n) one-event reads (the API has no 'latest')."""

    def first_after(after: int) -> int | None:
        body = client.get("/api/dataplane/changes", after=after, limit=1)
        events = body.get("changes") if isinstance(body, dict) else None
        return int(events[0]["seq"]) if events else None

    lo = first_after(0)
    if lo is None:
        return 0
    step = max(lo, 1024)
    hi = lo + step
    while (found := first_after(hi)) is not None:
        lo = found
        step *= 2
        hi = lo + step
    # Invariant: an event with seq lo exists, and none has seq > hi.
    while lo < hi:
        mid = (lo + hi) // 2
        found = first_after(mid)
        if found is None:
            hi = mid
        else:
            lo = found
    return lo


class Follower:
    """Follow executions to their end: long-poll the change feed, re-read executions when needed."""

    def __init__(
        self,
        client: MieClient,
        runs: Sequence[Run],
        *,
        after: int,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.runs = list(runs)
        self.cursor = after
        self.on_change = on_change
        self.clock = clock
        self.use_feed = True
        self._last_read: dict[str, float] = {}

    def follow(self, timeout: float | None = None) -> bool:
        """Until every execution has ended (True) or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else self.clock() + timeout
        touched: set[str] = {r.id for r in self.runs}
        while True:
            now = self.clock()
            changed = False
            for run in self.runs:
                if run.done:
                    continue
                interval = RUNNING_REFRESH if run.status in RUNNING else IDLE_REFRESH
                if run.id in touched or now - self._last_read.get(run.id, -1e9) >= interval:
                    changed |= self.refresh(run)
            if changed:
                self.on_change()
            active = [r for r in self.runs if not r.done]
            if not active:
                return True
            remaining = None if deadline is None else deadline - self.clock()
            if remaining is not None and remaining <= 0:
                return False
            wait = RUNNING_REFRESH if any(r.status in RUNNING for r in active) else LONG_POLL
            if remaining is not None:
                wait = min(wait, remaining)
            touched = self.wait_for_events(active, max(wait, 0.05))

    def refresh(self, run: Run) -> bool:
        """Re-read one execution; whether anything shown changed."""
        self._last_read[run.id] = self.clock()
        try:
            record = self.client.get(f"/api/workflow/execution/{run.id}")
        except ApiError as exc:
            if exc.status == 404:
                raise CliError(f"execution {run.id} was deleted while it was followed") from exc
            raise
        changed: bool = record != run.record
        run.record = record
        if run.done and run.ended is None:
            run.ended = time.time()
        return changed

    def wait_for_events(self, active: Iterable[Run], wait: float) -> set[str]:
        """Long-poll the change feed for up to ``wait`` s; the ids of followed executions that changed."""
        ids = {r.id: r for r in active}
        if not self.use_feed:
            time.sleep(min(wait, RUNNING_REFRESH))
            return set()
        try:
            response = self.client.request(
                "GET",
                "/api/dataplane/changes",
                params={"after": self.cursor, "wait": round(wait, 2), "limit": 1000},
                timeout=wait + 30.0,
            )
        except ApiError as exc:
            if exc.status in (404, 405, 501):  # a server without the change feed: fall back to re-reading
                self.use_feed = False
                return set()
            raise
        body = response.json()
        touched: set[str] = set()
        for event in body.get("changes") or []:
            payload = event.get("payload") or {}
            if event.get("source") == "WorkflowExecution" and payload.get("Id") in ids:
                run = ids[payload["Id"]]
                touched.add(run.id)
                if payload.get("Status") in TERMINAL and run.ended is None:
                    try:
                        run.ended = float(event["created"])
                    except (KeyError, TypeError, ValueError):
                        run.ended = time.time()
        self.cursor = int(body.get("last", self.cursor))
        return touched


def fetch_results(client: MieClient, run: Run) -> None:
    """The asset's data-plane results, following the metadata cursor (one operator result or page per call)."""
    if not run.asset_id:
        return
    path = f"/api/dataplane/metadata/{run.asset_id}"
    try:
        body = client.get(path)
        cursor = body.get("cursor")
        seen: set[str] = set()
        while cursor and cursor not in seen:
            seen.add(cursor)
            body = client.get(path, cursor=cursor)
            name = str(body.get("operator"))
            value = body.get("results")
            count = run.pages.get(name, 0)
            if count == 0:
                run.results[name] = value
            elif count == 1:
                run.results[name] = [run.results[name], value]
            else:
                run.results[name].append(value)
            run.pages[name] = count + 1
            cursor = body.get("cursor")
    except ApiError as exc:
        run.results_error = exc.message


def read_insights(client: MieClient, run: Run) -> None:
    """Fetch the results of a finished run and what they say; the link to its asset's page in the web UI."""
    fetch_results(client, run)
    if run.asset_id:
        run.asset_url = f"{client.url}/assets/{run.asset_id}"
    if run.results_error is None:
        run.found = insights.collect(run.results)
