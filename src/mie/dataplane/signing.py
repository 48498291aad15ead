"""Signed, expiring URLs for uploads and downloads (the local stand-in for S3 presigned POST and GET)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from mie.errors import ForbiddenError


class UrlSigner:
    """HMAC-SHA256 signatures over ``method, bucket, key, expiry`` and any extra fields.

    The signed string is the JSON array of the fields, so no field's content can move a boundary: joined with
    newlines, bucket ``alpha`` with key ``b\\nc`` signed the same string as bucket ``alpha\\nb`` with key ``c``.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, method: str, bucket: str, key: str, expires: int, *extra: str) -> str:
        """The signature of one permission."""
        fields = [method.upper(), bucket, key, str(expires), *extra]
        # ensure_ascii: a lone surrogate (refused by the key checks anyway) cannot make the encoding fail.
        message = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(
        self, method: str, bucket: str, key: str, expires: str | None, signature: str | None, *extra: str
    ) -> None:
        """Raise 403 unless the signature is right and not expired."""
        if not expires or not signature:
            raise ForbiddenError("the URL is not signed: ask /api/dataplane/upload or /download for one")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 19):
            raise ForbiddenError("the URL's expiry is not a number")
        expiry = int(expires)
        expected = self.sign(method, bucket, key, expiry, *extra)
        if not hmac.compare_digest(expected, signature):
            raise ForbiddenError("the URL's signature does not match")
        if expiry < time.time():
            raise ForbiddenError("the signed URL has expired")
