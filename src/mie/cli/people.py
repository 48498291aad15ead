"""``mie people``: the people the faces of the library were clustered into (``/api/people``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mie.cli.client import ApiKeyOption, DataDirOption, JsonOption, UrlOption, connect, guarded, out, print_json

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
def list_people(
    name: Annotated[str | None, typer.Option("--name", help="only people of this exact name")] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the people (named or not), with their face and asset counts."""
    with connect(url, api_key, data_dir) as client:
        found = list(client.pages("/api/people", key="People", **({"name": name} if name else {})))
    if as_json:
        print_json(found)
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
def show(
    person: PersonArgument,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show a person: name, the assets they are seen in, their faces."""
    with connect(url, api_key, data_dir) as client:
        record = client.get(f"/api/people/{person}")
    if as_json:
        print_json(record)
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
def name(
    person: PersonArgument,
    new_name: Annotated[str, typer.Argument(metavar="NAME", help="the person's name ('' forgets it)")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Name a person; the name then appears on every asset where they are seen."""
    with connect(url, api_key, data_dir) as client:
        record = client.post(f"/api/people/{person}/name", {"Name": new_name or None})
    out.print(f"{_summary(record)} ({record.get('ResultsUpdated', 0)} results updated)")


@people_app.command("merge")
@guarded
def merge(
    person: PersonArgument,
    others: Annotated[list[str], typer.Argument(metavar="OTHER...", help="people merged into PERSON")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Merge other people into PERSON (the same person, found twice)."""
    with connect(url, api_key, data_dir) as client:
        record = client.post(f"/api/people/{person}/merge", {"PersonIds": others})
    out.print(f"merged into {_summary(record)}")


@people_app.command("split")
@guarded
def split(
    person: PersonArgument,
    face_ids: Annotated[list[str], typer.Argument(metavar="FACE_ID...", help="faces that are someone else")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Move faces of PERSON to a new person (they were someone else)."""
    with connect(url, api_key, data_dir) as client:
        record = client.post(f"/api/people/{person}/split", {"FaceIds": face_ids})
    out.print(f"new person {_summary(record)}")
