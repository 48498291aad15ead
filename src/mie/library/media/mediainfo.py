"""``Mediainfo`` and ``MediainfoImage``: technical metadata in MIE's shape, from libmediainfo (bundled by pymediainfo).

The stored result is ``MediaInfo.parse(file).to_data()``, i.e. ``{"tracks": [{"track_type": "General", ...},
{"track_type": "Video", ...}, ...]}``, exactly what MIE's lambda stored (it parsed a presigned URL; we parse the
object in place and put its ``s3://`` location where MIE had the URL, so no server path leaks into results).

Unlike MIE, a file with no media track is not deleted: the operator fails and says what the file looks like.

``MediainfoImage`` adds what MediaInfo does not read from a photo's EXIF block (capture time, camera, orientation,
GPS position; see :mod:`.exif`) under a key of its own, ``Exif``, beside ``tracks``: MediaInfo's shape is unchanged
and a consumer that knows only MediaInfo ignores it.
"""

from __future__ import annotations

import importlib
from pathlib import PurePosixPath
from typing import Any

from mie.errors import OperatorError
from mie.library.media.exif import read_exif
from mie.operators import OperatorContext, operator
from mie.operators.dependencies import MissingDependencyError

INSTALL = "pip install pymediainfo (or the media extra: pip install 'media-insights-engine[media]')"
#: Track types that make a file a media file (MIE's rule).
MEDIA_TRACKS = ("Video", "Audio", "Image", "Text")
#: Fields that name the local file; replaced by the object's location.
_PATH_FIELDS = ("complete_name", "folder_name", "file_name_extension", "file_name", "file_extension")


def _parse(path: Any) -> dict[str, Any]:
    try:
        module = importlib.import_module("pymediainfo")
    except ImportError as exc:
        raise MissingDependencyError("pymediainfo", INSTALL) from exc
    try:
        data: dict[str, Any] = module.MediaInfo.parse(str(path)).to_data()
    except Exception as exc:  # libmediainfo errors come as several exception types; all mean "unreadable"
        raise OperatorError(f"MediaInfo could not read {path.name}: {exc}") from exc
    return data


def _describe(ctx: OperatorContext, kinds: tuple[str, ...], *, exif: bool = False) -> dict[str, Any]:
    kind = next((k for k in kinds if k in ctx.input_media), kinds[0])
    path = ctx.input_file(kind)
    bucket, key = ctx.media_location(kind)
    if path.stat().st_size == 0:
        raise OperatorError(f"{ctx.name}: the input file {PurePosixPath(key).name} is empty (0 bytes)")
    ctx.check_cancelled()
    data = _parse(path)
    tracks = [t for t in data.get("tracks") or [] if isinstance(t, dict)]
    name = PurePosixPath(key)
    for track in tracks:
        if track.get("track_type") == "General":
            for field in _PATH_FIELDS:
                track.pop(field, None)
            track["complete_name"] = f"s3://{bucket}/{key}"
            track["file_name_extension"] = name.name
            track["file_name"] = name.stem
            if name.suffix:
                track["file_extension"] = name.suffix.lstrip(".")
    types = [str(t.get("track_type")) for t in tracks]
    if not any(t in MEDIA_TRACKS for t in types):
        general = next((t for t in tracks if t.get("track_type") == "General"), {})
        fmt = general.get("format") or "an unknown format"
        raise OperatorError(
            f"{ctx.name}: {name.name} has no video, audio, image or text track ({fmt}; {general.get('file_size', '?')} "
            "bytes): it is not a media file, or it is damaged. The file was left in place."
        )
    result: dict[str, Any] = {**data, "tracks": tracks}
    if exif:
        fields = read_exif(path)
        if fields is not None:
            result["Exif"] = fields
    ctx.save_results(result)
    return {
        "Mediainfo_num_audio_tracks": str(types.count("Audio")),
        "AssetId": ctx.asset_id,
        "WorkflowExecutionId": ctx.workflow_execution_id,
    }


@operator(
    "Mediainfo",
    media_type="Video",
    timeout=300,
    description="Technical metadata of a video (tracks, codecs, duration, frame rate, resolution, bit rates) in "
    "MediaInfo's JSON shape.",
)
def mediainfo(ctx: OperatorContext) -> dict[str, Any]:
    """Store MediaInfo's ``{"tracks": [...]}`` for the input video; MetaData ``Mediainfo_num_audio_tracks``."""
    return _describe(ctx, ("Video", "Audio", "Image"))


@operator(
    "MediainfoImage",
    media_type="Image",
    timeout=300,
    description="Technical metadata of an image (format, size, bit depth, colour space) in MediaInfo's JSON shape, "
    "with EXIF capture time, camera, orientation and GPS position.",
)
def mediainfo_image(ctx: OperatorContext) -> dict[str, Any]:
    """Store MediaInfo's ``{"tracks": [...]}`` for the input image, plus its EXIF fields under ``Exif``."""
    return _describe(ctx, ("Image",), exif=True)
