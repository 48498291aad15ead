"""A read-only key in a real browser (Debian's chromium through Playwright) against a real ``mie serve``: it signs
in, browses the pages, sees no write action, and the writes it forges from the page (the API call the delete button
would make, a hand-made form post with the session's own CSRF token) are refused with 403 and change nothing.
tests/unit/test_web_readonly.py covers every write route in process."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import FAST_ENV, MieServer
from tests.e2e.test_web_ui import playwright_browser  # noqa: F401 (the fixture)
from tests.helpers import upload

pytestmark = pytest.mark.e2e

READ_KEY = "read-only-e2e-key-0123456789"


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {**FAST_ENV, "MIE_API_KEYS_READONLY": READ_KEY}


@pytest.fixture(scope="module")
def asset_id(client: httpx.Client) -> str:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=85)
    upload(client, "upload/readonly/astronaut.jpg", buffer.getvalue())
    created = client.post(
        "/api/dataplane/create",
        json={"Input": {"S3Bucket": "dataplane", "S3Key": "upload/readonly/astronaut.jpg", "MediaType": "Image"}},
    )
    assert created.status_code == 200, created.text
    return str(created.json()["AssetId"])


@pytest.fixture(scope="module")
def console_errors() -> list[str]:
    """Errors the pages logged over the module."""
    return []


@pytest.fixture(scope="module")
def refused() -> list[str]:
    """The requests of the module's pages answered 4xx or 5xx."""
    return []


@pytest.fixture(scope="module")
def page(
    playwright_browser: Any,  # noqa: F811
    server: MieServer,
    console_errors: list[str],
    refused: list[str],
) -> Iterator[Any]:
    ctx = playwright_browser.new_context(base_url=server.base_url, viewport={"width": 1200, "height": 820})
    ctx.set_default_timeout(20_000)
    ctx.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    ctx.on("weberror", lambda error: console_errors.append(str(error.error)))

    def note(response: Any) -> None:
        # Every failed request by its status, method and path (the console's own messages do not name the URL).
        if response.status >= 400:
            refused.append(f"{response.status} {response.request.method} {response.url.split('/', 3)[-1]}")

    ctx.on("response", note)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def test_read_only_key_signs_in_and_browses(page: Any, server: MieServer, asset_id: str) -> None:
    page.goto("/people")
    page.fill("#key", READ_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base_url}/people")
    assert page.locator(".top .badge").inner_text() == "read-only"
    page.goto("/")
    page.locator(f".card[data-asset='{asset_id}'] img").wait_for()
    assert page.locator(f".card[data-asset='{asset_id}'] img").evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.locator("#upload").count() == 0
    assert page.locator("#files").count() == 0
    assert page.locator("#read-only-notice").is_visible()
    page.goto(f"/assets/{asset_id}")
    page.wait_for_function("player.complete && player.naturalWidth > 0")
    for action in ("#delete", "#rerun", "#rerun-workflow", "text=Configure…"):
        assert page.locator(action).count() == 0, action
    page.goto(f"/workflows?name=CasImageWorkflow&asset={asset_id}")
    assert page.locator("#start input[data-op=textDetectionImage][data-key=Enabled]").is_disabled()
    assert page.locator("#start select[name=asset]").is_disabled()
    assert page.locator("#start button[type=submit]").count() == 0
    for path in ("/executions", "/jobs", "/search?q=astronaut"):
        page.goto(path)
        page.wait_for_load_state("load")


def test_forged_writes_are_refused(page: Any, client: httpx.Client, asset_id: str) -> None:
    page.goto(f"/assets/{asset_id}")
    # What the delete button would send, from the page itself, with the session's CSRF token.
    status = page.evaluate(
        """async (id) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const init = { method: "DELETE", headers: { "X-CSRF-Token": csrf } };
            const r = await fetch("/api/dataplane/metadata/" + id, init);
            return [r.status, (await r.json()).Message];
        }""",
        asset_id,
    )
    assert status[0] == 403
    assert "read-only" in status[1]
    # A form post made by hand (no script, so no header: the token in a field, as a forged HTML form would carry it).
    with page.expect_response(lambda r: r.url.endswith("/api/workflow/execution")) as answered:
        page.evaluate(
            """(id) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = "/api/workflow/execution";
                for (const [k, v] of [["csrf_token", document.querySelector('meta[name="csrf-token"]').content],
                                      ["Name", "CasImageWorkflow"], ["AssetId", id]]) {
                    const input = document.createElement("input");
                    input.name = k;
                    input.value = v;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            asset_id,
        )
    assert answered.value.status == 403
    assert client.get(f"/api/dataplane/metadata/{asset_id}").status_code == 200
    assert client.get(f"/api/workflow/execution/asset/{asset_id}").json() == []


def test_read_only_session_signs_out(
    page: Any, server: MieServer, asset_id: str, console_errors: list[str], refused: list[str]
) -> None:
    page.goto("/")
    page.click("text=Sign out")
    page.wait_for_url(f"{server.base_url}/login")
    page.goto("/")
    assert "/login" in page.url
    # Over the module: the only failed requests are the two refused writes, and no script error.
    assert refused == [f"403 DELETE api/dataplane/metadata/{asset_id}", "403 POST api/workflow/execution"], refused
    assert all("403" in text for text in console_errors), console_errors
