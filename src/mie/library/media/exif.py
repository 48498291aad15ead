"""The EXIF fields users expect of a photo: when it was taken, with what camera, which way up, and where.

Read with Pillow's ``getexif()`` (the base IFD, the Exif sub-IFD and the GPS IFD); nothing else is needed, and
nothing is guessed: a field the file does not carry is absent. GPS positions are decimal degrees, negative south of
the equator and west of Greenwich (from the ``GPSLatitudeRef``/``GPSLongitudeRef`` letters).

:func:`read_exif` returns the object ``MediainfoImage`` stores beside MediaInfo's ``tracks`` under ``Exif``.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
from pathlib import Path
from typing import Any

from mie.types import JSONDict

log = logging.getLogger("mie.operator")

# EXIF tag numbers (EXIF 2.32 / TIFF 6.0).
_MAKE, _MODEL, _ORIENTATION, _DATETIME, _SOFTWARE = 0x010F, 0x0110, 0x0112, 0x0132, 0x0131
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_OFFSET_TIME_ORIGINAL, _OFFSET_TIME = 0x9011, 0x9010
_SUBSEC_ORIGINAL = 0x9291
_LENS_MODEL = 0xA434
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6

#: What each EXIF orientation value means for a viewer (and what ``exif_transpose`` undoes).
ORIENTATIONS = {
    1: "Horizontal (normal)",
    2: "Mirror horizontal",
    3: "Rotate 180",
    4: "Mirror vertical",
    5: "Mirror horizontal and rotate 270 CW",
    6: "Rotate 90 CW",
    7: "Mirror horizontal and rotate 90 CW",
    8: "Rotate 270 CW",
}
_EXIF_TIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def _text(value: Any) -> str | None:
    """An EXIF ASCII value as clean text (NULs and padding removed); None when empty or not text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def capture_time(stamp: str | None, offset: str | None = None, subsec: str | None = None) -> str | None:
    """ISO 8601 from EXIF's ``YYYY:MM:DD HH:MM:SS`` (with fractions and UTC offset when the file gives them);
    None for a malformed or blank (``0000:00:00 ...``) stamp."""
    if stamp is None:
        return None
    match = _EXIF_TIME.match(stamp)
    if match is None or match.group(1) == "0000":
        return None
    year, month, day, hour, minute, second = match.groups()
    iso = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    if subsec and subsec.isdigit():
        iso += f".{subsec}"
    if offset and _OFFSET.match(offset):
        iso += offset
    return iso


def degrees(dms: Any, ref: str | None) -> float | None:
    """Decimal degrees from EXIF's (degrees, minutes, seconds) rationals; negative for ``S`` and ``W``."""
    if not isinstance(dms, tuple | list) or not 1 <= len(dms) <= 3:
        return None
    parts = [number for number in (_number(part) for part in dms) if number is not None]
    if len(parts) != len(dms):
        return None
    d, m, s = [*parts, 0.0, 0.0][:3]
    value = d + m / 60.0 + s / 3600.0
    if ref is not None and ref.upper().startswith(("S", "W")):
        value = -value
    return round(value, 7)


def _gps(ifd: Any) -> JSONDict | None:
    latitude = degrees(ifd.get(_GPS_LAT), _text(ifd.get(_GPS_LAT_REF)))
    longitude = degrees(ifd.get(_GPS_LON), _text(ifd.get(_GPS_LON_REF)))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    position: JSONDict = {"Latitude": latitude, "Longitude": longitude}
    altitude = _number(ifd.get(_GPS_ALT))
    if altitude is not None:
        below = ifd.get(_GPS_ALT_REF)
        if below in (1, b"\x01"):  # 1: below sea level
            altitude = -altitude
        position["Altitude"] = round(altitude, 2)
    return position


def read_exif(path: Path) -> JSONDict | None:
    """The photo's capture time, camera, orientation and GPS position; None when the file has no EXIF (or Pillow
    is not installed, or the EXIF block is unreadable: these fields are extras, never a reason to fail)."""
    try:
        image_module = importlib.import_module("PIL.Image")
    except ImportError:
        log.info("Pillow is not installed: no EXIF fields for %s", path.name)
        return None
    try:
        with image_module.open(path) as image:
            exif = image.getexif()
            if not exif:
                return None
            sub = exif.get_ifd(_EXIF_IFD)
            gps = exif.get_ifd(_GPS_IFD)
    except Exception as exc:  # a damaged EXIF block comes as many exception types; MediaInfo stays
        log.warning("unreadable EXIF in %s: %s", path.name, exc)
        return None
    found: JSONDict = {}
    for key, tag in (("Make", _MAKE), ("Model", _MODEL), ("Software", _SOFTWARE)):
        value = _text(exif.get(tag))
        if value is not None:
            found[key] = value
    lens = _text(sub.get(_LENS_MODEL))
    if lens is not None:
        found["LensModel"] = lens
    orientation = exif.get(_ORIENTATION)
    if isinstance(orientation, int) and orientation in ORIENTATIONS:
        found["Orientation"] = orientation
        found["OrientationName"] = ORIENTATIONS[orientation]
    original = _text(sub.get(_DATETIME_ORIGINAL)) or _text(sub.get(_DATETIME_DIGITIZED))
    if original is not None:
        found["DateTimeOriginal"] = original
        offset = _text(sub.get(_OFFSET_TIME_ORIGINAL)) or _text(sub.get(_OFFSET_TIME))
        iso = capture_time(original, offset, _text(sub.get(_SUBSEC_ORIGINAL)))
        if iso is not None:
            found["CaptureTime"] = iso
    elif (modified := _text(exif.get(_DATETIME))) is not None:
        found["DateTime"] = modified  # when the file was last written: not claimed as the capture time
    position = _gps(gps) if gps else None
    if position is not None:
        found["GPS"] = position
    return found or None
