"""The CLI's HTTP client: where the server is, which key to send, and errors a person can act on.

Every command except ``serve``, ``migrate``, ``config`` and ``version`` talks to a running ``mie serve`` over its
REST API (never to the database it holds). The server is found from ``--url`` / ``MIE_URL`` (else the
``MIE_HOST``/``MIE_PORT`` the server would use, else ``http://127.0.0.1:8080``); the key from ``--api-key`` /
``MIE_API_KEY`` / the ``api-key`` file ``mie serve`` writes into its data directory.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn, ParamSpec, TypeVar

import httpx
import typer
from rich.console import Console

from mie.config import Settings, load_settings
from mie.errors import MieError

DEFAULT_URL = "http://127.0.0.1:8080"
#: Page size asked for when following ``limit``/``next`` pagination.
PAGE_SIZE = 200

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="MIE_URL",
        show_envvar=True,
        help="base URL of the mie server \\[default: http://MIE_HOST:MIE_PORT, i.e. http://127.0.0.1:8080]",
        rich_help_panel="Connection",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="API key \\[default: MIE_API_KEY, else the file <data-dir>/api-key]",
        rich_help_panel="Connection",
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="the server's data directory, read for its api-key file \\[env MIE_DATA_DIR; default ./mie-data]",
        rich_help_panel="Connection",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


class CliError(Exception):
    """A failure to report as ``error: <message>`` (exit 1; 2 for usage errors)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class ApiError(CliError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit."""
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(exit_code)


def escape(text: str) -> str:
    """Text with Rich markup neutralised."""
    from rich.markup import escape as _escape

    return _escape(text)


def guarded(function: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`CliError` (and settings errors) raised by a command into ``error: ...`` and its exit code."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except CliError as exc:
            fail(exc.message, exc.exit_code)
        except MieError as exc:  # settings that cannot be read
            fail(exc.message, 2)

    return wrapper


@dataclass(frozen=True)
class Connection:
    """Where the server is and which key to send (with where the key came from, for error messages)."""

    url: str
    api_key: str | None
    key_source: str
    key_file: Path
    #: Bucket files are uploaded to before the server moves them under their asset (``MIE_DATAPLANE_BUCKET``).
    bucket: str = "dataplane"


def normalize_url(url: str) -> str:
    """``http://h:p`` from what a person may type: ``h:p``, ``http://h:p/``, ``http://h:p/api/``."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    if url.endswith("/api"):
        url = url[: -len("/api")]
    return url


def resolve(
    url: str | None,
    api_key: str | None,
    data_dir: Path | None,
    environ: dict[str, str] | None = None,
) -> Connection:
    """Settle URL and key from options, environment (``MIE_*``, as the server reads it) and the key file."""
    env = dict(os.environ) if environ is None else environ
    settings: Settings = load_settings(environ=env, data_dir=data_dir)
    if url is None:
        url = env.get("MIE_URL") or None
    if url is None:
        host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        url = f"http://{host}:{settings.port}"
    url = normalize_url(url)
    key_file = settings.data_dir / "api-key"
    bucket = settings.dataplane_bucket
    if api_key:
        return Connection(url, api_key, "--api-key", key_file, bucket)
    if settings.api_key:
        return Connection(url, settings.api_key, "MIE_API_KEY", key_file, bucket)
    try:
        key = key_file.read_text().strip()
    except OSError:
        key = ""
    if key:
        return Connection(url, key, str(key_file), key_file, bucket)
    return Connection(url, None, "", key_file, bucket)


#: Tests point the CLI at an in-process app by setting this (an httpx transport); ``None`` means real HTTP.
transport_override: httpx.BaseTransport | None = None


class MieClient:
    """A thin wrapper of ``httpx.Client`` for the mie API: auth, error messages, pagination, uploads."""

    def __init__(self, connection: Connection, timeout: float = 30.0) -> None:
        self.connection = connection
        self.url = connection.url
        headers = {"user-agent": "mie-cli"}
        if connection.api_key:
            headers["x-api-key"] = connection.api_key
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport_override, follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MieClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Requests ----------------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send a request; raise :class:`CliError`/:class:`ApiError` with a useful message on failure."""
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = json_body
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.transport_error(exc) from exc
        if response.status_code >= 400:
            raise self.api_error(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any = None) -> Any:
        return _json_or_text(self.request("POST", path, json_body=body if body is not None else {}))

    def put(self, path: str, body: Any) -> Any:
        return _json_or_text(self.request("PUT", path, json_body=body))

    def delete(self, path: str) -> Any:
        return _json_or_text(self.request("DELETE", path))

    def pages(self, path: str, key: str | None = None, **params: Any) -> Iterator[Any]:
        """Every item of a paged listing, following ``X-Next-Token`` (bodies are lists, or ``{key: [...]}``)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            response = self.request("GET", path, params={**params, "limit": PAGE_SIZE, "next": token})
            body = response.json()
            items = body.get(key, []) if key is not None and isinstance(body, dict) else body
            if not isinstance(items, list):
                raise CliError(f"unexpected answer from GET {path}: {str(body)[:200]}")
            yield from items
            token = response.headers.get("x-next-token")
            if not token or token in seen:
                return
            seen.add(token)

    def upload(
        self,
        path: Path,
        bucket: str,
        key: str,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Upload a file as an MIE client does: ``POST /api/dataplane/upload`` for a form, then POST the form."""
        form = self.post("/api/dataplane/upload", {"S3Bucket": bucket, "S3Key": key})
        if not isinstance(form, dict) or "url" not in form or not isinstance(form.get("fields"), dict):
            raise CliError(f"unexpected answer from POST /api/dataplane/upload: {str(form)[:200]}")
        timeout = httpx.Timeout(30.0, read=600.0, write=600.0)
        # The signed form needs no API key; a plain client keeps the key away from whatever the URL names.
        with (
            httpx.Client(timeout=timeout, transport=transport_override) as plain,
            path.open("rb") as fh,
        ):
            reader: Any = _ProgressReader(fh, on_progress) if on_progress else fh
            try:
                response = plain.post(
                    form["url"],
                    data={str(k): str(v) for k, v in form["fields"].items()},
                    files={"file": (path.name, reader, "application/octet-stream")},
                )
            except httpx.TransportError as exc:
                raise CliError(f"uploading {path} to {form['url']} failed: {exc}") from exc
        if response.status_code >= 400:
            raise self.api_error(response, f"uploading {path} failed")

    # Errors ------------------------------------------------------------------------------------------------------

    def transport_error(self, exc: httpx.TransportError) -> CliError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return CliError(
                f"cannot reach mie at {self.url}: start it with `mie serve` "
                "(or point --url / MIE_URL at a running server)"
            )
        if isinstance(exc, httpx.TimeoutException):
            return CliError(f"mie at {self.url} did not answer in time ({type(exc).__name__})")
        return CliError(f"talking to mie at {self.url} failed: {exc or type(exc).__name__}")

    def api_error(self, response: httpx.Response, context: str = "") -> ApiError:
        status = response.status_code
        code, message = "", ""
        try:
            body = response.json()
        except ValueError:
            body = None
        from_mie = isinstance(body, dict) and isinstance(body.get("Message"), str)
        if isinstance(body, dict) and from_mie:
            code, message = str(body.get("Code", "")), body["Message"]
        else:
            text = response.text.strip()
            message = f"HTTP {status} from {response.request.method} {response.request.url.path}" + (
                f": {shorten_body(text)}" if text else ""
            )
        if status == 401 and code == "UnauthorizedError":
            message = self._auth_help(message)
        elif not from_mie and status in (401, 403, 404, 405):
            # Not mie's error body: the URL names another server (or a path in front of mie), not a bad key.
            message = (
                f"{self.url} does not answer like a mie server ({message}): check --url / MIE_URL "
                "(the address `mie serve` prints, without a path)"
            )
        if context:
            message = f"{context}: {message}"
        return ApiError(message, status, code)

    def _auth_help(self, server_message: str) -> str:
        conn = self.connection
        how = (
            "pass it with --api-key KEY, set MIE_API_KEY, or point --data-dir (MIE_DATA_DIR) at the server's data "
            "directory: `mie serve` keeps the key in <data-dir>/api-key"
        )
        if conn.api_key is None:
            return f"mie at {self.url} needs an API key and none was found (no {conn.key_file}): {how}"
        return f"mie at {self.url} refused the API key from {conn.key_source} ({server_message}): {how}"


class _ProgressReader:
    """A binary file that reports how many bytes were read (for an upload progress bar)."""

    def __init__(self, fh: IO[bytes], on_progress: Callable[[int], None]) -> None:
        self._fh = fh
        self._on_progress = on_progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size)
        if chunk:
            self._on_progress(len(chunk))
        return chunk

    def fileno(self) -> int:
        return self._fh.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()


def shorten_body(text: str, width: int = 200) -> str:
    """An error body on one short line (an HTML page is cut to its first characters)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_or_text(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def connect(url: str | None, api_key: str | None, data_dir: Path | None) -> MieClient:
    """The client for the options of a command."""
    return MieClient(resolve(url, api_key, data_dir))


T = TypeVar("T")


def for_each(items: Iterable[T], call: Callable[[T], R], report: Callable[[T, R], None]) -> int:
    """Call ``call`` on every item and ``report`` its answer; an API error is printed and counted, and the other
    items still go ahead. Returns how many failed (commands then exit 1)."""
    failed = 0
    for item in items:
        try:
            result = call(item)
        except ApiError as exc:
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            failed += 1
            continue
        report(item, result)
    return failed


def print_json(value: Any) -> None:
    """One JSON document on stdout (no Rich formatting, so it stays parseable)."""
    import sys

    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()
