"""``mie faces``: Rekognition-style face collections on the server (``/api/service/rekognition/*``)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mie.cli.client import (
    CliError,
    MieClient,
    guarded,
    out,
)
from mie.cli.remote import FROM_OPTIONS, Remote, connected

faces_app = typer.Typer(
    help="Face collections (as Rekognition's): create, index faces of photos, search by photo.", no_args_is_help=True
)
API = "/api/service/rekognition"

CollectionArgument = Annotated[str, typer.Argument(metavar="COLLECTION", help="the CollectionId")]
ImageArgument = Annotated[
    Path | None,
    typer.Argument(metavar="IMAGE", exists=True, dir_okay=False, readable=True, help="a photo (JPEG, PNG...)"),
]


def _image(image: Path | None, asset: str | None) -> dict[str, Any]:
    if (image is None) == (asset is None):
        raise CliError("give either an IMAGE file or --asset ID")
    if asset is not None:
        return {"AssetId": asset}
    assert image is not None  # checked above
    return {"Bytes": base64.b64encode(image.read_bytes()).decode()}


def _all(client: MieClient, name: str, key: str, body: dict[str, Any]) -> list[Any]:
    """Every item of a Rekognition list call, following ``NextToken``."""
    items: list[Any] = []
    token: str | None = None
    while True:
        page = client.post(f"{API}/{name}", {**body, **({"NextToken": token} if token else {})})
        items.extend(page.get(key) or [])
        token = page.get("NextToken")
        if not token:
            return items


def _box(box: dict[str, Any]) -> str:
    return "{Left:.2f},{Top:.2f} {Width:.2f}x{Height:.2f}".format(**{k: float(box.get(k, 0)) for k in box})


@faces_app.command("create")
@guarded
@connected()
def create(
    collection: CollectionArgument,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Create an empty face collection."""
    with remote.client() as client:
        result = client.post(f"{API}/create_collection", {"CollectionId": collection})
    if remote.show_json(result):
        return
    out.print(f"created collection {escape(collection)} ({escape(str(result.get('FaceModelVersion')))})")


@faces_app.command("collections")
@guarded
@connected()
def collections(
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List the face collections and how many faces each has."""
    with remote.client() as client:
        ids = _all(client, "list_collections", "CollectionIds", {})
        described = [{"CollectionId": i, **client.post(f"{API}/describe_collection", {"CollectionId": i})} for i in ids]
    if remote.show_json(described):
        return
    if not described:
        out.print("no face collections yet: `mie faces create NAME`")
        return
    table = Table("CollectionId", "Faces", "Model", header_style="bold")
    for item in described:
        model = escape(str(item.get("FaceModelVersion")))
        table.add_row(escape(item["CollectionId"]), str(item.get("FaceCount")), model)
    out.print(table)


@faces_app.command("delete-collection")
@guarded
@connected(json=False)
def delete_collection(
    collection: CollectionArgument,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Delete a face collection and all its faces."""
    with remote.client() as client:
        client.post(f"{API}/delete_collection", {"CollectionId": collection})
    out.print(f"deleted collection {escape(collection)}")


@faces_app.command("index")
@guarded
@connected()
def index(
    collection: CollectionArgument,
    image: ImageArgument = None,
    *,
    asset: Annotated[str | None, typer.Option("--asset", metavar="ID", help="an image asset instead of a file")] = None,
    external_id: Annotated[
        str | None, typer.Option("--external-id", help="ExternalImageId: e.g. the person's name")
    ] = None,
    max_faces: Annotated[int | None, typer.Option("--max-faces", min=1, max=100, help="largest faces kept")] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Add the faces of a photo (a file, or --asset ID) to a collection."""
    body: dict[str, Any] = {"CollectionId": collection, "Image": _image(image, asset)}
    if external_id is not None:
        body["ExternalImageId"] = external_id
    if max_faces is not None:
        body["MaxFaces"] = max_faces
    with remote.client() as client:
        result = client.post(f"{API}/index_faces", body)
    if remote.show_json(result):
        return
    for record in result.get("FaceRecords") or []:
        face = record["Face"]
        out.print(f"indexed {face['FaceId']} at {_box(face['BoundingBox'])} ({face['Confidence']:.1f}%)")
    for skipped in result.get("UnindexedFaces") or []:
        reasons = ", ".join(skipped.get("Reasons") or [])
        out.print(f"not indexed: face at {_box(skipped['FaceDetail']['BoundingBox'])} ({reasons})")
    if not result.get("FaceRecords") and not result.get("UnindexedFaces"):
        out.print("no face found in the image")


@faces_app.command("list")
@guarded
@connected()
def list_faces(
    collection: CollectionArgument,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """List the faces of a collection."""
    with remote.client() as client:
        found = _all(client, "list_faces", "Faces", {"CollectionId": collection})
    if remote.show_json(found):
        return
    if not found:
        out.print(f"collection {escape(collection)} has no faces: `mie faces index {escape(collection)} PHOTO`")
        return
    table = Table("FaceId", "ExternalImageId", "ImageId", "Box", header_style="bold")
    for face in found:
        table.add_row(
            face["FaceId"], escape(str(face.get("ExternalImageId") or "")), face["ImageId"], _box(face["BoundingBox"])
        )
    out.print(table)


@faces_app.command("delete")
@guarded
@connected(json=False)
def delete_faces(
    collection: CollectionArgument,
    face_ids: Annotated[list[str], typer.Argument(metavar="FACE_ID...", help="faces to delete")],
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Delete faces from a collection."""
    with remote.client() as client:
        result = client.post(f"{API}/delete_faces", {"CollectionId": collection, "FaceIds": face_ids})
    for face_id in result.get("DeletedFaces") or []:
        out.print(f"deleted {face_id}")
    missing = [item["FaceId"] for item in result.get("UnsuccessfulFaceDeletions") or []]
    if missing:
        raise CliError(f"no such face in {collection}: {', '.join(missing)}")


@faces_app.command("search")
@guarded
@connected()
def search(
    collection: CollectionArgument,
    image: ImageArgument = None,
    *,
    asset: Annotated[str | None, typer.Option("--asset", metavar="ID", help="an image asset instead of a file")] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", min=0, max=100, help="least Similarity \\[default: 80]")
    ] = None,
    max_faces: Annotated[int | None, typer.Option("--max-faces", min=1, max=4096, help="most matches")] = None,
    remote: Remote = FROM_OPTIONS,
) -> None:
    """Search a collection for the largest face of a photo."""
    body: dict[str, Any] = {"CollectionId": collection, "Image": _image(image, asset)}
    if threshold is not None:
        body["FaceMatchThreshold"] = threshold
    if max_faces is not None:
        body["MaxFaces"] = max_faces
    with remote.client() as client:
        result = client.post(f"{API}/search_faces_by_image", body)
    if remote.show_json(result):
        return
    matches = result.get("FaceMatches") or []
    if not matches:
        out.print(f"no match in {escape(collection)} for the face at {_box(result['SearchedFaceBoundingBox'])}")
        return
    table = Table("Similarity", "FaceId", "ExternalImageId", header_style="bold")
    for match in matches:
        face = match["Face"]
        table.add_row(f"{match['Similarity']:.1f}", face["FaceId"], escape(str(face.get("ExternalImageId") or "")))
    out.print(table)
