"""``mie people``: the people the faces of the library were clustered into (``/api/people``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mie.cli.client import guarded, out
from mie.cli.remote import FROM_OPTIONS, Remote, connected

people_app = typer.Typer(
    help="People across the library (faces clustered by peopleRecognition): list, show, name, merge, split.",
    no_args_is_help=True,
)
PersonArgument = Annotated[str, typer.Argument(metavar="PERSON", help="the PersonId")]


def _summary(person: dict[str, Any]) -> str:
    name = person.get("Name") or "(unnamed)"
    return f"{escape(str(name))}: {person['PersonId']}, {person['FaceCount']} faces on {person['AssetCount']} assets"


@people_app.command("list")
@guarded
@connected()
def list_people(
    name: Annotated[str | None, typer.Option("--name", help="only people of this exact name")] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List the people (named or not), with their face and asset counts."""
    with remote.client() as client:
        found = list(client.pages("/api/people", key="People", **({"name": name} if name else {})))
    if remote.show_json(found):
        return
    if not found:
        out.print("no people yet: run peopleRecognition (or peopleRecognitionImage) on some media")
        return
    table = Table("PersonId", "Name", "Faces", "Assets", header_style="bold")
    for person in found:
        table.add_row(
            person["PersonId"],
            escape(str(person.get("Name") or "")),
            str(person["FaceCount"]),
            str(person["AssetCount"]),
        )
    out.print(table)


@people_app.command("show")
@guarded
@connected()
def show(
    person: PersonArgument,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Show a person: name, the assets they are seen in, their faces."""
    with remote.client() as client:
        record = client.get(f"/api/people/{person}")
    if remote.show_json(record):
        return
    out.print(_summary(record))
    for asset_id in record.get("AssetIds") or []:
        out.print(f"  asset {asset_id}")
    table = Table("FaceId", "AssetId", "Timestamp", "Confidence", header_style="bold", box=None)
    for face in record.get("Faces") or []:
        stamp = face.get("Timestamp")
        table.add_row(
            face["FaceId"], face["AssetId"], "" if stamp is None else f"{stamp} ms", f"{face['Confidence']:.1f}"
        )
    out.print(table)


@people_app.command("name")
@guarded
@connected(json=False)
def name(
    person: PersonArgument,
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="the person's name ('' forgets it)")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Name a person; the name then appears on every asset where they are seen."""
    with remote.client() as client:
        record = client.post(f"/api/people/{person}/name", {"Name": new_name or None})
    out.print(f"{_summary(record)} ({record.get('ResultsUpdated', 0)} results updated)")


@people_app.command("merge")
@guarded
@connected(json=False)
def merge(
    person: PersonArgument,
    others: Annotated[list[str], typer.Argument(metavar="OTHER...", help="people merged into PERSON")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Merge other people into PERSON (the same person, found twice)."""
    with remote.client() as client:
        record = client.post(f"/api/people/{person}/merge", {"PersonIds": others})
    out.print(f"merged into {_summary(record)}")


@people_app.command("split")
@guarded
@connected(json=False)
def split(
    person: PersonArgument,
    face_ids: Annotated[list[str], typer.Argument(metavar="FACE_ID...", help="faces that are someone else")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Move faces of PERSON to a new person (they were someone else)."""
    with remote.client() as client:
        record = client.post(f"/api/people/{person}/split", {"FaceIds": face_ids})
    out.print(f"new person {_summary(record)}")
