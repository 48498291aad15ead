"""The single place where errors become HTTP responses, in MIE's body shape ``{"Code", "Message"}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mie.errors import MieError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    409: "ConflictError",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    416: "RangeNotSatisfiable",
    422: "BadRequestError",
    429: "TooManyRequestsError",
    501: "NotImplementedError",
}


def log_error(status: int, code: str, message: str, exc: BaseException) -> None:
    """Log an answered error by what it means for the operator of the server.

    Only true server errors (5xx except 501) are ERROR, with the traceback; 501 (a MIE route this engine does not
    serve) is INFO, and client errors (4xx) are DEBUG: they are the caller's problem and would drown real ones.
    """
    if status >= 500 and status != 501:
        log.error("server error %s %s: %s", status, code, message, exc_info=exc)
    elif status == 501:
        log.info("not implemented %s: %s", code, message)
    else:
        log.debug("client error %s %s: %s", status, code, message)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """MIE's error body (Chalice prefixes the message with the code)."""
    return JSONResponse({"Code": code, "Message": f"{code}: {message}"}, status_code=status)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(MieError)
    async def _mie_error(_request: Request, exc: MieError) -> JSONResponse:
        log_error(exc.status_code, exc.code, exc.message, exc)
        return error_response(exc.status_code, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
        )
        log_error(400, "BadRequestError", problems, exc)
        return error_response(400, "BadRequestError", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "ChaliceViewError")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route; see /api/docs"
        log_error(exc.status_code, code, detail, exc)
        response = error_response(exc.status_code, code, detail)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {"Code": "InternalServerError", "Message": "An internal server error occurred."}, status_code=500
        )
