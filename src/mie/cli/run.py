"""``mie run``: upload files (or a folder's media), start a workflow on each, follow the executions live
(:mod:`mie.cli.follow`), summarise what they found (:mod:`mie.cli.display`)."""

from __future__ import annotations

import json
import mimetypes
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mie.cli.client import ApiError, CliError, MieClient, err, guarded, out, print_json
from mie.cli.display import DETAILED_RUNS, LiveDisplay, LogDisplay, summary
from mie.cli.follow import Follower, Run, change_head, fetch_results, read_insights
from mie.cli.remote import FROM_OPTIONS, Remote, connected
from mie.types import MediaType

DEFAULT_WORKFLOWS: dict[str, str] = {
    MediaType.VIDEO: "CasVideoWorkflow",
    MediaType.IMAGE: "CasImageWorkflow",
    MediaType.AUDIO: "CasAudioWorkflow",
}


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


_MIME_MAJOR = {kind.lower(): kind for kind in MediaType}


def media_type_of(path: Path) -> str | None:
    """MIE's media type of a file: by content for media formats, else by extension, else text by content."""
    from mie.dataplane.sniff import sniff_media_type

    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError:
        head = b""
    sniffed = sniff_media_type(head) if head else None
    if sniffed in FOLDER_MEDIA:
        return sniffed
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed:
        kind = _MIME_MAJOR.get(guessed.split("/")[0])
        if kind:
            return kind
    return sniffed


#: Media types ``mie run DIR`` picks up in a folder (text files there are notes, not media).
FOLDER_MEDIA = frozenset({MediaType.VIDEO, MediaType.AUDIO, MediaType.IMAGE})


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
@connected(json=False)
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
    remote: Remote = FROM_OPTIONS,
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
    connection = remote.connection()
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
@connected(json=False)
def watch(
    *,
    execution_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="executions to follow")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document at the end")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="give up after this many seconds (exit 1)")
    ] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Follow running executions live until they end, then summarise them (exit 1 if one ends in Error)."""
    with remote.client() as client:
        after = change_head(client)
        runs = []
        for execution_id in execution_ids:
            record = client.get(f"/api/workflow/execution/{execution_id}")
            name = str((record.get("Workflow") or {}).get("Name", "?"))
            runs.append(Run(label=f"{name} {execution_id[:8]}", workflow=name, record=record))
        code = follow_and_report(client, runs, after=after, timeout=timeout, as_json=as_json)
    if code:
        raise typer.Exit(code)
