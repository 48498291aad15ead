"""The one error tree of ``mie``.

Every error a user can cause derives from :class:`MieError`; the API maps each class to one HTTP status and
MIE's body shape ``{"Code": ..., "Message": ...}`` in a single place (``mie.api.errors``).
"""

from __future__ import annotations


class MieError(Exception):
    """Root of all ``mie`` errors."""

    #: HTTP status the API answers with.
    status_code = 500
    #: MIE/Chalice error code for the response body.
    code = "ChaliceViewError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidError(MieError):
    """The request is malformed or breaks a rule (HTTP 400)."""

    status_code = 400
    code = "BadRequestError"


class UnauthorizedError(MieError):
    """Missing or wrong API key (HTTP 401)."""

    status_code = 401
    code = "UnauthorizedError"


class ForbiddenError(MieError):
    """A signed URL is expired or its signature is wrong (HTTP 403)."""

    status_code = 403
    code = "ForbiddenError"


class NotFoundError(MieError):
    """The named thing does not exist (HTTP 404)."""

    status_code = 404
    code = "NotFoundError"


class ConflictError(MieError):
    """The thing exists already, or its state forbids the change (HTTP 409)."""

    status_code = 409
    code = "ConflictError"


class TooLargeError(MieError):
    """The request body is over the limit (HTTP 413)."""

    status_code = 413
    code = "RequestEntityTooLarge"


class UnsupportedMediaTypeError(MieError):
    """The request's Content-Type is not accepted (HTTP 415)."""

    status_code = 415
    code = "UnsupportedMediaType"


class RangeNotSatisfiableError(MieError):
    """The requested byte range cannot be served (HTTP 416)."""

    status_code = 416
    code = "RangeNotSatisfiable"


class NotImplementedYetError(MieError):
    """The route exists in MIE but this engine does not serve it yet (HTTP 501)."""

    status_code = 501
    code = "NotImplementedError"


class ConfigurationError(MieError):
    """A setting is invalid; raised at start-up."""


class StorageError(MieError):
    """The database or object store failed in a way the caller cannot fix."""


class OperatorError(MieError):
    """An operator failed; the task that ran it ends ``Error`` (or is retried when ``retryable``)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class OperatorCancelledError(OperatorError):
    """Raised inside an operator (by its context) when its execution was cancelled or deleted; the task just ends."""


class OperatorTimeoutError(OperatorError):
    """An operator ran longer than its operation's ``TimeoutSeconds``."""


def describe(exc: BaseException) -> str:
    """``str(exc)``, or the exception's type name when that is empty (``AssertionError()``, ``IndexError()``...):
    an error message must always say something."""
    return str(exc).strip() or type(exc).__name__
