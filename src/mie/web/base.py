"""What every page needs: the engine's services, the templates, and the signed-in check.

``web`` sits beside ``api`` (DESIGN.md §2) and may not import it nor the composition root, so the services attached
to the app are described here by the attributes the pages use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from fastapi.templating import Jinja2Templates
from starlette.requests import HTTPConnection, Request

from mie.config import Settings
from mie.consumers.search import SearchIndexer
from mie.dataplane.changes import ChangeLog
from mie.dataplane.service import DataPlane
from mie.engine.catalog import Catalog
from mie.engine.executions import Executions
from mie.jobs.component import JobsComponent
from mie.storage.people import People
from mie.web import session

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"


class WebServices(Protocol):
    """The parts of ``mie.bootstrap.Services`` the pages read."""

    settings: Settings
    changes: ChangeLog
    dataplane: DataPlane
    catalog: Catalog
    executions: Executions
    api_key: str
    people: People | None

    @property
    def search(self) -> SearchIndexer | None:
        """The search and media indexer, when it runs on this server."""

    @property
    def jobs(self) -> JobsComponent | None:
        """The transcode jobs, when they run on this server."""


class SignInRequiredError(Exception):
    """Raised by a page when the browser has no valid session: answered with a redirect to the sign-in page."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def services(conn: HTTPConnection) -> WebServices:
    """The services of the running app."""
    found: WebServices = conn.app.state.services
    return found


def indexer(conn: HTTPConnection) -> SearchIndexer | None:
    """The search indexer, when it runs on this server."""
    return services(conn).search


def readonly_keys(conn: HTTPConnection) -> tuple[str, ...]:
    """The read-only API keys (``MIE_API_KEYS_READONLY``): they sign in to read-only sessions."""
    return session.split_keys(services(conn).settings.api_keys_readonly)


def current_session(conn: HTTPConnection) -> session.Session | None:
    """The browser's session (admin or read-only), if its cookie is valid."""
    return session.current(conn, services(conn).api_key, readonly_keys(conn))


def require_session(request: Request) -> session.Session:
    """The browser's session; otherwise :class:`SignInRequiredError` (a redirect to ``/login?next=<this page>``)."""
    svc = services(request)
    found = current_session(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequiredError(target)
    # Where the change feed stands before the page reads anything: its live updates start from here, so a change
    # made while the page is rendered and its script connects is not missed.
    request.state.change_seq = svc.changes.last_seq()
    return found


def authorised(conn: HTTPConnection) -> bool:
    """A session cookie or an API key (admin or read-only) in a header, for the routes that only read (media,
    captions, events)."""
    if current_session(conn) is not None:
        return True
    given = conn.headers.get("x-api-key") or ""
    return bool(given) and session.check_key(given, services(conn).api_key, readonly_keys(conn)) is not None


def shown_status(status: Any, message: Any) -> str:
    """The status for people: a cancelled execution ends ``Error`` in MIE's terms, but is no failure."""
    if status == "Error" and isinstance(message, str) and message.startswith("Cancelled"):
        return "Cancelled"
    return str(status or "")


def media_url(bucket: str, key: str) -> str:
    """Where the pages fetch an object with the session cookie (names with spaces or unicode escaped)."""
    return f"/media/{quote(bucket, safe='')}/{quote(key)}"


#: Every page may load only from this server: the browser itself enforces "nothing from the internet". ``blob:``
#: is for hls.js (Media Source buffers, its worker) and JSON downloads made in the page; ``data:`` for Swagger UI's
#: inline icons; inline styles for Swagger UI.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["media_url"] = media_url
