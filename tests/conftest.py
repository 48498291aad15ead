"""Fixtures: an engine on a temporary data directory, and an in-process HTTP client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mie.bootstrap import Services, build
from mie.config import Settings, load_settings
from tests.helpers import API_KEY


def fast_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings with short timers so async monitors and retries run in milliseconds."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "api_key": API_KEY,
        "monitor_interval": 0.05,
        "monitor_interval_max": 0.2,
        "retry_interval": 0.01,
        "workers": 4,
        # The tests' webhook receivers and HTTP operators listen on loopback, which is refused by default.
        "outbound_allow": "127.0.0.1",
    }
    values.update(overrides)
    # Automatic analysis would start the default workflows on test assets a few seconds after they are created;
    # semantic search would load MiniLM (15-30 s of CPU) in every test process (test_semantic_search.py turns it on).
    return load_settings(environ={"MIE_AUTO_ANALYZE": "off", "MIE_SEARCH_SEMANTIC": "off"}, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path / "data")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build(settings)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(services.app(), headers={"x-api-key": API_KEY}) as test_client:
        yield test_client
