"""``mie asset``, ``mie execution``, ``mie operator`` and ``mie workflow``: the API's records, over HTTP."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mie.cli import display, insights, render
from mie.cli.client import (
    ApiError,
    CliError,
    JsonOption,
    MieClient,
    guarded,
    out,
    print_json,
)
from mie.cli.follow import Run, fetch_results
from mie.cli.remote import FROM_OPTIONS, Remote, connected
from mie.cli.run import watch
from mie.types import WorkflowStatus

asset_app = typer.Typer(
    help="List, inspect and delete assets (uploaded media and their results).", no_args_is_help=True
)
execution_app = typer.Typer(help="List, inspect, follow, resume and cancel workflow executions.", no_args_is_help=True)
operator_app = typer.Typer(
    help="Operators discovered in code (plugins) and their registration as operations.", no_args_is_help=True
)
workflow_app = typer.Typer(help="Workflows defined on the server.", no_args_is_help=True)


#: Columns holding UUIDs (36 characters), kept on one line.
ID_COLUMNS = frozenset({"Id", "AssetId"})


def _table(*columns: str) -> Table:
    table = Table(header_style="bold")
    for column in columns:
        if column in ID_COLUMNS:  # an id cut in two cannot be copied: other columns fold first
            table.add_column(column, no_wrap=True, min_width=36)
        else:
            table.add_column(column, overflow="fold")
    return table


def _limit(items: list[Any], limit: int | None) -> list[Any]:
    """The last ``limit`` items (lists are oldest first, so these are the newest)."""
    return items[-limit:] if limit else items


LimitOption = Annotated[
    int | None, typer.Option("--limit", "-n", min=1, help="show only the newest N \\[default: all]")
]


# Assets --------------------------------------------------------------------------------------------------------


def _asset_info(client: MieClient, asset_id: str) -> dict[str, Any]:
    body = client.get(f"/api/dataplane/metadata/{asset_id}")
    info = dict(body.get("results") or {})
    return {"AssetId": asset_id, **info}


@asset_app.command("list")
@guarded
@connected(json=False)
def asset_list(
    as_json: JsonOption = False,
    limit: LimitOption = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List assets, oldest first: id, media type, creation time and the object holding the media."""
    with remote.client() as client:
        ids = _limit([str(i) for i in client.pages("/api/dataplane/metadata", key="assets")], limit)
        assets = []
        for asset_id in ids:
            try:
                assets.append(_asset_info(client, asset_id))
            except ApiError as exc:
                if exc.status != 404:  # deleted meanwhile
                    raise
    if as_json:
        print_json(assets)
        return
    if not assets:
        out.print("no assets yet: upload media with `mie run FILE`")
        return
    table = _table("AssetId", "Name", "MediaType", "Created", "Object")
    for asset in assets:
        table.add_row(
            asset["AssetId"],
            escape(render.file_name(asset.get("S3Key"))),
            str(asset.get("MediaType") or ""),
            render.timestamp(asset.get("Created")),
            escape(f"{asset.get('S3Bucket')}/{asset.get('S3Key')}"),
        )
    out.print(table)


@asset_app.command("show")
@guarded
@connected()
def asset_show(
    asset_id: Annotated[str, typer.Argument(metavar="ID", help="the AssetId")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Show an asset, its executions and a summary of each operator's results (--json: the results in full)."""
    with remote.client() as client:
        asset = _asset_info(client, asset_id)
        executions = client.get(f"/api/workflow/execution/asset/{asset_id}")
        holder = Run(label=asset_id, workflow="", record={"AssetId": asset_id})
        fetch_results(client, holder)
    if holder.results_error:
        raise CliError(f"cannot read the results of asset {asset_id}: {holder.results_error}")
    if remote.show_json({"asset": asset, "executions": executions, "results": holder.results}):
        return
    info = Table.grid(padding=(0, 2))
    info.add_row("asset", asset_id)
    info.add_row("name", escape(render.file_name(asset.get("S3Key"))))
    info.add_row("media type", str(asset.get("MediaType") or ""))
    info.add_row("created", render.timestamp(asset.get("Created")))
    info.add_row("object", escape(f"{asset.get('S3Bucket')}/{asset.get('S3Key')}"))
    out.print(info)
    out.print(Text("executions", style="bold"))
    if executions:
        table = Table("Id", "Workflow", "Status", "Created", "Message", box=None, header_style="bold")
        for e in executions:
            table.add_row(
                str(e.get("Id")),
                escape(str((e.get("Workflow") or {}).get("Name", ""))),
                render.styled_status(render.execution_status(e)),
                render.timestamp(e.get("Created")),
                escape(render.shorten(str(e.get("Message") or ""), 60)),
            )
        out.print(render.indent(table, 2))
    else:
        out.print(render.indent(Text("(none)", style="dim"), 2))
    out.print(Text("results", style="bold"))
    if holder.results:
        found = insights.collect(holder.results)
        out.print(render.indent(display.add_rows(display.grid(), found, f"{client.url}/assets/{asset_id}"), 2))
        others = display.others_table(found)
        if others is not None:
            out.print(render.indent(others, 2))
    else:
        out.print(render.indent(Text("(none)", style="dim"), 2))


@asset_app.command("delete")
@guarded
@connected(json=False)
def asset_delete(
    asset_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="AssetIds to delete")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Delete assets with their results and media; their running executions are cancelled first."""
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("refusing to delete without confirmation: pass --yes", param_hint="--yes")
        what = asset_ids[0] if len(asset_ids) == 1 else f"{len(asset_ids)} assets"
        if not typer.confirm(f"Delete {what} with all results and media?"):
            raise typer.Exit(1)
    with remote.client() as client:
        remote.each(
            asset_ids,
            lambda aid: client.delete(f"/api/dataplane/metadata/{aid}"),
            lambda aid, _: f"deleted asset {aid}",
        )


# Executions ----------------------------------------------------------------------------------------------------


@execution_app.command("list")
@guarded
@connected()
def execution_list(
    *,
    status: Annotated[
        WorkflowStatus | None, typer.Option("--status", "-s", case_sensitive=False, help="only this Status")
    ] = None,
    asset: Annotated[str | None, typer.Option("--asset", help="only executions of this AssetId")] = None,
    limit: LimitOption = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List executions, oldest first (--json: full records without --status/--asset, MIE's short ones with)."""
    with remote.client() as client:
        if asset is not None:
            items = list(reversed(client.get(f"/api/workflow/execution/asset/{asset}")))
            if status is not None:
                items = [i for i in items if i.get("Status") == status.value]
        elif status is not None:
            items = list(client.pages(f"/api/workflow/execution/status/{status.value}"))
        else:
            items = list(client.pages("/api/workflow/execution"))
        items = _limit(items, limit)
        if remote.show_json(items):
            return
        names = _file_names(client, items)
    if not items:
        out.print("no executions" + (f" with status {status.value}" if status else ""))
        return
    table = _table("Id", "File", "Workflow", "Status", "Stage", "AssetId", "Created", "Message")
    for e in items:
        table.add_row(
            str(e.get("Id")),
            escape(names.get(str(e.get("Id")), "")),
            escape(str((e.get("Workflow") or {}).get("Name", ""))),
            render.styled_status(render.execution_status(e)),
            escape(str(e.get("CurrentStage") or "")),
            str(e.get("AssetId") or ""),
            render.timestamp(e.get("Created")),
            escape(render.shorten(str(e.get("Message") or ""), 60)),
        )
    out.print(table)


#: Short listings (``--status``, ``--asset``) are completed with the full records up to this many executions.
ENRICH_AT_MOST = 200


def _file_names(client: MieClient, items: list[Any]) -> dict[str, str]:
    """Execution Id → the name of the file it analyses (from its record's media, else its asset's object).

    MIE's short records (``--status``, ``--asset``) carry neither the media nor the ``Message`` that tells a
    cancelled execution from a failed one, so up to ``ENRICH_AT_MOST`` of them are replaced by full records."""
    names: dict[str, str] = {}
    by_asset: dict[str, str] = {}
    for index, short in enumerate(items):
        e = short
        if "Globals" not in short and len(items) <= ENRICH_AT_MOST:
            try:
                e = items[index] = {**short, **client.get(f"/api/workflow/execution/{short.get('Id')}")}
            except ApiError as exc:
                if exc.status != 404:  # deleted meanwhile: keep the short record
                    raise
        name = render.media_name(e)
        asset_id = str(e.get("AssetId") or "")
        if not name and asset_id:
            if asset_id not in by_asset:
                try:
                    by_asset[asset_id] = render.file_name(_asset_info(client, asset_id).get("S3Key"))
                except ApiError:
                    by_asset[asset_id] = ""
            name = by_asset[asset_id]
        names[str(e.get("Id"))] = name
    return names


@execution_app.command("show")
@guarded
@connected()
def execution_show(
    execution_id: Annotated[str, typer.Argument(metavar="ID", help="the execution Id")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Show one execution: status, stage, operators' progress while it runs, their outputs (--json: the record)."""
    with remote.client() as client:
        record = client.get(f"/api/workflow/execution/{execution_id}")
    if remote.show_json(record):
        return
    run = Run(label=str((record.get("Workflow") or {}).get("Name", "")), workflow="", record=record)
    info = Table.grid(padding=(0, 2))
    info.add_row("execution", run.id)
    info.add_row("workflow", escape(run.label))
    info.add_row("status", render.styled_status(run.shown_status))
    info.add_row("stage", escape(str(record.get("CurrentStage") or "")))
    info.add_row("asset", str(run.asset_id))
    if render.media_name(record):
        info.add_row("file", escape(render.media_name(record)))
    info.add_row("created", render.timestamp(record.get("Created")))
    if record.get("Message"):
        info.add_row("message", escape(str(record["Message"])))
    out.print(info)
    progress = render.progress_table(record.get("Progress") or [])
    if progress is not None:
        out.print(Text("progress", style="bold"))
        out.print(render.indent(progress, 2))
    outputs = render.outputs_table(record)
    if outputs is not None:
        out.print(Text("operators", style="bold"))
        out.print(render.indent(outputs, 2))


execution_app.command("watch")(watch)


@execution_app.command("resume")
@guarded
@connected()
def execution_resume(
    *,
    execution_id: Annotated[str, typer.Argument(metavar="ID", help="a Waiting execution")],
    stage: Annotated[
        str | None, typer.Option("--stage", help="the stage it waits in \\[default: its CurrentStage]")
    ] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Resume an execution that waits in a Wait stage."""
    with remote.client() as client:
        if stage is None:
            record = client.get(f"/api/workflow/execution/{execution_id}")
            if record.get("Status") != "Waiting":
                raise CliError(f"execution {execution_id} is {record.get('Status')}, not Waiting: nothing to resume")
            stage = str(record.get("CurrentStage"))
        result = client.put(f"/api/workflow/execution/{execution_id}", {"WaitingStageName": stage})
    if remote.show_json(result):
        return
    out.print(f"resumed execution {execution_id} from stage {escape(stage)} ({result.get('Status', 'Resumed')})")


@execution_app.command("cancel")
@guarded
@connected()
def execution_cancel(
    execution_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="executions to cancel")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Cancel queued, running or waiting executions (MIE ends them Error, "Cancelled by request"; mie shows them
    as Cancelled)."""

    def cancelled(execution_id: str, record: Any) -> str:
        return f"cancelled execution {execution_id} ({escape(record.get('Message') or '')})"

    with remote.client() as client:
        remote.each(execution_ids, lambda eid: client.post(f"/api/workflow/execution/{eid}/cancel"), cancelled)


# Operators -----------------------------------------------------------------------------------------------------


def registration(operator: dict[str, Any], operation: dict[str, Any] | None) -> Text:
    """``yes``, ``no`` or ``differs`` — whether the registered operation is what the operator's code defines.

    ``RegisteredVersion`` is the operation record's revision (``v0``, ``v1``, … one per update), not the code's
    ``Version`` (``1.0.0``): comparing the two would call every fresh registration outdated. What tells is the
    record itself: the fields of the code's ``Operation`` body, as stored."""
    if not operator.get("Registered"):
        return Text("no", style="yellow")
    wanted = operator.get("Operation")
    if isinstance(wanted, dict) and operation is not None:
        changed = sorted(k for k, v in wanted.items() if operation.get(k) != v)
        if changed:
            return Text(f"differs ({', '.join(changed)}): mie operator register", style="yellow")
    revision = operator.get("RegisteredVersion")
    return Text("yes" + (f" ({revision})" if revision not in (None, "v0") else ""), style="green")


@operator_app.command("list")
@guarded
@connected()
def operator_list(
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Native operators found in installed plugins (and whether their operation is registered), then the names
    of Lambda-style handlers."""
    with remote.client() as client:
        body = client.get("/api/operators")
        if remote.show_json(body):
            return
        operations = {str(o.get("Name")): o for o in client.pages("/api/workflow/operation")}
    operators = body.get("Operators") or []
    if operators:
        table = _table("Name", "Type", "MediaType", "Version", "Registered", "Source", "Description")
        for op in operators:
            registered = registration(op, operations.get(str(op.get("Name"))))
            table.add_row(
                escape(str(op.get("Name"))),
                str(op.get("Type") or ""),
                str(op.get("MediaType") or ""),
                str(op.get("Version") or ""),
                registered,
                escape(str(op.get("Source") or ("built-in" if op.get("Builtin") else ""))),
                escape(render.shorten(str(op.get("Description") or ""), 60)),
            )
        out.print(table)
    else:
        out.print("no native operators were discovered (plugins register through the mie.operators entry points)")
    handlers = body.get("Handlers") or []
    if handlers:
        out.print(
            f"\nLambda-style handlers ({len(handlers)}): " + escape(", ".join(map(str, handlers))), soft_wrap=True
        )


@operator_app.command("register")
@guarded
@connected()
def operator_register(
    *,
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME...", help="operators to register")] = None,
    all_: Annotated[bool, typer.Option("--all", help="register every discovered operator")] = False,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Create the operation of discovered operators (or update it to the code's definition)."""
    if bool(names) == all_:
        raise typer.BadParameter("name the operators to register, or pass --all (not both)", param_hint="NAME...")
    with remote.client() as client:
        if all_:
            names = [str(op.get("Name")) for op in client.get("/api/operators").get("Operators") or []]
            if not names:
                out.print("no native operators were discovered: nothing to register")
                return

        def registered(name: str, record: Any) -> str:
            return f"registered operation {escape(name)} (version {escape(str(record.get('Version')))})"

        remote.each(names or [], lambda name: client.post(f"/api/operators/{name}/register"), registered)


# Workflows -----------------------------------------------------------------------------------------------------


@workflow_app.command("list")
@guarded
@connected()
def workflow_list(
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List workflows with their stages and operations."""
    with remote.client() as client:
        items = list(client.pages("/api/workflow"))
    if remote.show_json(items):
        return
    if not items:
        out.print("no workflows yet (create them with POST /api/workflow)")
        return
    table = _table("Name", "Stages", "Operations", "Created")
    for wf in items:
        stages = render.stage_order(wf)
        table.add_row(
            escape(str(wf.get("Name"))),
            escape(" → ".join(stages)),
            escape(", ".join(map(str, wf.get("Operations") or []))),
            render.timestamp(wf.get("Created")),
        )
    out.print(table)


__all__ = ["asset_app", "execution_app", "operator_app", "workflow_app"]
