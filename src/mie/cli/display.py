"""What the CLI draws: the live view of running executions, the summary of a finished one, and an asset's
findings (:mod:`mie.cli.insights`) as compact Rich rows."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mie.cli import render
from mie.cli.client import err
from mie.cli.follow import Run
from mie.cli.insights import TOP, TRANSCRIPT_LINES, Counted, Insights, collect, pages_of

# Findings ------------------------------------------------------------------------------------------------------


def clock(ms: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour) of a time in milliseconds."""
    if ms is None:
        return "--:--"
    seconds = max(0, int(ms // 1000))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _top(table: Mapping[str, Counted], limit: int = TOP) -> list[Counted]:
    return sorted(table.values(), key=lambda c: (-len(c.frames), -c.boxes, -c.confidence, c.name))[:limit]


def _more(table: Mapping[str, Counted], limit: int = TOP) -> str:
    return f", … {len(table) - limit} more" if len(table) > limit else ""


def _seen(item: Counted, timed: bool) -> Text:
    text = Text(item.name, style="bold")
    if timed:
        text.append(f" {len(item.frames)}", style="cyan")
    if item.boxes:
        text.append(f" [{item.boxes} box{'es' if item.boxes != 1 else ''}]", style="dim")
    return text


def _joined(parts: Iterable[Text], tail: str = "") -> Text:
    out = Text()
    for index, part in enumerate(parts):
        if index:
            out.append(", ")
        out.append_text(part)
    if tail:
        out.append(tail, style="dim")
    return out


def labels_line(ins: Insights, limit: int = TOP) -> Text:
    """``Person 8 [9 boxes], Motorcycle 5, …`` — frames per label (one image: by confidence)."""
    timed = len(ins.label_frames) > 1
    text = _joined((_seen(c, timed) for c in _top(ins.labels, limit)), _more(ins.labels, limit))
    if timed:
        text.append(f"  (frames of {len(ins.label_frames)} with labels)", style="dim")
    return text


def faces_line(ins: Insights) -> Text:
    if not ins.faces:
        return Text("none found", style="dim")
    if len(ins.face_frames) <= 1 and 0 in ins.face_frames:
        return Text(f"{ins.faces} face{'s' if ins.faces != 1 else ''}")
    at_once = max(ins.face_frames.values())
    return Text(f"{ins.faces} in {len(ins.face_frames)} frames, at most {at_once} in one frame")


def people_line(ins: Insights) -> Text:
    tail = f"  (+{ins.unrecognized_faces} unrecognised)" if ins.unrecognized_faces else ""
    if not ins.people:
        return Text("nobody recognised" + tail, style="dim")
    timed = any(len(c.frames) > 1 or (c.first or 0) > 0 for c in ins.people.values())
    return _joined((_seen(c, timed) for c in _top(ins.people)), _more(ins.people) + tail)


def tracked_line(ins: Insights) -> Text:
    """``2 people, in 6 frames`` — persons followed by ``personTracking``."""
    if not ins.tracked:
        return Text("nobody", style="dim")
    frames = set().union(*ins.tracked.values())
    count = len(ins.tracked)
    return Text(f"{count} {'person' if count == 1 else 'people'}, in {len(frames)} frames")


def sentiment_line(ins: Insights) -> Text:
    """``NEUTRAL (neutral 0.67, positive 0.33); sentences: 2 neutral, 1 positive``."""
    text = Text(ins.sentiment)
    if ins.sentences:
        counts = sorted(ins.sentences.items(), key=lambda kv: (-kv[1], kv[0]))
        text.append(("; " if ins.sentiment else "") + "sentences: ", style="dim")
        text.append(", ".join(f"{n} {name.lower()}" for name, n in counts))
    return text


def text_line(ins: Insights, limit: int = TOP) -> Text:
    if not ins.text:
        return Text("none found", style="dim")
    # Times only for a video (an image's text is all at 00:00).
    timed = any(c.frames != {0} for c in ins.text.values())
    parts = [
        Text(f"“{c.name}”") + Text(f" {clock(c.first)}" if timed else "", style="cyan") for c in _top(ins.text, limit)
    ]
    return _joined(parts, _more(ins.text, limit))


def transcript_block(ins: Insights, lines: int = TRANSCRIPT_LINES, *, tail: bool = True) -> Text:
    text = Text()
    for index, (start, line) in enumerate(ins.transcript[:lines]):
        if index:
            text.append("\n")
        text.append(clock(start * 1000 if start is not None else None), style="cyan")
        text.append(" " + render.shorten(line, 110))
    if tail and len(ins.transcript) > lines:
        text.append(f"\n… {len(ins.transcript) - lines} more lines, {ins.transcript_words} words", style="dim")
    return text


def _words(table: Mapping[str, Counted], typed: bool) -> Text:
    parts = []
    for item in _top(table):
        part = Text(item.name)
        if typed and item.detail:
            part.append(f" ({item.detail.lower()})", style="dim")
        if len(item.frames) > 1:
            part.append(f" {len(item.frames)}", style="cyan")
        parts.append(part)
    return _joined(parts, _more(table))


def captions_block(ins: Insights) -> Text:
    """``en: Captions_en.vtt, Captions_en.srt; es: translation_es.txt`` and the folder they are in."""
    by_language: dict[str, list[str]] = {}
    folders: list[str] = []
    for item in ins.captions:
        folder, _, name = item.key.rpartition("/")
        by_language.setdefault(item.language or "?", []).append(name)
        where = f"{item.bucket}/{folder}/"
        if where not in folders:
            folders.append(where)
    text = Text("; ".join(f"{lang}: {', '.join(names)}" for lang, names in by_language.items()))
    for folder in folders:
        text.append(f"\nin {folder}", style="dim")
    text.append("\n(download links: the asset page, or POST /api/dataplane/download {S3Bucket, S3Key})", style="dim")
    return text


def grid() -> Table:
    """The two-column grid the findings go into (name, value)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def add_rows(table: Table, ins: Insights, asset_url: str | None = None, *, brief: bool = False) -> Table:
    """A row per kind of finding that some result carries, then the asset page's link. ``brief`` (one file of
    many): what is seen and heard only — labels, faces, people, text on screen, the first line of speech."""
    if brief:
        if ins.labels:
            table.add_row("labels", labels_line(ins, limit=5))
        if ins.faces:
            table.add_row("faces", faces_line(ins))
        if ins.people:
            table.add_row("people", people_line(ins))
        if ins.text:
            table.add_row("on screen", text_line(ins, limit=3))
        if ins.transcript:
            table.add_row("speech", transcript_block(ins, lines=1, tail=False))
        if asset_url:
            table.add_row("open", Text(asset_url, style="link " + asset_url))
        return table
    if ins.media:
        table.add_row("media", escape(ins.media))
    if ins.label_results:
        table.add_row("labels", labels_line(ins) if ins.labels else Text("none found", style="dim"))
    if ins.face_results:
        table.add_row("faces", faces_line(ins))
    if ins.people_results:
        table.add_row("people", people_line(ins))
    if ins.tracking_results:
        table.add_row("tracked", tracked_line(ins))
    if ins.text_results:
        table.add_row("on screen", text_line(ins))
    if ins.moderation_results:
        flagged = _joined(
            (_seen(c, len(c.frames) > 1 or c.frames != {0}) for c in _top(ins.moderation)), _more(ins.moderation)
        )
        table.add_row("moderation", flagged if ins.moderation else Text("nothing flagged", style="dim"))
    if ins.shots is not None or ins.cues:
        parts = [f"{ins.shots} shots"] if ins.shots is not None else []
        parts += [f"{n} {kind}" for kind, n in sorted(ins.cues.items())]
        table.add_row("segments", ", ".join(parts))
    if ins.transcript:
        table.add_row("transcript", transcript_block(ins))
    if ins.languages:
        table.add_row("language", escape(", ".join(ins.languages)))
    if ins.sentiment or ins.sentences:
        table.add_row("sentiment", sentiment_line(ins))
    if ins.entities:
        table.add_row("entities", _words(ins.entities, typed=True))
    if ins.phrases:
        table.add_row("key phrases", _words(ins.phrases, typed=False))
    if ins.translations:
        table.add_row("translated", escape(", ".join(ins.translations)))
    if ins.captions:
        table.add_row("captions", captions_block(ins))
    if asset_url:
        table.add_row("open", Text(asset_url, style="link " + asset_url))
    return table


def others_table(ins: Insights) -> RenderableType | None:
    """A one-line summary per result ``collect`` does not read (other operators' own shapes)."""
    if not ins.other:
        return None
    table = Table("Operator", "Result", box=None, pad_edge=False, header_style="bold")
    for name, value in ins.other.items():
        pages = pages_of(value) if isinstance(value, list) else []
        text = render.summarize(value)
        if len(pages) > 1:
            text = f"{len(pages)} pages; first: {render.summarize(pages[0], 80)}"
        table.add_row(escape(name), escape(text))
    return table


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
        if status not in ("Complete", "Skipped", "Not Started"):
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
    info = grid()
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
    found = run.found if run.found is not None else collect(run.results)
    if not run.results:
        info.add_row("results", Text("none", style="dim"))
    add_rows(info, found, run.asset_url, brief=brief)
    others = others_table(found) if not brief else None
    if others is not None:
        parts.append(render.indent(others, 2))
    return Group(*parts)
