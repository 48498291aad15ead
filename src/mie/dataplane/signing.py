"""Signed, expiring URLs for uploads and downloads (the local stand-in for S3 presigned POST and GET)."""

from __future__ import annotations

import hashlib
import hmac
import time

from mie.errors import ForbiddenError


class UrlSigner:
    """HMAC-SHA256 signatures over ``method, bucket, key, expiry``."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, method: str, bucket: str, key: str, expires: int) -> str:
        """The signature of one permission."""
        message = "\n".join((method.upper(), bucket, key, str(expires))).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, method: str, bucket: str, key: str, expires: str | None, signature: str | None) -> None:
        """Raise 403 unless the signature is right and not expired."""
        if not expires or not signature:
            raise ForbiddenError("the URL is not signed: ask /api/dataplane/upload or /download for one")
        try:
            expiry = int(expires)
        except ValueError as exc:
            raise ForbiddenError("the URL's expiry is not a number") from exc
        expected = self.sign(method, bucket, key, expiry)
        if not hmac.compare_digest(expected, signature):
            raise ForbiddenError("the URL's signature does not match")
        if expiry < time.time():
            raise ForbiddenError("the signed URL has expired")
