"""Fixtures for the e2e tier: a real ``mie serve`` subprocess on a free port, driven over HTTP with httpx.

Each test module gets its own server (and data directory) so that system configuration such as
``MaxConcurrentWorkflows`` set by one module cannot leak into another. A module that needs other settings overrides
the ``server_env`` fixture. Every server is stopped with SIGTERM at the end and must exit 0 within a few seconds with
no traceback in its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import API_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Timers short enough that async monitors and retries run in milliseconds.
FAST_ENV = {
    "MIE_API_KEY": API_KEY,
    "MIE_MONITOR_INTERVAL": "0.05",
    "MIE_MONITOR_INTERVAL_MAX": "0.2",
    "MIE_RETRY_INTERVAL": "0.01",
    "MIE_WORKERS": "4",
    "MIE_LOG_LEVEL": "info",
    # No default workflows started on test assets behind the tests' backs (tests/unit/test_media_query.py covers it).
    "MIE_AUTO_ANALYZE": "off",
    # No MiniLM load (15-30 s of CPU) in every server (tests/unit/test_semantic_search.py covers semantic search).
    "MIE_SEARCH_SEMANTIC": "off",
    # The tests' webhook receivers and HTTP operators listen on loopback, which the server refuses by default.
    "MIE_OUTBOUND_ALLOW": "127.0.0.1",
}

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: Log lines that betray a server-side failure: a 500, a crashed scheduler step, any traceback.
PROBLEM_SIGNS = ("Traceback", "unhandled error", "server error", "scheduler step failed")
#: Expected 5xx: the /service routes answer 501 until the speech issue.
EXPECTED_5XX = ("is not available in this version of the engine",)


def problems(log: str) -> list[str]:
    """The log lines that show a server-side failure."""
    return [
        line
        for line in log.splitlines()
        if any(sign in line for sign in PROBLEM_SIGNS) and not any(ok in line for ok in EXPECTED_5XX)
    ]


class MieServer:
    """One ``mie serve`` process (restartable on the same data directory) and an authenticated client for it."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = data_dir.parent / f"{data_dir.name}-server-0.log"
        self.client = httpx.Client(headers={"x-api-key": API_KEY}, timeout=15.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MieServer:
        """Start the server on a fresh port and wait until ``GET /api/`` answers."""
        assert self.proc is None or self.proc.poll() is not None, "the server is already running"
        self.starts += 1
        self.port = free_port()
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server-{self.starts}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *self.command(),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                cwd=REPO_ROOT,
                env=self.process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.client.base_url = httpx.URL(self.base_url)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"mie serve exited with {self.proc.returncode} at start-up:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/api/", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"mie serve did not answer within {STARTUP_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.05)

    @staticmethod
    def command() -> list[str]:
        """How to run ``mie``: the installed script next to this interpreter, else its ``main()``."""
        script = Path(sys.executable).with_name("mie")
        if script.exists():
            return [sys.executable, str(script)]
        return [sys.executable, "-c", "from mie.cli.main import main; main()"]

    def process_env(self) -> dict[str, str]:
        """The server's environment: ours without MIE_* variables, plus this server's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIE_")}
        env.update(self.env)
        # The server imports python: operator handlers such as tests.e2e.bad_ops from the checkout.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def log(self) -> str:
        """What the current (or last) process wrote."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT, sig: int = signal.SIGTERM) -> float:
        """Signal, then assert a clean exit: status 0, within ``timeout``, no traceback. Returns the seconds taken."""
        assert self.proc is not None, "the server was never started"
        assert self.proc.poll() is None, f"the server is not running (exit {self.proc.returncode}):\n{self.log()}"
        began = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mie serve did not stop within {timeout} s of signal {sig}:\n{self.log()}") from None
        took = time.monotonic() - began
        log = self.log()
        assert code == 0, f"mie serve exited with {code} after signal {sig}:\n{log}"
        assert not problems(log), f"the server log shows problems:\n{log}"
        assert "mie stopped" in log, f"the server did not finish its shutdown:\n{log}"
        return took

    def kill(self) -> None:
        """SIGKILL (``kill -9``) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        self.client.close()


@pytest.fixture(scope="session", autouse=True)
def _direct_to_localhost() -> Iterator[None]:
    """Keep any HTTP proxy of the environment out of the way of requests to the local server."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("NO_PROXY", "no_proxy"):
            mp.setenv(name, ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get(name)])))
        yield


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Environment of this module's server (override in a module for other settings)."""
    return dict(FAST_ENV)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]) -> Iterator[MieServer]:
    """A running server for the whole module, stopped cleanly (and checked) at the end."""
    srv = MieServer(tmp_path_factory.mktemp("e2e") / "data", server_env)
    try:
        srv.start()
        yield srv
        if srv.running:
            srv.stop()
        else:
            raise AssertionError(f"the server died during the module:\n{srv.log()}")
    finally:
        srv.close()


@pytest.fixture(scope="module")
def client(server: MieServer) -> httpx.Client:
    """An httpx client for the module's server that sends the API key."""
    return server.client


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., MieServer]]:
    """Factory of extra servers on their own data directory (stopped cleanly at the end of the test)."""
    started: list[MieServer] = []

    def _launch(**env: str) -> MieServer:
        srv = MieServer(tmp_path / f"data{len(started)}", {**FAST_ENV, **env})
        started.append(srv)
        return srv.start()

    try:
        yield _launch
        for srv in started:
            if srv.running:
                srv.stop()
    finally:
        for srv in started:
            srv.close()
