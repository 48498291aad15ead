"""Tables of translations (terminologies, parallel data): a CSV/TSV whose header names the languages."""

from __future__ import annotations

import csv
import io
import re

from mie.errors import InvalidError

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{2,4})?\Z")


def parse_table(text: str, *, fmt: str, what: str, columns: int | None = None) -> tuple[list[str], list[list[str]]]:
    """A CSV/TSV of translations: a header line of language codes (the source first), then one entry per line.

    Every problem is an ``InvalidError`` (400) that names the line, e.g. ``terminology_csv line 3: expected 2
    columns (en,es), found 1``.
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if fmt == "TSV" else ",", strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidError(f"{what} line {reader.line_num or line}: not valid {fmt} ({exc})") from exc
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if header is None:
            header = _header(cells, what=what, line=line, fmt=fmt, columns=columns)
            continue
        if len(cells) != len(header):
            raise InvalidError(
                f"{what} line {line}: expected {len(header)} columns ({','.join(header)}), found {len(cells)}"
            )
        if not cells[0]:
            raise InvalidError(f"{what} line {line}: the {header[0]} text (column 1) is empty")
        if not any(cells[1:]):
            raise InvalidError(f"{what} line {line}: no translation given (columns 2-{len(header)} are empty)")
        rows.append(cells)
    if header is None:
        raise InvalidError(f"{what} line 1: the file is empty; the first line names the languages, e.g. en,es")
    if not rows:
        raise InvalidError(f"{what} line {reader.line_num + 1}: no entries after the header line")
    return header, rows


def _header(cells: list[str], *, what: str, line: int, fmt: str, columns: int | None) -> list[str]:
    sep = "a tab" if fmt == "TSV" else "a comma"
    for index, code in enumerate(cells, 1):
        if not _LANGUAGE.match(code):
            raise InvalidError(
                f"{what} line {line}: column {index} {code!r} is not a language code; the first line names the "
                f"languages separated by {sep}, e.g. en{',' if fmt == 'CSV' else '<TAB>'}es"
            )
    codes = []
    for code in cells:
        base, _, region = code.partition("-")
        codes.append(base.lower() + (f"-{region}" if region else ""))
    if len(codes) < 2 or (columns is not None and len(codes) != columns):
        want = f"exactly {columns}" if columns is not None else "at least 2"
        raise InvalidError(f"{what} line {line}: {want} language columns are needed, found {len(codes)}")
    if len({c.lower() for c in codes}) != len(codes):
        raise InvalidError(f"{what} line {line}: a language appears twice ({','.join(codes)})")
    return codes


def table_text(header: list[str], rows: list[list[str]], fmt: str) -> str:
    """The table as a CSV/TSV file again (when the uploaded file is gone)."""
    out = io.StringIO()
    csv.writer(out, delimiter="\t" if fmt == "TSV" else ",", lineterminator="\n").writerows([header, *rows])
    return out.getvalue()
