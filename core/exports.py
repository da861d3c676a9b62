"""Exports of lists as CSV or XLSX downloads, safe to open in a spreadsheet program.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
read as a formula (``=HYPERLINK(...)`` leaks data when clicked), so it is neutralized as
the OWASP CSV injection cheat sheet recommends: in CSV it gets a leading ``'``; in XLSX it
is stored as a string cell with Excel's "quote prefix" (the text exactly as typed, never a
formula, and still text when the cell is edited).  Only text is neutralized: numbers,
decimals and dates stay typed values (a negative number stays a number).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterable, Iterator

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHUNK_ROWS = 1000
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def is_formula_like(value) -> bool:
    """Would a spreadsheet program read this cell as a formula? (text cells only)"""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def neutralize(value):
    """The value as a CSV cell: text read as a formula gets a leading ``'``; other values as they are."""
    return "'" + value if is_formula_like(value) else value


def unneutralize(text: str) -> str:
    """Undo :func:`neutralize` on a cell read back from a CSV export (for imports)."""
    return text[1:] if text.startswith("'") and is_formula_like(text[1:]) else text


def csv_chunks(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text in chunks, UTF-8 with a BOM so spreadsheet programs read the accents."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([neutralize(v) for v in header])
    for n, row in enumerate(rows, 1):
        writer.writerow([neutralize(v) for v in row])
        if n % _CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_bytes(header: Iterable, rows: Iterable[Iterable], sheet: str) -> bytes:
    """An XLSX workbook of one sheet; no cell is ever a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=_SHEET_TITLE_FORBIDDEN.sub(" ", sheet)[:31] or "export")

    def cell(value):
        if not isinstance(value, str):
            return value
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters XLSX cannot hold
        if not is_formula_like(value):
            return value
        text = WriteOnlyCell(worksheet, value)
        text.data_type = "s"  # openpyxl took the leading "=" for a formula
        text.quotePrefix = True
        return text

    worksheet.append([cell(v) for v in header])
    for row in rows:
        worksheet.append([cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def export_response(fmt: str, header: Iterable, rows: Iterable[Iterable], *, filename: str,
                    sheet: str | None = None):
    """A download of ``rows`` under ``header`` as ``filename.csv`` (streamed) or ``filename.xlsx``.

    :param fmt: ``"csv"`` or ``"xlsx"`` (anything else is a ``ValueError``: check it first
        and answer 404).
    :param rows: an iterable of lists of values (read once, lazily for CSV).
    :param filename: the download's name, without the extension.
    :param sheet: the XLSX sheet's title (default: ``filename``).
    """
    from flask import Response, stream_with_context

    if fmt == "csv":
        # mimetype="text/csv; charset=utf-8" would get a second charset from Flask
        response = Response(stream_with_context(csv_chunks(header, rows)), content_type="text/csv; charset=utf-8")
    elif fmt == "xlsx":
        response = Response(xlsx_bytes(header, rows, sheet or filename), content_type=XLSX_MIMETYPE)
    else:
        raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    response.headers.set("Content-Disposition", "attachment", filename=f"{filename}.{fmt}")
    return response
