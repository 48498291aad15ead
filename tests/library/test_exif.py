"""EXIF technical metadata (capture time, camera, orientation, GPS) and upright pictures everywhere.

The photo is scikit-image's astronaut written by Pillow with the EXIF block of a phone held upright: pixels stored
sideways (640 x 480) with orientation 6 ("rotate 90 CW"), so it must be shown, analysed and thumbnailed 480 x 640.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mie.errors import OperatorError
from mie.library.media import exif
from mie.library.media.mediainfo import mediainfo_image
from mie.library.media.thumbnail import thumbnail
from mie.testing import run_operator

pytest.importorskip("pymediainfo")
np = pytest.importorskip("numpy")
skimage_data = pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402

from mie.library.vision import _common  # noqa: E402

#: Sydney Opera House: south and east, so both signs are exercised.
LATITUDE = -(33 + 51 / 60 + 26.4 / 3600)
LONGITUDE = 151 + 12 / 60 + 54.0 / 3600


def _sideways() -> Image.Image:
    """The astronaut as a sensor held sideways stores it: the upright picture turned 90 degrees anticlockwise."""
    upright = Image.fromarray(skimage_data.astronaut()).resize((480, 640))
    return upright.transpose(Image.Transpose.ROTATE_90)


@pytest.fixture(scope="module")
def phone_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exif") / "IMG_0042.jpg"
    block = Image.Exif()
    block[0x010F] = "Apple"
    block[0x0110] = "iPhone 13"
    block[0x0112] = 6
    sub = block.get_ifd(0x8769)
    sub[0x9003] = "2024:05:17 14:03:21"
    sub[0x9011] = "+10:00"
    gps = block.get_ifd(0x8825)
    gps[0] = b"\x02\x03\x00\x00"
    gps[1] = "S"
    gps[2] = (33.0, 51.0, 26.4)
    gps[3] = "E"
    gps[4] = (151.0, 12.0, 54.0)
    gps[5] = b"\x00"
    gps[6] = 4.5
    _sideways().save(path, exif=block, quality=92)
    return path


def test_mediainfo_image_stores_exif_beside_the_tracks(phone_photo: Path) -> None:
    run = run_operator(mediainfo_image, phone_photo)
    assert run.status == "Complete"
    result = run.results["MediainfoImage"]
    # MediaInfo's own shape is untouched: the tracks, the stored (sideways) pixel size.
    image_track = next(t for t in result["tracks"] if t["track_type"] == "Image")
    assert (int(image_track["width"]), int(image_track["height"])) == (640, 480)
    assert result["Exif"] == {
        "Make": "Apple",
        "Model": "iPhone 13",
        "Orientation": 6,
        "OrientationName": "Rotate 90 CW",
        "DateTimeOriginal": "2024:05:17 14:03:21",
        "CaptureTime": "2024-05-17T14:03:21+10:00",
        "GPS": {"Latitude": pytest.approx(LATITUDE, abs=1e-6), "Longitude": pytest.approx(LONGITUDE, abs=1e-6),
                "Altitude": 4.5},
    }  # fmt: skip


def test_a_photo_without_exif_has_no_exif_key(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    Image.fromarray(skimage_data.coffee()).save(path)
    result = run_operator(mediainfo_image, path).results["MediainfoImage"]
    assert "Exif" not in result
    assert any(t["track_type"] == "Image" for t in result["tracks"])


def test_degrees_take_their_sign_from_the_reference() -> None:
    assert exif.degrees((40.0, 26.0, 46.0), "N") == pytest.approx(40.446111, abs=1e-6)
    assert exif.degrees((79.0, 58.0, 56.0), "W") == pytest.approx(-79.982222, abs=1e-6)
    assert exif.degrees((33.0, 30.0, 0.0), "S") == -33.5
    assert exif.degrees((12.5,), "E") == 12.5
    assert exif.degrees("garbage", "N") is None
    assert exif.degrees((1.0, "x", 0.0), "N") is None


def test_capture_time_is_iso_8601_or_absent() -> None:
    assert exif.capture_time("2024:05:17 14:03:21") == "2024-05-17T14:03:21"
    assert exif.capture_time("2024:05:17 14:03:21", "-05:00", "25") == "2024-05-17T14:03:21.25-05:00"
    assert exif.capture_time("0000:00:00 00:00:00") is None
    assert exif.capture_time("yesterday") is None


def test_an_impossible_gps_position_is_left_out(tmp_path: Path) -> None:
    block = Image.Exif()
    block[0x0110] = "Cam"
    gps = block.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (123.0, 0.0, 0.0), "E", (10.0, 0.0, 0.0)
    path = tmp_path / "bad-gps.jpg"
    Image.new("RGB", (64, 48), "grey").save(path, exif=block)
    assert exif.read_exif(path) == {"Model": "Cam"}


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b.resize(a.size), dtype=np.float32)).mean())


def test_analysis_decodes_the_photo_upright(phone_photo: Path) -> None:
    image = _common.load_image(phone_photo, 1024)
    assert image.size == (480, 640)
    upright = Image.fromarray(skimage_data.astronaut()).resize((480, 640))
    assert _difference(image, upright) < 10


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_the_thumbnail_of_a_photo_is_upright(phone_photo: Path, tmp_path: Path) -> None:
    run = run_operator(thumbnail, {"Image": phone_photo}, configuration={"ThumbnailMaxSide": 320}, workdir=tmp_path)
    assert run.status == "Complete"
    assert set(run.output["Media"]) == {"Thumbnail"}
    assert run.output["Media"]["Thumbnail"]["S3Key"].endswith("IMG_0042_thumbnail.jpg")
    with Image.open(run.media_files["Thumbnail"]) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (240, 320)  # width and height swapped from the stored 640 x 480
        upright = Image.fromarray(skimage_data.astronaut()).resize((480, 640))
        assert _difference(thumb.convert("RGB"), upright) < 12
        assert _difference(thumb.convert("RGB"), _sideways().resize((240, 320))) > 30


def test_a_broken_photo_fails_the_thumbnail_clearly(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    with pytest.raises(OperatorError, match=r"broken\.jpg"):
        run_operator(thumbnail, {"Image": path})


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_a_rotated_video_reports_its_upright_frame_size(tmp_path: Path) -> None:
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    run = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
    subprocess.run([*run, "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=2", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(plain)], check=True, timeout=60)  # fmt: skip
    subprocess.run([*run, "-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)],
                   check=True, timeout=60)  # fmt: skip
    result = run_operator(thumbnail, rotated, workdir=tmp_path / "work")
    with Image.open(result.media_files["Thumbnail"]) as thumb:
        assert thumb.size == (240, 320)
    from mie.library.media.frames import FrameSet

    frames = FrameSet.open(result.media_files["Frames"], tmp_path / "frames")
    assert (frames.width, frames.height) == (240, 320)
    assert (frames.source_width, frames.source_height) == (240, 320)
