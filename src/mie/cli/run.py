"""``mie run``: upload files, start a workflow on each, follow the executions live, summarise the results.

Following wakes on events, not fixed sleeps: the change feed (``GET /api/dataplane/changes?wait=``) is long-polled
and an execution is re-read when an event about it arrives, and at most about once a second while it runs (operator
progress is not evented).
"""

from __future__ import annotations

import json
import mimetypes
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mie.cli import insights, render
from mie.cli.client import (
    ApiError,
    ApiKeyOption,
    CliError,
    DataDirOption,
    MieClient,
    UrlOption,
    err,
    guarded,
    out,
    print_json,
    resolve,
)

TERMINAL = frozenset({"Complete", "Error"})
#: Statuses in which an execution makes progress that is not evented (operators report percentages).
RUNNING = frozenset({"Started"})
#: Re-read a running execution at most this often (seconds) when no event about it arrives.
RUNNING_REFRESH = 1.0
#: Re-read a queued or waiting execution this often even without events (a safety net, not the mechanism).
IDLE_REFRESH = 15.0
#: Longest long-poll of the change feed (the API allows up to 60 s).
LONG_POLL = 30.0

DEFAULT_WORKFLOWS = {"Video": "CasVideoWorkflow", "Image": "CasImageWorkflow", "Audio": "CasAudioWorkflow"}


class MediaType(StrEnum):
    """MIE's media types (the key under ``Input.Media``)."""

    Video = "Video"
    Audio = "Audio"
    Image = "Image"
    Text = "Text"


# Input ---------------------------------------------------------------------------------------------------------


def parse_config(value: str | None) -> dict[str, Any] | None:
    """``--config``: a JSON object, or ``@file`` holding one; ``typer.BadParameter`` (exit 2) otherwise."""
    if value is None:
        return None
    source = "--config"
    text = value
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint="--config") from exc
        source = str(path)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{source} is not valid JSON: {exc}", param_hint="--config") from exc
    if not isinstance(parsed, dict):
        raise typer.BadParameter(
            'the configuration must be a JSON object like {"stage": {"operator": {"Enabled": false}}}',
            param_hint="--config",
        )
    return parsed


_MIME_MAJOR = {"video": "Video", "audio": "Audio", "image": "Image", "text": "Text"}


def media_type_of(path: Path) -> str | None:
    """MIE's media type of a file: by content for media formats, else by extension, else text by content."""
    from mie.dataplane.sniff import sniff_media_type

    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        head = b""
    sniffed = sniff_media_type(head) if head else None
    if sniffed in ("Video", "Audio", "Image"):
        return sniffed
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed:
        kind = _MIME_MAJOR.get(guessed.split("/")[0])
        if kind:
            return kind
    return sniffed


#: Media types ``mie run DIR`` picks up in a folder (text files there are notes, not media).
FOLDER_MEDIA = frozenset({"Video", "Audio", "Image"})


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files as given; folders walked recursively for media files (by content, else extension), sorted, hidden
    files and folders skipped. Raises ``typer.BadParameter`` for a folder with no media in it."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = [
            p
            for p in sorted(path.rglob("*"))
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
            and media_type_of(p) in FOLDER_MEDIA
        ]
        if not found:
            raise typer.BadParameter(f"{path} holds no image, video or audio files", param_hint="FILES")
        out.extend(found)
    unique: list[Path] = []
    seen: set[Path] = set()
    for p in out:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def upload_key(path: Path) -> str:
    """Where an uploaded file lands before the server moves it under its asset: unique per run."""
    return f"upload/{uuid.uuid4().hex[:12]}/{path.name}"


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


# Display -------------------------------------------------------------------------------------------------------


def _header(run: Run) -> Text:
    text = Text()
    text.append(run.label, style="bold")
    if run.file is not None:
        text.append(f"  → {run.workflow}")
    text.append("  ")
    text.append_text(render.styled_status(run.shown_status))
    stage = run.record.get("CurrentStage")
    if stage and not run.done:
        text.append(f"  stage {stage}")
    text.append(f"  {render.duration(run.elapsed())}", style="dim")
    return text


#: With more executions than this the live view shows one line per running execution and an overall bar.
DETAILED_RUNS = 3
#: Running executions listed at most in the compact live view.
COMPACT_LINES = 8


def _percent(run: Run) -> float | None:
    """The mean progress of the current stage's operators that report one."""
    values = [
        float(p["Percent"])
        for p in run.record.get("Progress") or []
        if isinstance(p.get("Percent"), int | float) and not isinstance(p.get("Percent"), bool)
    ]
    return sum(values) / len(values) if values else None


class LiveDisplay:
    """A Rich live view (terminals): per execution its status, stage and its operators' progress; for many
    executions (a folder) one bar for all and a line per running one."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.runs = runs
        self.live = Live(get_renderable=self.render, console=err, refresh_per_second=4, transient=True)

    def render(self) -> RenderableType:
        if len(self.runs) > DETAILED_RUNS:
            return self.render_compact()
        parts: list[RenderableType] = []
        for run in self.runs:
            parts.append(_header(run))
            table = render.progress_table(run.record.get("Progress") or []) if not run.done else None
            if table is not None:
                parts.append(render.indent(table, 2))
        return Group(*parts)

    def render_compact(self) -> RenderableType:
        from rich.progress_bar import ProgressBar

        ended = [r for r in self.runs if r.done]
        failed = sum(1 for r in ended if r.shown_status != "Complete")
        bar = Table.grid(padding=(0, 1))
        summary = f"{len(ended)}/{len(self.runs)} done" + (f", {failed} not complete" if failed else "")
        bar.add_row(ProgressBar(total=len(self.runs), completed=len(ended), width=30), Text(summary))
        parts: list[RenderableType] = [bar]
        active = [r for r in self.runs if not r.done]
        for run in active[:COMPACT_LINES]:
            line = _header(run)
            percent = _percent(run)
            if percent is not None:
                line.append(f"  {percent:.0f}%", style="cyan")
            parts.append(render.indent(line, 2))
        if len(active) > COMPACT_LINES:
            parts.append(render.indent(Text(f"… {len(active) - COMPACT_LINES} more", style="dim"), 2))
        return Group(*parts)

    def __enter__(self) -> LiveDisplay:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def changed(self) -> None:
        self.live.refresh()


class LogDisplay:
    """Line by line (not a terminal): status and stage changes, operators' state changes, progress messages."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.runs = runs
        self._seen: dict[str, Any] = {}

    def __enter__(self) -> LogDisplay:
        self.changed()
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _say(self, run: Run, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        err.print(f"{stamp} {escape(run.label)}: {escape(message)}", soft_wrap=True)

    def changed(self) -> None:
        for run in self.runs:
            state = (run.shown_status, run.record.get("CurrentStage"))
            if self._seen.get(run.id) != state:
                self._seen[run.id] = state
                where = f", stage {state[1]}" if state[1] and not run.done else ""
                self._say(run, f"{run.shown_status}{where} (execution {run.id})")
            for item in run.record.get("Progress") or [] if not run.done else []:
                percent = item.get("Percent")
                bucket = int(percent // 25) if isinstance(percent, int | float) else None
                key = f"{run.id}/{item.get('Stage')}/{item.get('Operation')}"
                now = (item.get("State"), item.get("Phase"), item.get("Attempt"), item.get("Message"), bucket)
                if self._seen.get(key) != now:
                    self._seen[key] = now
                    detail = f"{item.get('State')} ({item.get('Phase')}, attempt {item.get('Attempt')})"
                    if isinstance(percent, int | float):
                        detail += f" {percent:.0f}%"
                    if item.get("Message"):
                        detail += f" {item['Message']}"
                    self._say(run, f"  {item.get('Operation')}: {detail}")


def operators_line(record: dict[str, Any]) -> Text | None:
    """``17 Complete`` — operators by status, naming those that did not complete (with their error)."""
    rows = render.operator_outputs(record)
    if not rows:
        return None
    counts: dict[str, list[str]] = {}
    for row in rows:
        counts.setdefault(str(row["Status"]), []).append(str(row["Operator"]))
    text = Text()
    for index, (status, names) in enumerate(sorted(counts.items(), key=lambda kv: (kv[0] != "Complete", kv[0]))):
        if index:
            text.append("; ")
        text.append(f"{len(names)} ")
        text.append_text(render.styled_status(status))
        if status not in ("Complete", "Skipped"):
            text.append(": " + ", ".join(names))
    for row in rows:
        if row.get("Error"):
            text.append(f"\n{row['Operator']}: ", style="red")
            text.append(render.shorten(str(row["Error"]), 200))
    return text


def summary(run: Run, *, brief: bool = False) -> RenderableType:
    """What a finished (or abandoned) execution found: status, duration, the findings, a link to the asset.
    ``brief`` (one of many files): the head line, what was seen and heard, the link."""
    status = run.shown_status
    ok = status == "Complete"
    head = Text()
    mark, style = ("✔ ", "green") if ok else ("⊘ ", "yellow") if status == "Cancelled" else ("✘ ", "red")
    if not run.done:
        mark, style = "… ", "yellow"
    head.append(mark, style=style)
    head.append(run.label, style="bold")
    if run.file is not None:
        head.append(f"  {run.workflow}")
    head.append("  ")
    head.append_text(render.styled_status(status))
    if run.done:
        head.append(f" in {render.duration(run.elapsed())}")
    else:
        head.append(f" after {render.duration(run.elapsed())}, still running")
    info = insights.grid()
    if not brief:
        info.add_row("asset", str(run.asset_id))
        info.add_row("execution", run.id)
    if run.record.get("Message"):
        style = "red" if status == "Error" else "yellow" if status == "Cancelled" else ""
        info.add_row("message", Text(str(run.record["Message"]), style=style))
    operators = operators_line(run.record)
    if operators is not None and (not brief or status != "Complete"):
        info.add_row("operators", operators)
    parts: list[RenderableType] = [head, render.indent(info, 2)]
    if not run.done:
        return Group(*parts)
    if run.results_error:
        info.add_row("results", Text(f"cannot read them: {run.results_error}", style="red"))
        return Group(*parts)
    found = run.found if run.found is not None else insights.collect(run.results)
    if not run.results:
        info.add_row("results", Text("none", style="dim"))
    insights.add_rows(info, found, run.asset_url, brief=brief)
    others = insights.others_table(found) if not brief else None
    if others is not None:
        parts.append(render.indent(others, 2))
    return Group(*parts)


def follow_and_report(client: MieClient, runs: list[Run], *, after: int, timeout: float | None, as_json: bool) -> int:
    """Follow ``runs`` with the right display, fetch results, print the summary or JSON; the exit code."""
    display: LiveDisplay | LogDisplay | None = None
    if not as_json:
        display = LiveDisplay(runs) if err.is_terminal else LogDisplay(runs)
    follower = Follower(client, runs, after=after, on_change=display.changed if display else lambda: None)
    try:
        if display is not None:
            with display:
                finished = follower.follow(timeout)
        else:
            finished = follower.follow(timeout)
    except KeyboardInterrupt:
        ids = " ".join(r.id for r in runs if not r.done)
        err.print(
            f"interrupted: the executions keep running on the server; follow them again with "
            f"`mie execution watch {ids}`",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    for run in runs:
        if run.done:
            if as_json:
                fetch_results(client, run)
            else:
                read_insights(client, run)
    if as_json:
        print_json([r.document() for r in runs])
    else:
        brief = len(runs) > DETAILED_RUNS
        for index, run in enumerate(runs):
            if index and not brief:
                out.print()
            out.print(summary(run, brief=brief))
        if len(runs) > 1:
            counts: dict[str, int] = {}
            for run in runs:
                counts[run.shown_status] = counts.get(run.shown_status, 0) + 1
            out.print()
            out.print(f"{len(runs)} executions: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    code = 0
    if not finished:
        pending = [r.id for r in runs if not r.done]
        err.print(
            f"[red]error:[/red] gave up waiting after {timeout:g} s: {len(pending)} execution(s) still running "
            f"(they go on; follow them with `mie execution watch {' '.join(pending)}`)",
            soft_wrap=True,
        )
        code = 1
    if any(r.status == "Error" for r in runs):
        code = 1
    return code


# Commands ------------------------------------------------------------------------------------------------------


def _check_workflows(client: MieClient, wanted: dict[str, list[str]]) -> None:
    """Fail before uploading anything when a workflow does not exist, listing those that do."""
    for name, why in wanted.items():
        try:
            client.get(f"/api/workflow/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            existing = sorted(str(w.get("Name")) for w in client.pages("/api/workflow"))
            listing = ", ".join(existing) if existing else "none yet"
            reason = f" ({why[0]})" if why and why[0] else ""
            raise CliError(
                f"workflow '{name}'{reason} does not exist. Existing workflows: {listing}. "
                "Pass one with --workflow NAME."
            ) from exc


class Uploads:
    """One upload progress bar for every file of a run (bytes of all files; the file being sent named)."""

    def __init__(self, paths: Sequence[Path], show: bool) -> None:
        self.count = len(paths)
        self.progress: Any = None
        if show:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.progress = Progress(
                TextColumn("uploading {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=err,
                transient=True,
            )
            self.task = self.progress.add_task("", total=sum(p.stat().st_size for p in paths))

    def __enter__(self) -> Uploads:
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)

    def upload(self, client: MieClient, index: int, path: Path, bucket: str, key: str) -> None:
        if self.progress is None:
            client.upload(path, bucket, key)
            return
        where = f"{index + 1}/{self.count} " if self.count > 1 else ""
        self.progress.update(self.task, description=escape(where + path.name))
        client.upload(path, bucket, key, on_progress=lambda n: self.progress.advance(self.task, n))


def labels_of(paths: Sequence[Path]) -> list[str]:
    """What each file is called in the display: its name, or its path where two files share a name."""
    names = [p.name for p in paths]
    return [p.name if names.count(p.name) == 1 else str(p) for p in paths]


def _start(
    client: MieClient,
    uploads: Uploads,
    index: int,
    path: Path,
    *,
    kind: str,
    name: str,
    label: str,
    configuration: dict[str, Any] | None,
    started: Sequence[Run],
) -> Run:
    """Upload one file and start its execution; an error names the file and what already started."""
    bucket = client.connection.bucket
    key = upload_key(path)
    try:
        uploads.upload(client, index, path, bucket, key)
        body: dict[str, Any] = {"Name": name, "Input": {"Media": {kind: {"S3Bucket": bucket, "S3Key": key}}}}
        if configuration is not None:
            body["Configuration"] = configuration
        record = client.post("/api/workflow/execution", body)
    except CliError as exc:
        if started:
            exc.message += " (already started: " + ", ".join(f"{r.label} ({r.id})" for r in started) + ")"
        exc.message = f"{path}: {exc.message}"
        raise
    return Run(label=label, workflow=name, record=record, file=str(path))


@guarded
def run(
    *,
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True,
            readable=True,
            show_default=False,
            help="media files, or folders to analyse every image, video and audio file in (recursively)",
        ),
    ],
    workflow: Annotated[
        str | None,
        typer.Option(
            "--workflow",
            "-w",
            help="workflow to run \\[default by media type: CasVideoWorkflow, CasImageWorkflow, CasAudioWorkflow]",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            metavar="JSON|@FILE",
            help='configuration override {"stage": {"operator": {"Key": value}}}, inline or @file',
        ),
    ] = None,
    media_type: Annotated[
        MediaType | None,
        typer.Option("--media-type", case_sensitive=False, help="media type of the files \\[default: detected]"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON document at the end, no live display")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="start the executions and exit")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="give up following after this many seconds (exit 1)")
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Upload FILEs (or every media file in a folder), run a workflow on each and follow them live; print what
    the operators found (labels, faces, text on screen, speech, entities, captions) with a link to each asset.

    Exit status 1 when an execution ends in Error (or on --timeout), 2 on bad arguments.
    """
    configuration = parse_config(config)
    plan: list[tuple[Path, str, str]] = []
    wanted: dict[str, list[str]] = {}
    files = expand(files)
    for path in files:
        kind = media_type.value if media_type is not None else media_type_of(path)
        if kind is None:
            raise typer.BadParameter(f"cannot tell the media type of {path}: pass --media-type", param_hint="FILES")
        name = workflow or DEFAULT_WORKFLOWS.get(kind)
        if name is None:
            raise typer.BadParameter(f"{path} is {kind}: there is no default workflow for it, pass --workflow")
        plan.append((path, kind, name))
        wanted.setdefault(name, []).append("" if workflow else f"the default workflow for {kind} files")
    connection = resolve(url, api_key, data_dir)
    with MieClient(connection) as client:
        _check_workflows(client, wanted)
        after = 0 if no_wait else change_head(client)
        runs: list[Run] = []
        labels = labels_of([path for path, _, _ in plan])
        uploads = Uploads([path for path, _, _ in plan], show=not as_json and err.is_terminal)
        with uploads:
            for index, (path, kind, name) in enumerate(plan):
                runs.append(
                    _start(
                        client,
                        uploads,
                        index,
                        path,
                        kind=kind,
                        name=name,
                        label=labels[index],
                        configuration=configuration,
                        started=runs,
                    )
                )
                if not as_json and not no_wait and len(plan) <= DETAILED_RUNS:
                    err.print(f"started {escape(name)} on {escape(str(path))}: execution {runs[-1].id}", soft_wrap=True)
        if not as_json and not no_wait and len(plan) > DETAILED_RUNS:
            err.print(f"started {len(runs)} executions", soft_wrap=True)
        if no_wait:
            if as_json:
                print_json([r.document() for r in runs])
            else:
                table = Table("File", "Workflow", "Execution", "Asset", header_style="bold")
                for r in runs:
                    table.add_row(escape(str(r.file)), escape(r.workflow), r.id, str(r.asset_id))
                out.print(table)
            return
        code = follow_and_report(client, runs, after=after, timeout=timeout, as_json=as_json)
    if code:
        raise typer.Exit(code)


@guarded
def watch(
    *,
    execution_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="executions to follow")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document at the end")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="give up after this many seconds (exit 1)")
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Follow running executions live until they end, then summarise them (exit 1 if one ends in Error)."""
    with MieClient(resolve(url, api_key, data_dir)) as client:
        after = change_head(client)
        runs = []
        for execution_id in execution_ids:
            record = client.get(f"/api/workflow/execution/{execution_id}")
            name = str((record.get("Workflow") or {}).get("Name", "?"))
            runs.append(Run(label=f"{name} {execution_id[:8]}", workflow=name, record=record))
        code = follow_and_report(client, runs, after=after, timeout=timeout, as_json=as_json)
    if code:
        raise typer.Exit(code)
