"""The CLI against a real server, as a user runs it: discover and register an operator, build a workflow, analyse
a real file with ``mie run`` from a clean data directory, then inspect and delete what it made."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FAST_ENV, REPO_ROOT, MieServer
from tests.helpers import API_KEY

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)"),
]

EXAMPLE = REPO_ROOT / "examples" / "loudness"
AMPLITUDE = 0.0125  # of full scale: a -38.1 dBFS sine, -41.1 LUFS


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    # The worked example operator, loaded from the checkout as a plugin (no packaging needed).
    # The inherited PYTHONPATH stays after it, so the server runs the same code as the CLI under test.
    path = os.pathsep.join(filter(None, [str(EXAMPLE), os.environ.get("PYTHONPATH")]))
    return {**FAST_ENV, "MIE_PLUGINS": "mie_loudness:register", "PYTHONPATH": path}


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "tone 1kHz.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=1000:duration=6",
         "-af", f"volume={AMPLITUDE * 8}", "-c:a", "pcm_s16le", str(path)],
        check=True,
    )  # fmt: skip
    return path


def mie(server: MieServer, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIE_")}
    env.update({"MIE_URL": server.base_url, "MIE_API_KEY": API_KEY, "COLUMNS": "200"})
    proc = subprocess.run(
        [*MieServer.command(), *args], check=False, env=env, capture_output=True, text=True, timeout=120
    )
    if check:
        assert proc.returncode == 0, f"mie {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def workflow(server: MieServer, client: httpx.Client) -> str:
    listed = mie(server, "operator", "list").stdout
    assert "AudioLoudness" in listed
    mie(server, "operator", "register", "AudioLoudness")
    registered = mie(server, "operator", "list").stdout
    assert "outdated" not in registered
    assert "differs" not in registered  # every operation is what its code defines, built-ins included
    assert client.get("/api/workflow/operation/AudioLoudness").json()["StartLambdaArn"] == "AudioLoudness"
    r = client.post("/api/workflow/stage", json={"Name": "LoudnessStage", "Operations": ["AudioLoudness"]})
    assert r.status_code == 200, r.text
    body = {"Name": "LoudnessWorkflow", "StartAt": "LoudnessStage", "Stages": {"LoudnessStage": {"End": True}}}
    r = client.post("/api/workflow", json=body)
    assert r.status_code == 200, r.text
    return "LoudnessWorkflow"


def run_json(server: MieServer, *args: str) -> dict[str, Any]:
    proc = mie(server, "run", *args, "--json", "--timeout", "60")
    document = json.loads(proc.stdout)
    runs = document if isinstance(document, list) else document.get("Executions", document.get("runs", [document]))
    assert len(runs) == 1, document
    run: dict[str, Any] = runs[0]
    return run


def find(document: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in a JSON document."""
    if isinstance(document, dict):
        if key in document:
            return document[key]
        children = list(document.values())
    elif isinstance(document, list):
        children = document
    else:
        return None
    for child in children:
        found = find(child, key)
        if found is not None:
            return found
    return None


def test_mie_run_analyses_a_real_file_and_reports_the_result(server: MieServer, workflow: str, tone: Path) -> None:
    run = run_json(server, str(tone), "--workflow", workflow)
    assert find(run, "Status") == "Complete", run
    loudness = find(run, "IntegratedLoudness")
    assert loudness == pytest.approx(20 * math.log10(AMPLITUDE) - 3.01, abs=0.3), run
    assert find(run, "Compliant") is False


def test_mie_run_applies_a_configuration_override(server: MieServer, workflow: str, tone: Path) -> None:
    override = json.dumps({"LoudnessStage": {"AudioLoudness": {"TargetLoudness": -41, "Tolerance": 0.5}}})
    run = run_json(server, str(tone), "--workflow", workflow, "--config", override)
    assert find(run, "Compliant") is True, run


def test_mie_run_live_display_ends_with_a_readable_summary(server: MieServer, workflow: str, tone: Path) -> None:
    proc = mie(server, "run", str(tone), "--workflow", workflow, "--timeout", "60")
    text = proc.stdout + proc.stderr
    assert "Complete" in text
    assert "AudioLoudness" in text
    assert "-41" in text  # the integrated loudness, in the summary


def test_mie_run_rejects_an_unknown_workflow_before_uploading(server: MieServer, tone: Path) -> None:
    proc = mie(server, "run", str(tone), "--workflow", "NoSuchWorkflow", check=False)
    assert proc.returncode != 0
    assert "NoSuchWorkflow" in proc.stderr + proc.stdout
    assert "does not exist" in proc.stderr + proc.stdout


def test_asset_and_execution_commands(server: MieServer, client: httpx.Client, workflow: str, tone: Path) -> None:
    run = run_json(server, str(tone), "--workflow", workflow)
    asset_id = find(run, "AssetId")
    execution_id = find(run, "Id") or find(run, "WorkflowExecutionId")
    assert asset_id
    assert execution_id
    assert asset_id in mie(server, "asset", "list").stdout
    assert "tone 1kHz.wav" in mie(server, "asset", "list").stdout  # lists name the files, not only ids
    assert "tone 1kHz.wav" in mie(server, "execution", "list").stdout
    assert "tone 1kHz.wav" in mie(server, "execution", "list", "--status", "Complete").stdout
    shown = mie(server, "asset", "show", asset_id).stdout
    assert "AudioLoudness" in shown
    assert execution_id in mie(server, "execution", "list").stdout
    assert "Complete" in mie(server, "execution", "show", execution_id).stdout
    refused = mie(server, "asset", "delete", asset_id, check=False)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert client.get(f"/api/dataplane/metadata/{asset_id}").status_code == 200
    mie(server, "asset", "delete", asset_id, "--yes")
    assert client.get(f"/api/dataplane/metadata/{asset_id}").status_code == 404


def test_mie_run_analyses_a_folder_recursively(server: MieServer, workflow: str, tone: Path, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    (folder / "day 2").mkdir(parents=True)
    (folder / ".cache").mkdir()
    shutil.copy(tone, folder / "a.wav")
    shutil.copy(tone, folder / "day 2" / "b.wav")
    shutil.copy(tone, folder / ".cache" / "hidden.wav")
    (folder / "notes.txt").write_text("not media")
    proc = mie(server, "run", str(folder), "--workflow", workflow, "--json", "--timeout", "60")
    runs = json.loads(proc.stdout)
    assert sorted(Path(r["file"]).name for r in runs) == ["a.wav", "b.wav"]
    assert all(find(r, "Status") == "Complete" for r in runs), runs
    text = mie(server, "run", str(folder), "--workflow", workflow, "--timeout", "60").stdout
    assert "a.wav" in text
    assert "b.wav" in text
    assert "2 executions: 2 Complete" in text
    assert "/assets/" in text  # each file's link to its asset page


SMALL_JOB = {
    "Settings": {
        "Inputs": [{"FileInput": "s3://replaced/by/mie.mp4"}],
        "OutputGroups": [
            {
                "Name": "File Group",
                "OutputGroupSettings": {
                    "Type": "FILE_GROUP_SETTINGS",
                    "FileGroupSettings": {"Destination": "s3://<MEDIABUCKET>/MP4/"},
                },
                "Outputs": [
                    {
                        "NameModifier": "_small",
                        "ContainerSettings": {"Container": "MP4"},
                        "VideoDescription": {
                            "Width": 160,
                            "Height": 90,
                            "CodecSettings": {"Codec": "H_264", "H264Settings": {"Bitrate": 200000}},
                        },
                    }
                ],
            }
        ],
    }
}


def test_job_commands_transcode_a_file(server: MieServer, client: httpx.Client, tmp_path: Path) -> None:
    clip = tmp_path / "bars clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-c:v", "libx264",
         "-preset", "veryfast", "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )  # fmt: skip
    settings = tmp_path / "small.json"
    settings.write_text(json.dumps(SMALL_JOB))
    proc = mie(server, "job", "create", str(clip), "--settings", str(settings), "--wait", "--timeout", "60", "--json")
    job = json.loads(proc.stdout)
    assert job["status"] == "COMPLETE", job
    outputs = job["outputGroupDetails"][0]["outputDetails"][0]["outputFilePaths"]
    assert outputs == ["s3://media/bars clip/small/MP4/bars clip_small.mp4"]  # the watch folder's layout
    assert job["userMetadata"]["settings"] == "small"
    listed = mie(server, "job", "list").stdout
    assert job["id"] in listed
    assert "bars clip.mp4" in listed  # the input's file name
    assert "COMPLETE" in mie(server, "job", "list", "--status", "complete").stdout
    assert job["id"] not in mie(server, "job", "list", "--status", "ERROR").stdout
    shown = mie(server, "job", "show", job["id"], "--events").stdout
    assert "bars clip_small.mp4" in shown
    assert "INPUT_INFORMATION" in shown
    refused = mie(server, "job", "cancel", job["id"], check=False)
    assert refused.returncode == 1
    assert "already" in refused.stderr or "ended" in refused.stderr, refused.stderr
    missing = mie(server, "job", "show", "no-such-job", check=False)
    assert missing.returncode == 1
    assert "no-such-job" in missing.stderr
