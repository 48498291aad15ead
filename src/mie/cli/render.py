"""Turning API records into short human text and Rich tables (no I/O besides building renderables)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from mie.types import MediaType

STATUS_STYLES = {
    "Complete": "green",
    "Error": "red",
    "Started": "cyan",
    "Resumed": "cyan",
    "Queued": "yellow",
    "Waiting": "magenta",
    "Skipped": "dim",
    "Running": "cyan",
    "Done": "green",
    "Cancelled": "yellow",
    "Pending": "dim",
    "Not Started": "dim",
}

#: The engine ends a cancelled execution ``Error`` with one of these messages (``mie.engine.executions``).
CANCELLED_PREFIX = "Cancelled"


def is_cancelled(record: Mapping[str, Any]) -> bool:
    """Whether an execution ended because someone cancelled it (MIE has no such status: it is an ``Error``)."""
    return record.get("Status") == "Error" and str(record.get("Message") or "").startswith(CANCELLED_PREFIX)


def execution_status(record: Mapping[str, Any]) -> str:
    """The status to show for an execution record: ``Cancelled`` for a cancelled one, else its ``Status``."""
    return "Cancelled" if is_cancelled(record) else str(record.get("Status", "?"))


def file_name(key: Any) -> str:
    """The base name of an object key (``private/assets/…/input/upload/x/clip.mp4`` → ``clip.mp4``)."""
    return str(key).rstrip("/").rpartition("/")[2] if key else ""


#: Where an execution's input is among its ``Globals.Media`` (a video's has an ``Audio`` track extracted, too).
INPUT_KINDS = (MediaType.VIDEO, MediaType.IMAGE, MediaType.AUDIO, MediaType.TEXT)


def media_name(record: Mapping[str, Any]) -> str:
    """The file name of an execution's input media, from its full record (``""`` when it does not say)."""
    media = (record.get("Globals") or {}).get("Media") or {}
    for kind in INPUT_KINDS:
        location = media.get(kind)
        if isinstance(location, Mapping) and location.get("S3Key"):
            return file_name(location["S3Key"])
    return ""


def indent(renderable: RenderableType, width: int = 2) -> Padding:
    """``renderable`` shifted right by ``width`` columns (without padding lines out to the full width)."""
    return Padding(renderable, (0, 0, 0, width), expand=False)


def styled_status(status: Any) -> Text:
    """A status word coloured by meaning."""
    text = str(status) if status is not None else "-"
    return Text(text, style=STATUS_STYLES.get(text, ""))


def timestamp(value: Any) -> str:
    """MIE's ``Created`` (epoch seconds, often a string) as local ``YYYY-MM-DD HH:MM:SS``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12.3 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def shorten(text: str, width: int = 100) -> str:
    """One line of at most ``width`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _brief(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    if isinstance(value, str):
        return repr(shorten(value, 30))
    return json.dumps(value)


def summarize(value: Any, width: int = 100, max_keys: int = 8) -> str:
    """A one-line description of a result: top-level keys with counts or short values, never a dump."""
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            keys: list[str] = []
            for item in value:
                keys.extend(k for k in item if k not in keys)
            shown = ", ".join(keys[:max_keys]) + (", …" if len(keys) > max_keys else "")
            return shorten(f"{len(value)} items ({shown})" if keys else f"{len(value)} items", width)
        return f"{len(value)} items"
    if isinstance(value, Mapping):
        if not value:
            return "(empty)"
        parts = [f"{k}: {_brief(v)}" for k, v in list(value.items())[:max_keys]]
        if len(value) > max_keys:
            parts.append(f"… {len(value) - max_keys} more keys")
        return shorten("; ".join(parts), width)
    return shorten(_brief(value), width)


def stage_order(workflow: Mapping[str, Any]) -> list[str]:
    """The stages of an execution's workflow in running order (``StartAt`` then ``Next``), then any others."""
    stages = workflow.get("Stages") or {}
    order: list[str] = []
    name = workflow.get("StartAt")
    while isinstance(name, str) and name in stages and name not in order:
        order.append(name)
        name = stages[name].get("Next")
    order.extend(s for s in stages if s not in order)
    return order


def operator_outputs(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per operator of an execution: stage, name, status and what it output (MetaData keys, Media kinds).

    A stage's ``Outputs`` are written when the whole stage ends, so the operators of the running stage take their
    state from the record's ``Progress`` (``Done`` while others still run), never "Not Started"."""
    workflow = record.get("Workflow") or {}
    stages = workflow.get("Stages") or {}
    progress = {(p.get("Stage"), p.get("Operation")): p for p in record.get("Progress") or [] if isinstance(p, Mapping)}
    cancelled = is_cancelled(record)
    rows: list[dict[str, Any]] = []
    for stage_name in stage_order(workflow):
        stage = stages[stage_name]
        outputs = {o.get("Name"): o for o in stage.get("Outputs") or [] if isinstance(o, Mapping)}
        for op in stage.get("Operations") or []:
            output = outputs.get(op)
            if output is None:
                item = progress.get((stage_name, op))
                status = str(stage.get("Status") or "Not Started")
                if item is not None and item.get("State"):
                    status = str(item["State"])
                elif status in ("Started", "Executing", "Resumed"):
                    status = "Pending"
                if cancelled and status not in ("Complete", "Done", "Error", "Skipped"):
                    status = "Cancelled" if status != "Not Started" else status
                rows.append({"Stage": stage_name, "Operator": op, "Status": status, "MetaData": [], "Media": []})
                continue
            rows.append(
                {
                    "Stage": stage_name,
                    "Operator": op,
                    "Status": output.get("Status"),
                    "MetaData": list((output.get("MetaData") or {}).keys()),
                    "Media": list((output.get("Media") or {}).keys()),
                    "Error": _error_of(output),
                }
            )
    return rows


def _error_of(output: Mapping[str, Any]) -> str | None:
    if output.get("Status") != "Error":
        return None
    meta = output.get("MetaData") or {}
    reasons = [f"{v}" for k, v in meta.items() if isinstance(k, str) and k.lower().endswith("error")]
    return "; ".join(reasons) if reasons else None


def outputs_table(record: Mapping[str, Any]) -> Table | None:
    """Stage / Operator / Status / Outputs of an execution (``None`` when it has no operators)."""
    rows = operator_outputs(record)
    if not rows:
        return None
    table = Table("Stage", "Operator", "Status", "Outputs", box=None, pad_edge=False, header_style="bold")
    for row in rows:
        parts = []
        if row["MetaData"]:
            parts.append("MetaData: " + ", ".join(map(str, row["MetaData"])))
        if row["Media"]:
            parts.append("Media: " + ", ".join(map(str, row["Media"])))
        if row.get("Error"):
            parts.append("error: " + shorten(str(row["Error"]), 160))
        table.add_row(
            escape(row["Stage"]), escape(str(row["Operator"])), styled_status(row["Status"]), escape("; ".join(parts))
        )
    return table


def results_table(results: Mapping[str, Any]) -> Table | None:
    """Operator / Result summary of an asset's data-plane results."""
    if not results:
        return None
    table = Table("Operator", "Result", box=None, pad_edge=False, header_style="bold")
    for name, value in results.items():
        table.add_row(escape(name), escape(summarize(value)))
    return table


def progress_table(progress: Iterable[Mapping[str, Any]]) -> Table | None:
    """The ``Progress`` list of a running execution: one row per operator of the current stage."""
    items = list(progress)
    if not items:
        return None
    table = Table("Operator", "State", "Phase", "Try", "Progress", "Message", box=None, header_style="bold")
    for item in items:
        percent = item.get("Percent")
        bar: RenderableType = Text("")
        if isinstance(percent, int | float) and not isinstance(percent, bool):
            grid = Table.grid(padding=(0, 1))
            eta = item.get("EstimatedSecondsRemaining")
            left = f" ~{eta:.0f}s left" if isinstance(eta, int | float) and 0 < percent < 100 else ""
            grid.add_row(ProgressBar(total=100, completed=float(percent), width=20), Text(f"{percent:3.0f}%{left}"))
            bar = grid
        table.add_row(
            escape(str(item.get("Operation", ""))),
            styled_status(item.get("State")),
            escape(str(item.get("Phase") or "")),
            str(item.get("Attempt") or ""),
            bar,
            escape(shorten(str(item.get("Message") or ""), 60)),
        )
    return table


def created_of(record: Mapping[str, Any]) -> float | None:
    """The ``Created`` stamp of a record as a float, if it has one."""
    try:
        return float(record.get("Created"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
