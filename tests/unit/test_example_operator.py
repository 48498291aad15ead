"""The worked example of docs/operators.md (examples/loudness) measures real loudness, reports progress and fails
cleanly: checked against what BS.1770 predicts for a pure tone."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mie.operators import OperatorError, OperatorRegistry
from mie.testing import run_operator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "loudness"

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")


@pytest.fixture(scope="module")
def loudness() -> Iterator[object]:
    sys.path.insert(0, str(EXAMPLE))
    try:
        import mie_loudness

        yield mie_loudness
    finally:
        sys.path.remove(str(EXAMPLE))


def tone(path: Path, amplitude: float, seconds: int = 8) -> Path:
    """A 1 kHz sine at ``amplitude`` of full scale (ffmpeg's sine source is 1/8 of full scale)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=1000:duration={seconds}",
         "-af", f"volume={amplitude * 8}", "-c:a", "pcm_s16le", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_a_tone_measures_as_bs1770_predicts(loudness: object, tmp_path: Path) -> None:
    amplitude = 0.0125
    run = run_operator(loudness.audio_loudness, tone(tmp_path / "tone.wav", amplitude))  # type: ignore[attr-defined]
    assert run.status == "Complete", run.output
    result = run.results["AudioLoudness"]
    peak = 20 * math.log10(amplitude)  # a sine's peak, in dBFS
    # A 1 kHz sine's K-weighting gain is ~0 dB, so its loudness is its RMS level, 3.01 dB under its peak.
    assert result["TruePeak"] == pytest.approx(peak, abs=0.3)
    assert result["IntegratedLoudness"] == pytest.approx(peak - 3.01, abs=0.3)
    assert result["Compliant"] is False  # -41 LUFS is far below the EBU target of -23
    assert run.metadata["AudioLoudness_LUFS"] == result["IntegratedLoudness"]
    # One timeline point per second of audio, in order, ending near the end of the file.
    stamps = [point["Timestamp"] for point in result["Timeline"]]
    assert stamps == sorted(stamps)
    assert 6 <= len(stamps) <= 9
    percents = [p for p, _ in run.progress if p is not None]
    assert percents
    assert percents == sorted(percents)
    assert percents[-1] > 80


def test_ten_decibels_louder_is_ten_lu_louder_and_meets_the_target(loudness: object, tmp_path: Path) -> None:
    quiet = run_operator(loudness.audio_loudness, tone(tmp_path / "q.wav", 0.05))  # type: ignore[attr-defined]
    loud = run_operator(loudness.audio_loudness, tone(tmp_path / "l.wav", 0.05 * 10**0.5))  # type: ignore[attr-defined]
    difference = (
        loud.results["AudioLoudness"]["IntegratedLoudness"] - quiet.results["AudioLoudness"]["IntegratedLoudness"]
    )
    assert difference == pytest.approx(10.0, abs=0.2)
    target = run_operator(
        loudness.audio_loudness,  # type: ignore[attr-defined]
        tone(tmp_path / "t.wav", 10 ** ((-23 + 3.01) / 20)),
        configuration={"TargetLoudness": -23, "Tolerance": 0.5},
    )
    assert target.results["AudioLoudness"]["Compliant"] is True


def test_a_file_that_is_not_media_fails_clearly(loudness: object, tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    # The engine turns the OperatorError into the task's Error status with this message; the harness raises it.
    with pytest.raises(OperatorError, match=r"could not measure notes.wav: Invalid data found") as caught:
        run_operator(loudness.audio_loudness, bad)  # type: ignore[attr-defined]
    assert str(tmp_path) not in str(caught.value)  # no server paths in messages users see


def test_the_entry_point_registers_it(loudness: object) -> None:
    registry = OperatorRegistry()
    loudness.register(registry)  # type: ignore[attr-defined]
    definition = registry.definition("AudioLoudness")
    assert definition is not None
    assert definition.operation()["Configuration"] == {
        "MediaType": "Audio",
        "Enabled": True,
        "TargetLoudness": -23.0,
        "Tolerance": 1.0,
    }
