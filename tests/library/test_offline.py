"""Nothing fetches models or data at run time: every model-backed operator runs in a process with no network at all
(``unshare -n``: not even a loopback interface), on real media, and gives its real answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("faster_whisper")
pytest.importorskip("spacy")
pytest.importorskip("rapidocr")
pytest.importorskip("trackers")
pytest.importorskip("dlib")
Image = pytest.importorskip("PIL.Image")
skdata = pytest.importorskip("skimage.data")

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, socket, sys
from pathlib import Path
from mie.testing import run_operator
from mie.library.vision import labels, persons, text
from mie.library.speech.transcribe import transcribe_audio
from mie.library.text.entities import comprehend_entities

# Prove the sandbox: no route to anywhere.
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
    sys.exit("the network is reachable: this test proves nothing")
except OSError:
    pass

media = Path(sys.argv[1])
out = {}
run = run_operator(labels.label_detection_image, media / "cat.png")
out["labels"] = [l["Name"] for l in run.results["labelDetection"]["Labels"]]
out["boxes"] = {l["Name"]: len(l["Instances"]) for l in run.results["labelDetection"]["Labels"]}
run = run_operator(persons.person_tracking, media / "walk.mp4")
out["persons"] = [p["Person"]["Index"] for p in run.results["personTracking"]["Persons"]]
run = run_operator(text.text_detection_image, media / "sign.png", configuration={"Engine": "rapidocr"})
out["text"] = [d["DetectedText"] for d in run.results["textDetection"]["TextDetections"] if d["Type"] == "LINE"]
run = run_operator(transcribe_audio, {"Audio": media / "speech.wav"})
out["transcript"] = run.results["TranscribeAudio"]["results"]["transcripts"][0]["transcript"]
run = run_operator(comprehend_entities, {"Text": media / "news.txt"})
stored = run.results["entities"]["Results"][0]
out["entities"] = [e["Text"] for e in json.loads(stored)["Entities"]]
from mie.testing import harness
from mie.library.vision import recognition
from mie.library.vision.embeddings import FACE_MODEL_VERSION, embed_file
from mie.storage.faces import NewFace
with harness() as h:
    h.faces.create_collection("crew", FACE_MODEL_VERSION)
    (face,) = embed_file(media / "astronaut.png")
    h.faces.index_faces("crew", [NewFace(face.embedding, face.detail["BoundingBox"], 99.0, "i", "astronaut")])
    run = h.run(recognition.face_search_image, media / "mirrored.png", configuration={"CollectionId": "crew"})
    out["faces"] = [m["Face"]["ExternalImageId"] for m in run.results["faceSearch"]["FaceMatches"]]
print(json.dumps(out))
"""


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -n (root or user namespaces)")
@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None, reason="needs espeak-ng")
def test_every_model_backed_operator_runs_without_a_network(tmp_path: Path) -> None:
    Image.fromarray(skdata.chelsea()).save(tmp_path / "cat.png")
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astronaut.png")
    Image.fromarray(skdata.astronaut()[:, ::-1]).save(tmp_path / "mirrored.png")
    from PIL import ImageDraw, ImageFont

    sign = Image.new("RGB", (900, 200), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 72)
    ImageDraw.Draw(sign).text((40, 50), "OPEN ALL NIGHT", fill="black", font=font)
    sign.save(tmp_path / "sign.png")
    # 3 s of the astronaut sliding across a grey wall, for personTracking (detector + ByteTrack).
    Image.fromarray(skdata.astronaut()).crop((10, 10, 370, 510)).resize((216, 300)).save(tmp_path / "person.png")
    Image.new("RGB", (960, 540), (140, 130, 120)).save(tmp_path / "wall.png")
    still = ["-loop", "1", "-framerate", "25", "-t", "3"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *still, "-i", str(tmp_path / "wall.png"), *still, "-i",
         str(tmp_path / "person.png"), "-filter_complex", "[0][1]overlay=x='20+t*100':y=200:shortest=1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-t", "3", str(tmp_path / "walk.mp4")],
        check=True,
    )  # fmt: skip
    raw = tmp_path / "raw.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(raw), "The red train leaves the station at noon."], check=True
    )
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(raw), "-ar", "16000", "-ac", "1", str(tmp_path / "speech.wav")],
                   check=True)  # fmt: skip
    (tmp_path / "news.txt").write_text("Angela Merkel visited Paris on Monday with officials from Siemens.")
    # A fresh interpreter with no network and no model caches to fall back on but what pip installed.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "TORCH_HOME"))}
    env["HOME"] = str(tmp_path / "home")  # no ~/.cache from earlier runs
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "Cat" in found["labels"]
    assert "Animal" in found["labels"]
    assert found["boxes"]["Cat"] == 1  # the COCO detector's box
    assert found["persons"] == [0, 0, 0]  # one person on each of the three sampled frames
    assert found["text"] == ["OPEN ALL NIGHT"]
    assert "train" in found["transcript"].lower()
    assert "station" in found["transcript"].lower()
    assert {"Angela Merkel", "Paris", "Siemens"} <= set(found["entities"])
    assert found["faces"] == ["astronaut"]
