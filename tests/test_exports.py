"""core.export_response: CSV and XLSX downloads, formulas neutralized, typed values kept."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from core import export_response, unneutralize

HEADER = ["n", "amount", "on", "text", "formula", "plain"]
ROW = [-2, Decimal("-1.50"), date(2024, 1, 2), "-2", "=1+1", "Fonderie d'Orléans"]


def _download(app, fmt: str):
    with app.test_request_context():
        response = export_response(fmt, HEADER, iter([ROW]), filename="figures-2024", sheet="figures")
        response.direct_passthrough = False
        return response, response.get_data()


def test_csv_neutralizes_text_only(app):
    response, body = _download(app, "csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=figures-2024.csv"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows == [HEADER, ["-2", "-1.50", "2024-01-02", "'-2", "'=1+1", "Fonderie d'Orléans"]]


def test_xlsx_keeps_numbers_and_dates_typed_and_never_writes_a_formula(app):
    response, body = _download(app, "xlsx")
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Content-Disposition"] == "attachment; filename=figures-2024.xlsx"
    workbook = load_workbook(io.BytesIO(body))
    assert workbook.sheetnames == ["figures"]
    cells = list(workbook.active.iter_rows(min_row=2))[0]
    n, amount, on, text, formula, plain = cells
    assert (n.value, n.data_type) == (-2, "n")
    assert (amount.value, amount.data_type) == (-1.5, "n")
    assert on.is_date and on.value.date() == date(2024, 1, 2)
    assert (text.value, text.data_type, text.quotePrefix) == ("-2", "s", True)
    assert (formula.value, formula.data_type, formula.quotePrefix) == ("=1+1", "s", True)
    assert (plain.value, plain.data_type, plain.quotePrefix) == ("Fonderie d'Orléans", "s", False)


def test_an_unknown_format_is_refused(app):
    with app.test_request_context(), pytest.raises(ValueError):
        export_response("pdf", HEADER, [ROW], filename="x")


@pytest.mark.parametrize("cell, typed", [
    ("'=1+1", "=1+1"), ("'+33 6 12 34 56 78", "+33 6 12 34 56 78"), ("'-2", "-2"), ("'@x", "@x"),
    ("'\tx", "\tx"), ("'plain", "'plain"), ("it's", "it's"), ("'", "'"), ("", ""),
])
def test_unneutralize_undoes_only_what_the_export_added(cell, typed):
    assert unneutralize(cell) == typed
