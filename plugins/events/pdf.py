"""Printable PDFs (fpdf2): the attendee list with a signature column, and name badges.

A Unicode TrueType font (DejaVu Sans, found on the system or given by
``EVENTS_PDF_FONT``) prints every name; without one, the PDF core font is used and
characters outside Latin-1 are replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from fpdf import FPDF

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)


@dataclass(frozen=True)
class Attendee:
    name: str
    organization: str
    status: str  # the status label, in the page's language
    member: bool


def _font_path() -> Path | None:
    configured = current_app.config.get("EVENTS_PDF_FONT") or os.environ.get("GRAPPE_PDF_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        path = Path(candidate)
        if path.is_file():
            return path
    return None


class _Document(FPDF):
    def __init__(self, footer_text: str = "", **kwargs):
        super().__init__(**kwargs)
        self.footer_text = footer_text
        font = _font_path()
        if font is not None:
            self.add_font("Body", "", str(font))
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.family = "Body"
            self.unicode = True
        else:
            self.family = "Helvetica"
            self.unicode = False
        self.set_auto_page_break(True, margin=15)

    def text_of(self, value: str) -> str:
        value = value or ""
        if self.unicode:
            return value
        return value.encode("latin-1", "replace").decode("latin-1")

    def use(self, size: float, style: str = "") -> None:
        self.set_font(self.family, style, size)

    def footer(self):
        self.set_y(-12)
        self.use(8)
        self.set_text_color(110)
        self.cell(0, 6, self.text_of(f"{self.footer_text}  ·  {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0)


def attendee_list(title: str, subtitle: str, labels: dict[str, str], attendees: list[Attendee]) -> bytes:
    """A table: number, name, organization, status, member, signature."""
    pdf = _Document(footer_text=title, orientation="P", unit="mm", format="A4")
    pdf.alias_nb_pages()
    pdf.set_title(pdf.text_of(title))
    pdf.add_page()
    pdf.use(15, "B")
    pdf.multi_cell(0, 8, pdf.text_of(title), new_x="LMARGIN", new_y="NEXT")
    pdf.use(10)
    pdf.multi_cell(0, 6, pdf.text_of(subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    widths = (10, 55, 55, 24, 46)
    headers = ("#", labels["name"], labels["organization"], labels["status"], labels["signature"])

    def header_row():
        pdf.use(9, "B")
        pdf.set_fill_color(235, 235, 240)
        for width, text in zip(widths, headers):
            pdf.cell(width, 7, pdf.text_of(text), border=1, fill=True)
        pdf.ln()

    header_row()
    pdf.use(9)
    for number, person in enumerate(attendees, start=1):
        if pdf.will_page_break(9):
            pdf.add_page()
            header_row()
            pdf.use(9)
        cells = (str(number), person.name, person.organization, person.status, "")
        for width, text in zip(widths, cells):
            pdf.cell(width, 9, pdf.text_of(_fit(pdf, text, width - 2)), border=1)
        pdf.ln()
    if not attendees:
        pdf.cell(0, 9, pdf.text_of(labels["empty"]), border=1)
    return bytes(pdf.output())


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Shorten a text with an ellipsis so that it fits a cell."""
    if pdf.get_string_width(pdf.text_of(text)) <= width:
        return text
    while text and pdf.get_string_width(pdf.text_of(text + "…" if pdf.unicode else text + "...")) > width:
        text = text[:-1]
    return text + ("…" if pdf.unicode else "...")


def badges(event_title: str, event_line: str, attendees: list[Attendee]) -> bytes:
    """Name badges, 2 x 5 per A4 page (90 x 54 mm, the usual badge holder size), with cut marks."""
    pdf = _Document(footer_text=event_title, orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.alias_nb_pages()
    pdf.set_title(pdf.text_of(event_title))
    w, h, cols, rows = 90.0, 54.0, 2, 5
    left, top = (210 - cols * w) / 2, (297 - rows * h) / 2
    for index, person in enumerate(attendees):
        if index % (cols * rows) == 0:
            pdf.add_page()
        slot = index % (cols * rows)
        x, y = left + (slot % cols) * w, top + (slot // cols) * h
        pdf.set_draw_color(180)
        pdf.rect(x, y, w, h)
        pdf.set_xy(x + 5, y + 6)
        pdf.use(8)
        pdf.set_text_color(90)
        pdf.cell(w - 10, 5, pdf.text_of(_fit(pdf, event_title, w - 10)), align="C")
        pdf.set_text_color(0)
        pdf.use(_name_size(pdf, person.name, w - 10), "B")
        pdf.set_xy(x + 5, y + 18)
        pdf.cell(w - 10, 10, pdf.text_of(_fit(pdf, person.name, w - 10)), align="C")
        pdf.use(11)
        pdf.set_xy(x + 5, y + 31)
        pdf.cell(w - 10, 7, pdf.text_of(_fit(pdf, person.organization, w - 10)), align="C")
        pdf.use(7)
        pdf.set_text_color(110)
        pdf.set_xy(x + 5, y + h - 9)
        pdf.cell(w - 10, 5, pdf.text_of(_fit(pdf, event_line, w - 10)), align="C")
        pdf.set_text_color(0)
    if not attendees:
        pdf.add_page()
        pdf.use(12)
        pdf.cell(0, 10, pdf.text_of(event_title))
    return bytes(pdf.output())


def _name_size(pdf: _Document, name: str, width: float) -> float:
    for size in (20, 18, 16, 14, 12):
        pdf.use(size, "B")
        if pdf.get_string_width(pdf.text_of(name)) <= width:
            return size
    return 12
