"""Receiving a signed upload form (``POST /api/dataplane/objects/upload``) without trusting its body.

The route needs no API key: the form's signature is the permission. So nothing is read before it is checked: a
form whose URL carries the signature (the URL ``/upload`` hands out does) is verified from the query string and its
``Content-Length`` before the first byte of the body; a form signed only in its fields is parsed as a stream and
verified when the ``file`` part begins, before any of the file is read. The body is streamed with a hard cap (the
signed ``max-bytes`` plus room for the form's fields), so an unsigned or oversized body costs at most that much.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, BinaryIO, cast

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from mie.dataplane.signing import UrlSigner
from mie.errors import ForbiddenError, InvalidError, TooLargeError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

#: Room for the form's fields, part headers and boundaries beyond the file itself.
FORM_OVERHEAD = 64 * 1024
#: Largest value of one (non-file) form field.
MAX_FIELD_BYTES = 8 * 1024
#: Fields a form may have (bucket, key, expires, max-bytes, signature, and a few a client may add).
MAX_FIELDS = 20
#: Bytes of an upload kept in memory before it spools to a temporary file.
SPOOL_BYTES = 1024 * 1024


@dataclass
class SignedUpload:
    """What the form grants (``bucket``, ``key``, ``max_bytes``) and the file it carried, rewound."""

    bucket: str
    key: str
    max_bytes: int
    file: BinaryIO
    size: int


def verify_grant(signer: UrlSigner, values: dict[str, str]) -> tuple[str, str, int]:
    """Check the signature over ``bucket``, ``key``, ``expires`` and ``max-bytes``; 403 when wrong or expired."""
    bucket, key, max_bytes = values.get("bucket", ""), values.get("key", ""), values.get("max-bytes", "")
    signer.verify("POST", bucket, key, values.get("expires"), values.get("signature"), max_bytes)
    if not (max_bytes.isascii() and max_bytes.isdigit()):
        raise InvalidError("max-bytes is not a number")
    return bucket, key, int(max_bytes)


def _check_length(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not (declared.isascii() and declared.isdigit()):
        raise InvalidError("Content-Length is not a number")
    if int(declared) > cap:
        raise TooLargeError(f"the upload is larger than the {cap - FORM_OVERHEAD} bytes it may be")


@dataclass
class _Part:
    name: str = ""
    is_file: bool = False
    value: bytearray = field(default_factory=bytearray)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""


class _FormReader:
    """Callbacks for python-multipart's streaming parser: fields into a dict, the one file into a spool."""

    def __init__(self, signer: UrlSigner, granted: tuple[str, str, int] | None, fields_cap: int) -> None:
        self.signer = signer
        self.granted = granted
        self.fields: dict[str, str] = {}
        self.part = _Part()
        self.file: BinaryIO | None = None
        self.size = 0
        self.max_file = granted[2] if granted else fields_cap
        self.done = False

    def callbacks(self) -> MultipartCallbacks:
        return cast(
            "MultipartCallbacks",
            {
                "on_part_begin": self.on_part_begin,
                "on_header_field": lambda data, start, end: self.part.header_field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self.part.header_value.extend(data[start:end]),
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
                "on_end": self.on_end,
            },
        )

    def on_part_begin(self) -> None:
        if self.file is not None:
            raise InvalidError("the 'file' part must be the last part of the form")
        self.part = _Part()

    def on_header_end(self) -> None:
        if bytes(self.part.header_field).strip().lower() == b"content-disposition":
            self.part.disposition = bytes(self.part.header_value)
        self.part.header_field.clear()
        self.part.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.disposition)
        name = options.get(b"name")
        if name is None:
            raise InvalidError('every form part needs a Content-Disposition with a "name"')
        self.part.name = name.decode("utf-8", "replace")
        if b"filename" not in options and self.part.name != "file":
            if len(self.fields) >= MAX_FIELDS:
                raise InvalidError(f"the form has more than {MAX_FIELDS} fields")
            return
        if self.part.name != "file":
            raise InvalidError(f"the form's file part must be named 'file', not {self.part.name!r}")
        self.part.is_file = True
        # The file begins: the permission must be known now, before a byte of it is read.
        if self.granted is None:
            self.granted = verify_grant(self.signer, self.fields)
            self.max_file = self.granted[2]
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by the route
        self.file = cast(BinaryIO, spool)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.part.is_file:
            assert self.file is not None
            self.size += len(chunk)
            if self.size > self.max_file:
                raise TooLargeError(f"the file is larger than the {self.max_file} bytes the upload allows")
            self.file.write(chunk)
        else:
            self.part.value.extend(chunk)
            if len(self.part.value) > MAX_FIELD_BYTES:
                raise InvalidError(f"form field {self.part.name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if not self.part.is_file:
            try:
                self.fields[self.part.name] = self.part.value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidError(f"form field {self.part.name!r} is not UTF-8") from exc

    def on_end(self) -> None:
        self.done = True


async def receive_upload(request: Request, signer: UrlSigner, max_upload_bytes: int) -> SignedUpload:
    """Verify and read a signed upload form (see the module's docstring)."""
    query = dict(request.query_params)
    granted = verify_grant(signer, query) if "signature" in query else None
    cap = (granted[2] if granted else max_upload_bytes) + FORM_OVERHEAD
    _check_length(request, cap)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidError("the upload must be a multipart/form-data POST")
    reader = _FormReader(signer, granted, max_upload_bytes)
    parser = MultipartParser(boundary, reader.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > cap:
                raise TooLargeError(f"the upload is larger than the {cap - FORM_OVERHEAD} bytes it may be")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        _close(reader.file)
        raise InvalidError(f"the upload must be a multipart/form-data POST: {exc}") from exc
    except BaseException:
        _close(reader.file)
        raise
    if reader.file is None or reader.granted is None:
        raise InvalidError("the form has no 'file' part (it must come after the fields)")
    if not reader.done:  # the body ended inside the file: storing it would keep a truncated object
        _close(reader.file)
        raise InvalidError("the form is incomplete: it ends before its closing boundary")
    bucket, key, max_bytes = reader.granted
    if granted is not None:
        # Signed in the URL: fields the form repeats must say the same (they are not what was verified).
        for name in ("bucket", "key", "expires", "max-bytes", "signature"):
            if name in reader.fields and reader.fields[name] != query.get(name):
                _close(reader.file)
                raise ForbiddenError(f"the form's {name} is not the one its URL was signed for")
    reader.file.seek(0)
    return SignedUpload(bucket, key, max_bytes, reader.file, reader.size)


def _close(handle: IO[bytes] | None) -> None:
    if handle is not None:
        handle.close()
