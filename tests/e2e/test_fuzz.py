"""Schema fuzzing: every operation of the published OpenAPI document (``/api/openapi.json``), fed schemathesis'
generated requests (valid ones and ones that break the schema) against a real ``mie serve``, never answers 5xx.

Two passes: one with the API key, so that requests reach the handlers, and a small one without it, which must be
refused (401) on every route that needs the key and never be a server error. Hypothesis is derandomized (the same
requests on every run, so a CI failure reproduces) and bounded: ``MIE_TEST_FUZZ_EXAMPLES`` (default 8) examples per
operation and generation mode (about 1,700 requests: a minute on two idle cores, 3 minutes loaded). Deeper:
``MIE_TEST_FUZZ_EXAMPLES=100 pytest tests/e2e/test_fuzz.py``. Any 5xx found is a bug to fix with a regression test
(tests/unit/test_fuzz_findings.py lists the ones found so far).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import FAST_ENV, MieServer
from tests.helpers import API_KEY

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("MIE_TEST_FUZZ_EXAMPLES", "8"))
#: Examples per operation without the key: the refusal happens before any handler runs, so few are needed.
UNAUTHENTICATED_EXAMPLES = 2

#: Routes answered without the API key: the index, the version, the OpenAPI document and the signed object routes
#: (their signature is the credential; an unsigned request is 403 there).
PUBLIC_PATHS = {"/api/", "/api/version", "/api/dataplane/objects/upload", "/api/dataplane/objects/{bucket}/{key}"}

#: The one documented 5xx: ``/api/service/{rest}`` answers 501 for the MIE service routes this engine does not serve
#: (docs/api.md, "/api/service/..."). Any other 5xx fails the test.
FALLBACK_PATH = "/api/service/{rest}"

#: What every response must pass: no server error, and a body that matches what the document declares for its
#: status (the error shape ``{"Code", "Message"}`` included).
CHECKS = [not_a_server_error, response_schema_conformance]

SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,  # the server shares two cores with other work: timing is not what this test checks
    derandomize=True,  # the same requests on every run, so that a CI failure reproduces locally
    database=None,  # and no example database carried from run to run
    suppress_health_check=list(hypothesis.HealthCheck),
    # No shrinking: one request per failure is enough to reproduce it, and shrinking costs minutes.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
)


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    # No brake on failed authentications: the unauthenticated pass makes hundreds of them on purpose, and the brake
    # (429 for every later request from 127.0.0.1) would hide what the routes answer.
    return {**FAST_ENV, "MIE_AUTH_FAILURE_BURST": "0"}


@pytest.fixture(scope="module")
def http(server: MieServer) -> Iterator[requests.Session]:
    """A requests session straight to the local server (no proxy from the environment)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture(scope="module")
def api_schema(server: MieServer, http: requests.Session) -> Any:
    """The server's published OpenAPI document, as schemathesis loads it."""
    loaded = http.get(f"{server.base_url}/api/openapi.json", timeout=30)
    assert loaded.status_code == 200, loaded.text
    schema = schemathesis.openapi.from_dict(loaded.json())
    schema.config.update(base_url=server.base_url, request_timeout=30)
    return schema


def _fit_for_fuzzing(case: Any) -> None:
    """Keep the long poll of the change feed short: ``GET /api/dataplane/changes?wait=N`` legitimately holds the
    request for up to 60 s when nothing happens (tests/e2e/test_long_polls.py tests that); the fuzzer would spend its
    whole budget waiting. Values the schema refuses are kept, so that their 422 is still checked."""
    if case.operation.path == "/api/dataplane/changes" and isinstance(case.query, dict) and "wait" in case.query:
        try:
            wait = float(case.query["wait"])
        except (TypeError, ValueError):
            return
        if 0 < wait <= 60:
            case.query["wait"] = 0.05


def _documented_501(case: Any, response: requests.Response) -> bool:
    if case.operation.path != FALLBACK_PATH or response.status_code != 501:
        return False
    body = response.json()
    return isinstance(body, dict) and body.get("Code") == "NotImplementedError"


def _problem(case: Any, response: requests.Response) -> str | None:
    """What is wrong with ``response`` (None when nothing): a 5xx (other than the documented 501), or a failed check."""
    if _documented_501(case, response):
        return None
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    try:
        case.validate_response(response, checks=CHECKS)
    except (AssertionError, BaseExceptionGroup) as exc:
        return f"{response.status_code}: {exc!s:.300}"
    return None


class Fuzzer:
    """Sends generated requests and collects the problems of their responses (each with a curl command that
    reproduces it). Every operation is fuzzed to the end, so that one run lists every failing route, not the first."""

    def __init__(
        self,
        session: requests.Session,
        *,
        examples: int,
        headers: dict[str, str] | None,
        expect: Callable[[Any, requests.Response], str | None] = lambda case, response: None,
    ) -> None:
        self.session = session
        self.examples = examples
        self.headers = headers
        self.expect = expect
        self.sent: dict[str, int] = {}
        self.found: list[str] = []

    def run(self, schema: Any, modes: tuple[GenerationMode, ...]) -> None:
        """``examples`` requests per operation of ``schema`` and generation mode."""
        for result in schema.get_all_operations():
            operation = result.ok()  # an operation the document defines badly raises here, which fails the test
            for mode in modes:
                self.run_operation(operation, mode)

    def run_operation(self, operation: Any, mode: GenerationMode) -> None:
        @hypothesis.settings(SETTINGS, max_examples=self.examples)
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def one(case: Any) -> None:
            self.send(case, f"{operation.label} ({mode})")

        try:
            one()
        except hypothesis.errors.Unsatisfiable:
            # An operation without parameters or body has nothing a negative mode could break.
            assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no {mode} request can be generated"

    def send(self, case: Any, label: str) -> None:
        _fit_for_fuzzing(case)
        if self.headers is None and case.headers:
            # Generated credentials (an Authorization header from the Bearer scheme) are dropped too: no key at all.
            for name in [h for h in case.headers if h.lower() in ("x-api-key", "authorization")]:
                del case.headers[name]
        response = case.call(session=self.session, headers=self.headers)
        self.sent[case.operation.label] = self.sent.get(case.operation.label, 0) + 1
        problem = _problem(case, response) or self.expect(case, response)
        if problem is not None:
            self.found.append(f"{label} {problem}\n    {case.as_curl_command()[:2000]}")

    def report(self, schema: Any) -> None:
        """Fail with every problem found; and make sure every operation was sent something."""
        total = sum(self.sent.values())
        assert not self.found, f"{len(self.found)} of {total} requests failed:\n" + "\n".join(self.found)
        missed = [r.ok().label for r in schema.get_all_operations() if r.ok().label not in self.sent]
        assert not missed, f"no request was sent to {missed}"


@pytest.mark.timeout(900)
def test_no_request_is_a_server_error(api_schema: Any, http: requests.Session) -> None:
    fuzzer = Fuzzer(http, examples=EXAMPLES, headers={"x-api-key": API_KEY})
    fuzzer.run(api_schema, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
    fuzzer.report(api_schema)


def _refused(case: Any, response: requests.Response) -> str | None:
    if case.operation.path in PUBLIC_PATHS or response.status_code == 401:
        return None
    return f"{response.status_code} without a key (expected 401): {response.text[:300]}"


@pytest.mark.timeout(300)
def test_without_the_key_every_private_route_is_refused(api_schema: Any, http: requests.Session) -> None:
    fuzzer = Fuzzer(http, examples=UNAUTHENTICATED_EXAMPLES, headers=None, expect=_refused)
    fuzzer.run(api_schema, (GenerationMode.POSITIVE,))
    fuzzer.report(api_schema)
