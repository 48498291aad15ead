"""Browser sessions of the web UI: sign in with the API key once, then a signed, expiring cookie.

* The cookie ``mie_session`` holds ``<expires>.<nonce>.<signature>``: an HMAC-SHA256 over expiry and nonce with a
  secret derived from the API key (as the URL signer's is), so changing the key signs every browser out and every
  node that shares the key accepts the same sessions. It is ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the UI
  is served over https, and expires after :data:`SESSION_SECONDS`.
* A read-only key (``MIE_API_KEYS_READONLY``) signs in too: its cookie is signed with a secret derived from that
  key over a message marked ``read``, so removing the key signs its browsers out and a read-only cookie can never be
  read as an admin one. A read-only session may read (GET/HEAD) only; any write it sends is 403, whatever the form.
* Cross-site request forgery: a state-changing request (anything but GET/HEAD/OPTIONS) authorised by the cookie must
  carry the session's CSRF token in ``X-CSRF-Token`` (or the form field ``csrf_token``); the token is an HMAC of the
  session's nonce, which the pages receive in a ``<meta>`` tag and a cross-site page cannot read. A request whose
  ``Origin`` names another host is refused as well.
* Requests that carry their own credentials (``x-api-key``, ``Authorization``) never look at the cookie: API
  clients are unaffected.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from mie.errors import ForbiddenError

COOKIE = "mie_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
#: How long a sign-in lasts.
SESSION_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: What a read-only session may send (as a read-only API key: mie.api.auth.READ_METHODS).
_READ_METHODS = frozenset({"GET", "HEAD"})
Scope = Literal["admin", "read"]


@dataclass(frozen=True)
class Session:
    """A valid session: when it ends, its CSRF token and what it may do (``admin``, or ``read`` for a read-only key)."""

    expires: int
    nonce: str
    csrf: str
    scope: Scope = "admin"

    @property
    def read_only(self) -> bool:
        """True for a session signed in with a read-only key."""
        return self.scope == "read"


def _secret(api_key: str) -> bytes:
    return hashlib.sha256(b"mie-web-session\x00" + api_key.encode()).digest()


def _mac(api_key: str, message: str) -> str:
    return hmac.new(_secret(api_key), message.encode(), hashlib.sha256).hexdigest()


def _signed(body: str, scope: Scope) -> str:
    """What a cookie's signature covers: admin cookies sign ``expires.nonce`` alone (as before scopes existed)."""
    return body if scope == "admin" else f"{body}\x00{scope}"


def _csrf(key: str, nonce: str, scope: Scope) -> str:
    return _mac(key, _signed(f"csrf\x00{nonce}", scope))


def new_cookie(api_key: str, now: float | None = None, scope: Scope = "admin") -> tuple[str, Session]:
    """A fresh cookie value and its session, signed with ``api_key`` (the admin key, or the read-only key used)."""
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    nonce = secrets.token_urlsafe(18)
    body = f"{expires}.{nonce}"
    return f"{body}.{_mac(api_key, _signed(body, scope))}", Session(expires, nonce, _csrf(api_key, nonce, scope), scope)


def read_cookie(
    value: str | None, api_key: str, now: float | None = None, readonly_keys: Sequence[str] = ()
) -> Session | None:
    """The session of a cookie value, or None when it is missing, tampered with or expired. A cookie signed with
    ``api_key`` is an admin session; one signed with one of ``readonly_keys`` a read-only one."""
    if not value or value.count(".") != 2:
        return None
    expires_text, nonce, signature = value.split(".")
    body = f"{expires_text}.{nonce}"
    candidates: list[tuple[str, Scope]] = [(api_key, "admin"), *((k, "read") for k in readonly_keys)]
    found: tuple[str, Scope] | None = None
    for key, scope in candidates:  # every candidate is compared (no early exit), each in constant time
        if hmac.compare_digest(_mac(key, _signed(body, scope)), signature) and found is None:
            found = (key, scope)
    if found is None:
        return None
    try:
        expires = int(expires_text)
    except ValueError:
        return None
    if expires < (now if now is not None else time.time()):
        return None
    return Session(expires, nonce, _csrf(found[0], nonce, found[1]), found[1])


def current(conn: HTTPConnection, api_key: str, readonly_keys: Sequence[str] = ()) -> Session | None:
    """The request's session, if its cookie is valid."""
    return read_cookie(conn.cookies.get(COOKIE), api_key, readonly_keys=readonly_keys)


def check_key(given: str, api_key: str, readonly_keys: Sequence[str] = ()) -> Scope | None:
    """The scope of a key typed on the sign-in page (every key compared in constant time), None when it is none."""
    found: Scope | None = None
    given_bytes = given.encode()
    candidates: list[tuple[str, Scope]] = [(api_key, "admin"), *((k, "read") for k in readonly_keys)]
    for key, scope in candidates:
        if key and hmac.compare_digest(given_bytes, key.encode()) and found is None:
            found = scope
    return found


def split_keys(raw: str) -> tuple[str, ...]:
    """The keys of a comma-separated setting such as ``MIE_API_KEYS_READONLY``."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def is_https(conn: HTTPConnection, public_url: str | None = None) -> bool:
    """Whether the browser talks https to us (directly, through ``MIE_PUBLIC_URL``, or a proxy that says so)."""
    if conn.url.scheme == "https" or (public_url or "").lower().startswith("https:"):
        return True
    return conn.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https"


def set_cookie(response: Response, value: str, *, secure: bool) -> None:
    """Attach the session cookie."""
    response.set_cookie(COOKIE, value, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="lax", secure=secure)


def clear_cookie(response: Response, *, secure: bool) -> None:
    """Sign out: expire the cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


def same_origin(conn: HTTPConnection) -> bool:
    """False when the request says it comes from a page of another origin (``Origin``, else ``Referer``)."""
    origin = conn.headers.get("origin") or conn.headers.get("referer")
    if not origin or origin == "null":
        # No header: not a cross-site browser request we can tell apart (browsers send Origin on cross-site
        # POSTs); the CSRF token still has to match.
        return origin != "null"
    # Host as the browser sent it (a reverse proxy passes it on; X-Forwarded-Host is not trusted, as for signed URLs).
    return urlsplit(origin).netloc.lower() == conn.headers.get("host", "").strip().lower()


def check_csrf(request: Request, session: Session, form_token: str | None = None) -> None:
    """403 unless a state-changing request carries the session's CSRF token and no foreign ``Origin``."""
    if request.method in _SAFE_METHODS:
        return
    if not same_origin(request):
        raise ForbiddenError("cross-site request refused: the Origin of this request is not this server")
    given = request.headers.get(CSRF_HEADER) or form_token or ""
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise ForbiddenError(
            f"missing or wrong CSRF token: a request signed in with the session cookie must send {CSRF_HEADER}"
        )


def has_credentials(request: HTTPConnection) -> bool:
    """True when the request brings its own credentials (API key, Authorization header, SigV4 presigned query)."""
    return (
        "x-api-key" in request.headers
        or "authorization" in request.headers
        or "X-Amz-Signature" in request.query_params
    )


def check_scope(request: HTTPConnection, session: Session) -> None:
    """403 for a write by a read-only session (the same answer as for a read-only API key)."""
    method = request.scope.get("method", "GET")
    if session.read_only and method not in _READ_METHODS:
        raise ForbiddenError(
            f"this session is read-only (signed in with a read-only key): it may {' and '.join(sorted(_READ_METHODS))}"
            " only"
        )


def authorise(request: Request, api_key: str, readonly_keys: Sequence[str] = ()) -> bool:
    """The hook of the API's key check: True when the request is authorised by a valid session cookie (and, for a
    state-changing request, its CSRF token); False when it has no session, so the key check goes on. Requests with
    their own credentials are left to the key check. Raises 403 for a session request that fails the CSRF check,
    and for any write of a read-only session."""
    if has_credentials(request):
        return False
    session = current(request, api_key, readonly_keys)
    if session is None:
        return False
    check_csrf(request, session)
    check_scope(request, session)
    return True
