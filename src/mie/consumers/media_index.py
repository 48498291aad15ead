"""The media index of the Chalice "media query" sample: what an asset is called and what kind of media it is.

An asset is named after the base name of the object it was created from (``upload/Holiday.JPG`` → ``Holiday.JPG``),
and its type is decided by its content: the first bytes (``mie.dataplane.sniff``), then the ``MediaType`` the asset
was created with, and only then the extension (case-insensitive, a wider list than the sample's
``.jpg .png .mp4 .flv .mov``). Labels come from label-detection results (``search_extract``).
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any

from mie.dataplane.service import DataPlane
from mie.dataplane.sniff import AUDIO, IMAGE, TEXT, VIDEO, sniff_media_type
from mie.errors import MieError
from mie.storage.search import MEDIA_KINDS, MediaQuery

log = logging.getLogger(__name__)

#: How much of an object is read to recognise it.
SNIFF_BYTES = 8192

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic"})
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".flv", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".3gp", ".wmv"}
)
AUDIO_EXTENSIONS = frozenset({".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aiff"})

_MIE_TO_KIND: dict[str, str] = {IMAGE: "image", VIDEO: "video", AUDIO: "audio", TEXT: "text"}


def media_name(s3_key: str) -> str:
    """The name the media index lists an asset under: the base name of its object key."""
    return posixpath.basename(s3_key.rstrip("/")) or s3_key


def kind_from_extension(name: str) -> str | None:
    """``image``/``video``/``audio`` by extension, case-insensitively (the last resort)."""
    extension = posixpath.splitext(name.lower())[1]
    if extension in IMAGE_EXTENSIONS:
        return "image"
    if extension in VIDEO_EXTENSIONS:
        return "video"
    if extension in AUDIO_EXTENSIONS:
        return "audio"
    return None


def decide_kind(head: bytes | None, declared: str | None, name: str) -> str | None:
    """The media index type: content first, then the asset's declared ``MediaType``, then the extension.

    Returns ``image``, ``video``, ``audio`` (listed by ``/api/media``), ``text``, or ``None`` when nothing tells.
    """
    mie_type = sniff_media_type(head) if head else None
    sniffed = _MIE_TO_KIND.get(mie_type) if mie_type else None
    if sniffed in MEDIA_KINDS:
        return sniffed
    from_declared = _MIE_TO_KIND.get(declared or "")
    if from_declared in MEDIA_KINDS:
        return from_declared
    return kind_from_extension(name) or sniffed or from_declared


def asset_kind(dataplane: DataPlane, bucket: Any, key: Any, declared: Any) -> str | None:
    """Read the head of an asset's object and decide its type (the object may be gone: then by the rest)."""
    head: bytes | None = None
    name = media_name(key) if isinstance(key, str) else ""
    if isinstance(bucket, str) and isinstance(key, str):
        try:
            size = dataplane.objects.size(bucket, key)
            if size:
                head = b"".join(dataplane.objects.read_range(bucket, key, 0, min(size, SNIFF_BYTES) - 1))
        except MieError as exc:
            log.debug("cannot read s3://%s/%s to tell its type: %s", bucket, key, exc)
    return decide_kind(head, declared if isinstance(declared, str) else None, name)


def media_query(startswith: str | None, media_type: str | None, label: str | None) -> MediaQuery:
    """The sample's filters as given: exact and case-sensitive, so ``media-type=Image`` or an empty ``label=``
    match nothing; an empty ``startswith=`` is every name's prefix."""
    return MediaQuery(startswith=startswith or None, media_type=media_type, label=label)
