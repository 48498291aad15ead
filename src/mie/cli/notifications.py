"""``mie notification``: webhook and e-mail subscriptions and their delivery log, over the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mie.cli import render
from mie.cli.client import (
    guarded,
    out,
)
from mie.cli.remote import FROM_OPTIONS, Remote, connected

notification_app = typer.Typer(
    help="Webhooks and e-mail notified of job and workflow execution status changes.", no_args_is_help=True
)

_STATE_STYLES = {"delivered": "green", "failed": "red", "pending": "yellow"}


def _target(sub: dict[str, Any]) -> str:
    return str(sub.get("Url") or sub.get("Email") or "")


@notification_app.command("list")
@guarded
@connected()
def notification_list(
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List subscriptions, oldest first."""
    with remote.client() as client:
        items = list(client.pages("/api/notifications"))
    if remote.show_json(items):
        return
    if not items:
        out.print("no subscriptions: add one with `mie notification add URL` (or --email ADDRESS)")
        return
    table = Table("Id", "Kind", "Target", "Events", "Statuses", "Created", header_style="bold")
    for sub in items:
        table.add_row(
            str(sub.get("Id")),
            str(sub.get("Kind") or ""),
            escape(_target(sub)),
            escape(", ".join(sub.get("Events") or [])),
            escape(", ".join(sub.get("Statuses") or []) or "all"),
            render.timestamp(sub.get("Created")),
        )
    out.print(table)


@notification_app.command("add")
@guarded
@connected()
def notification_add(
    *,
    webhook: Annotated[str | None, typer.Argument(metavar="[URL]", help="the webhook to POST to")] = None,
    email: Annotated[str | None, typer.Option("--email", help="send e-mail here instead (needs MIE_SMTP_HOST)")] = None,
    events: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help="execution and/or job (repeat) \\[default: both; e-mail: job]"),
    ] = None,
    statuses: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="only these statuses, e.g. Complete, Error, COMPLETE (repeat)"),
    ] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="HMAC key of the signatures \\[default: generated]")
    ] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Subscribe a webhook URL (or an e-mail address with --email); prints the signing secret once."""
    if (webhook is None) == (email is None):
        raise typer.BadParameter("give a webhook URL or --email ADDRESS (one of them)", param_hint="URL")
    body: dict[str, Any] = {"Url": webhook} if webhook is not None else {"Email": email}
    if events:
        body["Events"] = events
    if statuses:
        body["Statuses"] = statuses
    if secret is not None:
        body["Secret"] = secret
    with remote.client() as client:
        record = client.post("/api/notifications", body)
    if remote.show_json(record):
        return
    out.print(f"added subscription {record.get('Id')} for {escape(_target(record))}")
    if record.get("Secret"):
        out.print("signing secret (shown only now; verify X-Mie-Signature with it):")
        out.print(str(record["Secret"]), soft_wrap=True)


@notification_app.command("delete")
@guarded
@connected(json=False)
def notification_delete(
    subscription_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="subscriptions to delete")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Delete subscriptions with their delivery logs (pending deliveries are not sent)."""
    with remote.client() as client:
        remote.each(
            subscription_ids,
            lambda sid: client.delete(f"/api/notifications/{sid}"),
            lambda sid, _: f"deleted subscription {sid}",
        )


@notification_app.command("deliveries")
@guarded
@connected()
def notification_deliveries(
    subscription_id: Annotated[str, typer.Argument(metavar="ID", help="the subscription")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Show the delivery log of a subscription: state, attempts, HTTP status and the last error."""
    with remote.client() as client:
        items = list(client.pages(f"/api/notifications/{subscription_id}/deliveries"))
    if remote.show_json(items):
        return
    if not items:
        out.print("nothing delivered yet")
        return
    table = Table("Event", "Status", "State", "Attempts", "Code", "Created", "Last error", header_style="bold")
    for d in items:
        state = str(d.get("State") or "")
        table.add_row(
            str(d.get("Event") or ""),
            escape(str(d.get("Status") or "")),
            f"[{_STATE_STYLES.get(state, '')}]{state}[/]" if state in _STATE_STYLES else escape(state),
            str(d.get("Attempts") or 0),
            str(d.get("StatusCode") or ""),
            render.timestamp(d.get("Created")),
            escape(render.shorten(str(d.get("LastError") or ""), 60)),
        )
    out.print(table)
