"""Webhooks: URL checks, the signature, and one HTTP POST.

Every request carries::

    Content-Type: application/json
    X-Mie-Event: execution | job
    X-Mie-Delivery: <delivery id; the same on every retry>
    X-Mie-Timestamp: <seconds since the epoch when this attempt was sent>
    X-Mie-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the subscription's secret>

A receiver recomputes the HMAC over the exact bytes it received (before parsing the JSON) and compares it in
constant time (:func:`verify`); it drops deliveries it has seen by ``X-Mie-Delivery`` (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

import mie
from mie.errors import InvalidError
from mie.operators.outbound import STRICT, OutboundPolicy, OutboundRefusedError

SIGNATURE_HEADER = "X-Mie-Signature"
TIMESTAMP_HEADER = "X-Mie-Timestamp"
DELIVERY_HEADER = "X-Mie-Delivery"
EVENT_HEADER = "X-Mie-Event"
MAX_URL_LENGTH = 2048


def check_url(url: object, outbound: OutboundPolicy = STRICT) -> str:
    """The URL of a webhook, or :class:`InvalidError` saying what is wrong with it (including a loopback, link-local
    or private target that ``MIE_OUTBOUND_ALLOW`` does not allow)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidError("Url must be a non-empty string such as 'https://example.com/hooks/mie'")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidError(f"Url is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidError("Url must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidError(f"Url {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidError(f"Url {url!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise InvalidError(f"Url {url!r} has an invalid port") from exc
    if parts.username is not None or parts.password is not None:
        raise InvalidError("Url must not carry credentials; use the signature (Secret) to authenticate deliveries")
    host = parts.hostname
    if not _valid_host(host):
        raise InvalidError(f"Url {url!r} has an invalid host {host!r}")
    outbound.check(url, "Url")
    return url


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and not label.startswith("-") and not label.endswith("-") for label in labels
    ) and all(all(c.isalnum() or c in "-_" for c in label) for label in labels)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Mie-Signature`` value of ``body``: ``sha256=<hex HMAC>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (an ``X-Mie-Signature`` value) signs ``body`` with ``secret`` (constant time)."""
    return hmac.compare_digest(sign(secret, body), signature.strip())


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: delivered (a 2xx answer), the HTTP status if any, and an error to log."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None


class WebhookSender:
    """POSTs signed JSON bodies (one ``httpx.Client``, shared by the sending threads; it is thread-safe)."""

    def __init__(self, timeout: float, outbound: OutboundPolicy = STRICT) -> None:
        self._outbound = outbound
        # No redirects: a 3xx is a failure the owner should fix, and following one would re-send the body elsewhere.
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"mie-webhooks/{mie.__version__}"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._http.is_closed

    def post(self, url: str, body: bytes, *, secret: str | None, delivery_id: str, event: str, now: float) -> Outcome:
        """Send one attempt; never raises for network or HTTP failures (they are the outcome)."""
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: event,
            TIMESTAMP_HEADER: str(int(now)),
        }
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            # Checked again now, after resolving the name, and sent to the checked address (no DNS rebinding).
            pinned = self._outbound.pin(url)
        except OutboundRefusedError as exc:
            return Outcome(False, None, f"refused: {exc}"[:500])
        try:
            response = self._http.post(
                pinned.url, content=body, headers={**headers, **pinned.headers}, extensions=pinned.extensions
            )
        except httpx.HTTPError as exc:
            return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Outcome(True, response.status_code)
        text = " ".join(response.text.split())[:300]
        return Outcome(False, response.status_code, f"HTTP {response.status_code}" + (f": {text}" if text else ""))
