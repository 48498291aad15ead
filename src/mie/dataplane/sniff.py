"""Decide whether bytes are an image, video, audio or text file by their content, not their name."""

from __future__ import annotations

from mie.types import MediaType

IMAGE, VIDEO, AUDIO, TEXT = MediaType.IMAGE, MediaType.VIDEO, MediaType.AUDIO, MediaType.TEXT

_AUDIO_FTYP = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def sniff_media_type(head: bytes) -> MediaType | None:
    """MIE's media type (``Image``/``Video``/``Audio``/``Text``) from the first bytes of a file, or ``None``."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
        return IMAGE
    if head[:6] in (b"GIF87a", b"GIF89a") or (head.startswith(b"BM") and len(head) > 14):
        return IMAGE
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return IMAGE
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return IMAGE
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return VIDEO
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return AUDIO
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1"):
            return IMAGE
        return AUDIO if brand in _AUDIO_FTYP else VIDEO
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return VIDEO
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return AUDIO if b"A_" in head[:4096] and b"V_" not in head[:4096] else VIDEO
    if head.startswith(b"FLV"):
        return VIDEO
    if head[:3] == b"\x00\x00\x01" and len(head) > 3 and head[3] in (0xBA, 0xB3):  # MPEG-PS / MPEG-1
        return VIDEO
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG-TS
        return VIDEO
    if head.startswith((b"ID3", b"fLaC", b"OggS", b"#!AMR", b"FORM")):
        return AUDIO
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MPEG audio / ADTS frame sync
        return AUDIO
    if head and _looks_like_text(head):
        return TEXT
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return False
    return True
