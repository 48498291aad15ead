"""AWS Signature Version 4 verification, as API Gateway's ``execute-api`` checks MIE's clients' requests.

MIE's clients (``awscurl``, MIE's ``sigv4_get_sample.py``/``sigv4_post_sample.py``, boto3-based tools) sign every
request with SigV4 instead of sending a key. This module recomputes the signature from the request as it arrived
(method, raw path, query string, the signed headers, the body's SHA-256) and compares it in constant time. It needs
only ``hmac``/``hashlib``; botocore is a test dependency, not a server one.

Which path is signed: the client signs what it sends, so the path is the raw path on the wire (before the server
collapses ``//``). Clients disagree on how they encode it, so three canonical forms are tried (see
:func:`canonical_uris`); each is a function of the request itself, and they are only tried together when they cannot
be confused with another request's path (a decoded path holding a literal ``%`` gets the AWS form alone).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, unquote_plus

from mie.errors import UnauthorizedError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
#: Longest lifetime of a presigned URL (AWS: 7 days).
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600


class SigV4Error(UnauthorizedError):
    """A SigV4-signed request that does not verify (HTTP 401); the message says why, never the expected value."""

    def __init__(self, message: str) -> None:
        super().__init__(f"SigV4: {message}")


@dataclass(frozen=True)
class Signed:
    """The signing claims of one request, from its ``Authorization`` header or its presigned query string."""

    access_key_id: str
    date_stamp: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    #: Seconds a presigned URL stays valid; None for a header-signed request.
    expires: int | None = None


def is_sigv4_header(authorization: str) -> bool:
    """True when an ``Authorization`` header value uses SigV4."""
    return authorization.lstrip().startswith(ALGORITHM + " ")


def is_presigned(query: Mapping[str, str]) -> bool:
    """True when the query string carries presigned SigV4 parameters."""
    return "X-Amz-Signature" in query or "X-Amz-Algorithm" in query


def _scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise SigV4Error("Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request")
    return parts[0], parts[1], parts[2], parts[3]


def _signed_headers(raw: str) -> tuple[str, ...]:
    names = tuple(raw.split(";"))
    if not raw or any(not n or n != n.strip().lower() for n in names) or list(names) != sorted(set(names)):
        raise SigV4Error("SignedHeaders must be lower-case header names, sorted and separated by ';'")
    return names


def parse_authorization(value: str, amz_date: str | None) -> Signed:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    _, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep or name in fields:
            raise SigV4Error("the Authorization header is malformed: expected Credential=, SignedHeaders=, Signature=")
        fields[name] = field_value.strip()
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise SigV4Error("the Authorization header needs exactly Credential=, SignedHeaders= and Signature=")
    if amz_date is None:
        raise SigV4Error("the x-amz-date header is missing")
    key_id, date_stamp, region, service = _scope(fields["Credential"])
    return Signed(key_id, date_stamp, region, service, _signed_headers(fields["SignedHeaders"]),
                  fields["Signature"], amz_date.strip())  # fmt: skip


def parse_presigned(query: Mapping[str, str]) -> Signed:
    """Parse the ``X-Amz-*`` parameters of a presigned URL."""
    needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
              "X-Amz-Signature")  # fmt: skip
    missing = [n for n in needed if n not in query]
    if missing:
        raise SigV4Error(f"the presigned URL lacks {', '.join(missing)}")
    if query["X-Amz-Algorithm"] != ALGORITHM:
        raise SigV4Error(f"X-Amz-Algorithm must be {ALGORITHM}")
    raw_expires = query["X-Amz-Expires"]
    if not (raw_expires.isascii() and raw_expires.isdigit()) or not 1 <= int(raw_expires) <= MAX_PRESIGN_EXPIRES:
        raise SigV4Error(f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES}")
    key_id, date_stamp, region, service = _scope(query["X-Amz-Credential"])
    return Signed(key_id, date_stamp, region, service, _signed_headers(query["X-Amz-SignedHeaders"]),
                  query["X-Amz-Signature"], query["X-Amz-Date"], int(raw_expires))  # fmt: skip


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 5.2.4, and AWS removes empty segments (``//``) too: the same rule botocore signs with.
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment and segment != ".":
            output.append(segment)
    trailing = "/" if path.endswith("/") and output else ""
    return "/" + "/".join(output) + trailing


def canonical_uris(raw_path: str) -> list[str]:
    """The canonical URIs a client may have signed for ``raw_path`` (the percent-encoded path on the wire).

    1. AWS's rule for every service but S3: the normalised path, each segment URI-encoded once more (botocore and
       the SDKs given an already encoded URL);
    2. the normalised decoded path encoded once (botocore or awscurl given a plain URL such as ``/a b/é``);
    3. the raw path exactly as sent (MIE's samples and awscurl, which keep ``/api//workflow``).

    When the decoded path holds a literal ``%``, forms 2 and 3 could equal form 1 of another path, so only form 1
    is tried. Each form is also tried with a trailing ``/``: the router answers ``/x/`` with a redirect to ``/x``
    (before authentication), and clients such as MIE's ``sigv4_get_sample.py`` sign ``/api/workflow/`` and follow
    the redirect with the same signature; a path with a trailing slash can only ever be served as the one without
    (true while no keyed route takes a ``{name:path}`` parameter: tests/unit/test_sigv4.py guards it).
    """
    path = raw_path or "/"
    aws = quote(_remove_dot_segments(path), safe="/~")
    decoded = unquote(path)
    forms = [aws] if "%" in decoded else [aws, quote(_remove_dot_segments(decoded), safe="/~"), path]
    if not path.endswith("/"):
        forms += [form + "/" for form in forms]
    return list(dict.fromkeys(forms))


def canonical_queries(query_string: str, *, drop_signature: bool) -> list[str]:
    """The canonical query strings a client may have signed.

    AWS's rule (each name and value decoded, then URI-encoded with only ``-_.~`` left bare, sorted) and, as
    botocore and awscurl do for a query already in the URL, the raw pairs sorted as sent. Both decode to the same
    parameters the routes read (``+`` is a space), so neither lets a signature cover another request.
    """
    pairs = [pair.partition("=") for pair in query_string.split("&") if pair]
    raw = [(k, v) for k, _, v in pairs if not (drop_signature and k == "X-Amz-Signature")]
    aws = sorted((quote(unquote_plus(k), safe="-_.~"), quote(unquote_plus(v), safe="-_.~")) for k, v in raw)
    found = ["&".join(f"{k}={v}" for k, v in aws)]
    as_sent = "&".join(f"{k}={v}" for k, v in sorted(raw))
    if as_sent not in found:
        found.append(as_sent)
    return found


def canonical_headers(names: Sequence[str], get_all: Callable[[str], list[str]]) -> str:
    """``name:value`` lines of the signed headers: values trimmed, inner runs of spaces collapsed, repeats joined."""
    lines = []
    for name in names:
        values = get_all(name)
        if not values:
            raise SigV4Error(f"the signed header {name!r} is not in the request")
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(lines)


def signing_key(secret: str, date_stamp: str, region: str, service: str) -> bytes:
    """The derived key of AWS's key-derivation chain (``AWS4`` + secret → date → region → service → request)."""
    key = ("AWS4" + secret).encode()
    for part in (date_stamp, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The string the derived key signs."""
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


@dataclass(frozen=True)
class Request:
    """What verification needs of an HTTP request, as it arrived."""

    method: str
    raw_path: str
    query_string: str
    headers: Callable[[str], list[str]]
    body: bytes


class ReplayCache:
    """Signatures seen recently: a header-signed request is accepted once within the clock-skew window.

    In memory and per process: several API nodes behind one address share nothing here, so a request replayed to
    another node within the window is accepted there once more. Bounded: past ``capacity`` the oldest entries go.
    """

    def __init__(self, ttl: float, capacity: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, signature: str) -> bool:
        """Record ``signature``; False when it was already used within the window."""
        digest = hashlib.sha256(signature.encode()).digest()
        now = self._clock()
        with self._lock:
            # Every entry lives ``ttl`` seconds, so the insertion order is also the expiry order.
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if digest in self._seen:
                return False
            self._seen[digest] = now + self._ttl
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True


class Verifier:
    """Checks SigV4 requests against configured key pairs, one region and one service."""

    def __init__(
        self,
        secrets: Mapping[str, str],
        *,
        region: str,
        service: str,
        max_skew: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = dict(secrets)
        self._region = region
        self._service = service
        self._max_skew = max_skew
        self._clock = clock
        # A request is refused once its date is more than max_skew away, so remembering it twice as long is enough.
        self.replays = ReplayCache(ttl=2 * max_skew + 1)

    def verify(self, signed: Signed, request: Request) -> str:
        """The access key id of a request whose signature verifies; :class:`SigV4Error` otherwise."""
        secret = self._secrets.get(signed.access_key_id)
        if secret is None:
            raise SigV4Error(f"the access key id {signed.access_key_id!r} is not known to this server")
        if signed.region != self._region:
            raise SigV4Error(f"the credential is scoped to region {signed.region!r}; this server is {self._region!r}")
        if signed.service != self._service:
            raise SigV4Error(f"the credential is scoped to service {signed.service!r}; sign for {self._service!r}")
        self._check_time(signed)
        if "host" not in signed.signed_headers or (
            signed.expires is None and "x-amz-date" not in signed.signed_headers
        ):
            raise SigV4Error("the signed headers must include host and x-amz-date")
        if not _SIGNATURE.fullmatch(signed.signature):
            raise SigV4Error("the signature must be 64 lower-case hex digits")
        payload = self._payload_hash(request)
        headers = canonical_headers(signed.signed_headers, request.headers)
        names = ";".join(signed.signed_headers)
        scope = f"{signed.date_stamp}/{signed.region}/{signed.service}/aws4_request"
        key = signing_key(secret, signed.date_stamp, signed.region, signed.service)
        matched = False
        for uri in canonical_uris(request.raw_path):
            for query in canonical_queries(request.query_string, drop_signature=signed.expires is not None):
                canonical = f"{request.method}\n{uri}\n{query}\n{headers}\n{names}\n{payload}"
                expected = hmac.new(key, string_to_sign(signed.amz_date, scope, canonical).encode(), hashlib.sha256)
                # Every candidate is computed and compared: no early exit tells which form came close.
                matched |= hmac.compare_digest(expected.hexdigest(), signed.signature)
        if not matched:
            raise SigV4Error(
                "the signature does not match the request: check the secret key, the region, the signed headers and "
                "that the path, query and body are sent exactly as signed"
            )
        if signed.expires is None and not self.replays.first_use(signed.signature):
            raise SigV4Error("this signed request was already used: sign each request anew")
        return signed.access_key_id

    def _check_time(self, signed: Signed) -> None:
        try:
            when = datetime.strptime(signed.amz_date, _DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError as exc:
            raise SigV4Error("x-amz-date must be a UTC time like 20150830T123600Z") from exc
        if signed.amz_date[:8] != signed.date_stamp:
            raise SigV4Error("the credential's date is not the date of x-amz-date")
        now = self._clock()
        if signed.expires is not None:
            if when - self._max_skew > now:
                raise SigV4Error("the presigned URL is dated in the future: check the client's clock")
            if now > when + signed.expires:
                raise SigV4Error("the presigned URL has expired")
            return
        if abs(now - when) > self._max_skew:
            stamp = datetime.fromtimestamp(now, UTC).strftime(_DATE_FORMAT)
            raise SigV4Error(
                f"the request has expired or is dated in the future: x-amz-date {signed.amz_date} is more than "
                f"{self._max_skew:g} s from the server's time {stamp}"
            )

    @staticmethod
    def _payload_hash(request: Request) -> str:
        actual = hashlib.sha256(request.body).hexdigest()
        declared = request.headers("x-amz-content-sha256")
        if not declared:
            return actual
        value = declared[0].strip()
        if value == UNSIGNED_PAYLOAD:
            raise SigV4Error(f"{UNSIGNED_PAYLOAD} is not accepted: sign the SHA-256 of the body")
        if not _HEX64.fullmatch(value):
            raise SigV4Error("x-amz-content-sha256 must be the body's SHA-256 in lower-case hex")
        if not hmac.compare_digest(value, actual):
            raise SigV4Error("the body does not match its x-amz-content-sha256")
        return value
