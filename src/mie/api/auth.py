"""Who may call the API: API keys and SigV4 key pairs, each admin or read-only, and a brake on repeated 401s.

The state here (replay cache, failure buckets) lives in the process: several API nodes share none of it.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from fastapi import Request
from starlette.exceptions import HTTPException

from mie.api import sigv4
from mie.errors import ForbiddenError, TooLargeError, UnauthorizedError

if TYPE_CHECKING:
    from mie.api.deps import ApiServices

Scope = Literal["admin", "read"]
#: Methods a read-only credential may use.
READ_METHODS = frozenset({"GET", "HEAD"})


class FailureBrake:
    """A token bucket per client address that only authentication failures drain.

    Each address may fail ``burst`` times, then once per ``window / burst`` seconds; beyond that it is answered 429
    until a token is back. Nothing sleeps: a throttled request is refused at once, other addresses are untouched.
    At most ``max_clients`` addresses are remembered (the longest-quiet ones are forgotten first).
    """

    def __init__(
        self, burst: int, window: float, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = burst
        self._rate = burst / window if burst > 0 and window > 0 else 0.0
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """False when ``burst`` is 0: failures are never throttled."""
        return self._rate > 0

    def _tokens(self, client: str, now: float) -> float:
        tokens, since = self._buckets.get(client, (float(self._burst), now))
        return min(float(self._burst), tokens + (now - since) * self._rate)

    def retry_after(self, client: str) -> int | None:
        """Seconds ``client`` must wait before its next attempt, or None when it may try now."""
        if not self.enabled:
            return None
        with self._lock:
            tokens = self._tokens(client, self._clock())
        if tokens >= 1:
            return None
        return max(1, math.ceil((1 - tokens) / self._rate))

    def failed(self, client: str) -> None:
        """Take a token from ``client``'s bucket."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            tokens = self._tokens(client, now)
            self._buckets[client] = (max(0.0, tokens - 1), now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: which credential, and what it may do."""

    credential: str
    scope: Scope


class Authenticator:
    """The credentials of one app, built once from its services' settings."""

    def __init__(self, services: ApiServices) -> None:
        settings = services.settings
        self.api_keys: list[tuple[bytes, Scope]] = [(services.api_key.encode(), "admin")]
        self.api_keys += [(k.encode(), "read") for k in _split(settings.api_keys_readonly)]
        self.key_pairs: dict[str, tuple[str, Scope]] = {}
        if settings.sigv4_access_key_id:
            self.key_pairs[settings.sigv4_access_key_id] = (settings.sigv4_secret_access_key, "admin")
        if settings.sigv4_readonly_access_key_id:
            self.key_pairs[settings.sigv4_readonly_access_key_id] = (settings.sigv4_readonly_secret_access_key, "read")
        self.verifier = sigv4.Verifier(
            {k: secret for k, (secret, _) in self.key_pairs.items()},
            region=settings.sigv4_region,
            service=settings.sigv4_service,
            max_skew=settings.sigv4_max_skew_seconds,
        )
        self.brake = FailureBrake(settings.auth_failure_burst, settings.auth_failure_window)
        self.max_body = settings.max_body_bytes

    def check_key(self, given: str) -> Principal:
        """The principal of an API key; every configured key is compared, in constant time each."""
        found: Scope | None = None
        for key, scope in self.api_keys:
            if hmac.compare_digest(given.encode(), key) and found is None:
                found = scope
        if found is None:
            raise UnauthorizedError("The API key is not valid")
        return Principal("api-key", found)

    async def check_sigv4(self, request: Request, signed: sigv4.Signed) -> Principal:
        """The principal of a SigV4-signed request."""
        if not self.key_pairs:
            raise sigv4.SigV4Error("this server has no SigV4 key pair configured (MIE_SIGV4_ACCESS_KEY_ID)")
        body = await _read_body(request, self.max_body)
        raw = request.scope.get("mie.raw_path") or request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        checked = sigv4.Request(
            method=request.method,
            raw_path=raw.decode("latin-1") if isinstance(raw, bytes) else str(raw),
            query_string=query.decode("latin-1"),
            headers=request.headers.getlist,
            body=body,
        )
        key_id = self.verifier.verify(signed, checked)
        return Principal(f"sigv4:{key_id}", self.key_pairs[key_id][1])


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes, left cached on the request so that the route reads it again."""
    declared = request.headers.get("content-length")
    # A length of more than 18 digits is over any limit (and int() refuses more than 4300 digits).
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise TooLargeError(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's Request.body() caches the body in ``_body`` and Request.stream() replays it from there; setting it
    # is what lets the route (json_body, request.form()) read the body the signature check consumed.
    request._body = body
    return body


def authenticator(request: Request) -> Authenticator:
    """The app's authenticator, built on first use."""
    state = request.app.state
    found: Authenticator | None = getattr(state, "mie_auth", None)
    if found is None:
        found = Authenticator(state.services)
        state.mie_auth = found
    return found


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request) -> Principal:
    """The caller of ``request`` (API key or SigV4), allowed to use its method; 401, 403 or 429 otherwise."""
    auth = authenticator(request)
    client = _client(request)
    wait = auth.brake.retry_after(client)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many failed authentication attempts from {client}: retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        principal = await _principal(request, auth)
    except UnauthorizedError:
        auth.brake.failed(client)
        raise
    if principal.scope == "read" and request.method not in READ_METHODS:
        raise ForbiddenError(f"this credential is read-only: it may {' and '.join(sorted(READ_METHODS))} only")
    return principal


async def _principal(request: Request, auth: Authenticator) -> Principal:
    given = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization", "")
    if given is None and sigv4.is_sigv4_header(authorization):
        signed = sigv4.parse_authorization(authorization, request.headers.get("x-amz-date"))
        return await auth.check_sigv4(request, signed)
    if given is None and sigv4.is_presigned(request.query_params):
        return await auth.check_sigv4(request, sigv4.parse_presigned(request.query_params))
    if given is None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token:
            given = token.strip()
    if not given:
        raise UnauthorizedError("Missing API key: send it as 'x-api-key: KEY' or 'Authorization: Bearer KEY'")
    return auth.check_key(given)
