"""The service sheet as a PDF (fpdf2): the service along the checklist, its steps and costs,
its current prices with their margins and break-even volumes.

A Unicode TrueType font (DejaVu Sans, found on the system, or the file named by
``BILLING_PDF_FONT`` in the app config or ``GRAPPE_PDF_FONT`` in the environment) prints
every character; without one, the PDF core font is used and characters outside Latin-1
are replaced.  Labels are in the request's language.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from flask import current_app
from flask_babel import format_currency, format_date
from flask_babel import gettext as _
from fpdf import FPDF

from .models import (
    COMPANY_FUNCTIONS,
    COST_BEHAVIOURS,
    PRICING_MODES,
    REVENUE_FAMILIES,
    SERVICE_STATUSES,
    SIZE_BANDS,
    SUBSCRIPTION_PERIODS,
    VAT_CATEGORIES,
)

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)


def _font_path() -> Path | None:
    configured = current_app.config.get("BILLING_PDF_FONT") or os.environ.get("GRAPPE_PDF_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        path = Path(candidate)
        if path.is_file():
            return path
    return None


class _Sheet(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        font = _font_path()
        if font is not None:
            self.add_font("Body", "", str(font))
            bold = font.with_name(font.stem + "-Bold" + font.suffix)
            self.add_font("Body", "B", str(bold if bold.is_file() else font))
            self.family, self.unicode = "Body", True
        else:
            self.family, self.unicode = "Helvetica", False
        self.set_auto_page_break(True, margin=15)
        self.alias_nb_pages()

    def text_of(self, value) -> str:
        value = "" if value is None else str(value)
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def use(self, size: float, style: str = "") -> None:
        self.set_font(self.family, style, size)

    def footer(self):
        self.set_y(-12)
        self.use(8)
        self.set_text_color(110)
        self.cell(0, 6, self.text_of(f"{self.footer_text}  ·  {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0)

    def heading(self, text: str) -> None:
        self.ln(2)
        self.use(12, "B")
        self.set_fill_color(235, 235, 240)
        self.cell(0, 7, self.text_of(text), fill=True, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def entry(self, label: str, value) -> None:
        """A labelled paragraph; nothing when the value is empty."""
        if value in (None, "", []):
            return
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        self.use(9, "B")
        self.multi_cell(0, 5, self.text_of(label), new_x="LMARGIN", new_y="NEXT")
        self.use(9)
        self.multi_cell(0, 5, self.text_of(value), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def row(self, widths, cells, bold: bool = False, fill: bool = False) -> None:
        self.use(8, "B" if bold else "")
        if fill:
            self.set_fill_color(235, 235, 240)
        height = 6
        if self.will_page_break(height):
            self.add_page()
        for width, text in zip(widths, cells):
            self.cell(width, height, self.text_of(_fit(self, str(text), width - 1.5)), border=1, fill=fill)
        self.ln()


def _fit(pdf: _Sheet, text: str, width: float) -> str:
    if pdf.get_string_width(pdf.text_of(text)) <= width:
        return text
    dots = "…" if pdf.unicode else "..."
    while text and pdf.get_string_width(pdf.text_of(text + dots)) > width:
        text = text[:-1]
    return text + dots


def service_sheet(sheet, *, cluster, on: date) -> bytes:
    """The PDF of a :class:`.queries.ServiceSheet` on the day ``on``."""
    service, costs = sheet.service, sheet.costs
    currency = cluster.currency or "EUR"

    def money(amount) -> str:
        return "" if amount is None else format_currency(amount, currency)

    pdf = _Sheet(footer_text=f"{cluster.name} · {service.name}")
    pdf.set_title(pdf.text_of(service.name))
    pdf.add_page()
    pdf.use(16, "B")
    pdf.multi_cell(0, 8, pdf.text_of(service.name), new_x="LMARGIN", new_y="NEXT")
    pdf.use(9)
    facts = [cluster.name, str(SERVICE_STATUSES.get(service.status, service.status)),
             str(REVENUE_FAMILIES.get(service.revenue_family, service.revenue_family))]
    if service.code:
        facts.insert(1, service.code)
    if service.range is not None:
        facts.append(_("Range: %(name)s", name=service.range.name))
    facts.append(_("Sheet of %(day)s", day=format_date(on)))
    pdf.multi_cell(0, 5, pdf.text_of(" · ".join(facts)), new_x="LMARGIN", new_y="NEXT")

    pdf.heading(_("1. Value delivered"))
    pdf.entry(_("Problem solved"), service.problem)
    pdf.entry(_("Solution"), service.solution)
    pdf.entry(_("Concrete service rendered"), service.service_rendered)
    pdf.entry(_("Direct gain for the user"), service.direct_gain)
    pdf.entry(_("Indirect gains"), service.indirect_gains)
    pdf.heading(_("Target and prerequisites"))
    pdf.entry(_("Company sizes"), [str(SIZE_BANDS.get(b, b)) for b in service.size_bands])
    pdf.entry(_("Sectors (NACE codes)"), service.sectors)
    pdf.entry(_("Functions in the company"), [str(COMPANY_FUNCTIONS.get(f, f)) for f in service.functions])
    pdf.entry(_("Specific traits of the target"), service.target_traits)
    pdf.entry(_("Prerequisites"), service.prerequisites)

    pdf.heading(_("2. Process"))
    widths = (8, 62, 24, 24, 24, 24, 24)
    pdf.row(widths, ("#", _("Step"), _("Cost"), _("Purchases"), _("Staff hours"), _("External fees"),
                     _("Total")), bold=True, fill=True)
    for step, cost, _names in sheet.steps:
        pdf.row(widths, (step.position, step.name, str(COST_BEHAVIOURS.get(step.cost_behaviour, "")),
                         money(step.purchases), f"{step.staff_hours}", money(step.external_fees), money(cost)))
    if not sheet.steps:
        pdf.use(9)
        pdf.cell(0, 6, pdf.text_of(_("No step yet.")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    for step, _cost, names in sheet.steps:
        details = [x for x in (step.operations, step.resources, step.value_brick) if x]
        if names:
            details.append(_("Competences needed: %(names)s", names=", ".join(names)))
        pdf.entry(f"{step.position}. {step.name}", "\n".join(details))
    pdf.entry(_("Coordination per unit"), money(costs.coordination))
    pdf.entry(_("Unit cost"), _("%(cost)s per unit: %(variable)s variable, %(fixed)s fixed a year (hourly cost "
                                "%(hourly)s)", cost=money(costs.unit_cost), variable=money(costs.variable_per_unit),
                                fixed=money(costs.fixed_per_year), hourly=money(costs.hourly_cost)))

    pdf.heading(_("3. Competences and network"))
    pdf.entry(_("In-house technical competences"),
              [sheet.competence_names[c] for c in service.competence_ids if c in sheet.competence_names])
    pdf.entry(_("External experts"), [" – ".join(x for x in (person, org, e.role) if x)
                                      for e, person, org in sheet.experts])
    pdf.entry(_("Downstream relational competences"), service.downstream_competences)

    pdf.heading(_("4. Design"))
    pdf.entry(_("Promise"), service.promise)
    pdf.entry(_("Tools handed to the user"), service.tools)
    pdf.entry(_("Deliverables"), service.deliverables)
    pdf.entry(_("Duration"), service.duration)
    pdf.entry(_("Calendar"), service.calendar)
    if service.evaluation_questions:
        pdf.entry(_("Joint evaluation questions"),
                  "\n".join(f"{i}. {q}" for i, q in enumerate(service.evaluation_questions, start=1)))
    pdf.entry(_("The relationship afterwards"), service.relationship_after)

    pdf.heading(_("5. Prices"))
    widths = (44, 26, 26, 26, 26, 21, 21)
    pdf.row(widths, (_("Price"), _("Members"), _("Non-members"), _("Margin, members"), _("Margin, non-members"),
                     _("Break-even"), _("Valid until")), bold=True, fill=True)
    for row in sheet.current_prices:
        p, eco = row.price, row.economics
        name = " ".join(x for x in (str(PRICING_MODES.get(p.mode, p.mode)), p.label) if x)
        if p.mode == "success_fee":
            member, non_member = (f"{p.member_rate} %" if p.member_rate is not None else "",
                                  f"{p.non_member_rate} %" if p.non_member_rate is not None else "")
        else:
            member, non_member = money(p.member_amount), money(p.non_member_amount)
        if p.mode == "subscription" and p.period:
            name += f" / {SUBSCRIPTION_PERIODS.get(p.period, p.period)}"
        break_even = eco.member_break_even if eco.member_break_even is not None else eco.non_member_break_even
        pdf.row(widths, (name, member, non_member,
                         money(eco.member_margin.amount) if eco.member_margin else "",
                         money(eco.non_member_margin.amount) if eco.non_member_margin else "",
                         "" if break_even is None else str(break_even),
                         format_date(p.valid_until) if p.valid_until else "–"))
    if not sheet.current_prices:
        pdf.use(9)
        pdf.cell(0, 6, pdf.text_of(_("No price valid today.")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.use(8)
    pdf.multi_cell(0, 4, pdf.text_of(_("VAT: %(category)s, %(rate)s %%.", category=VAT_CATEGORIES.get(
        service.vat_category, service.vat_category), rate=service.vat_rate)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# -- slice 2b: the quote ---------------------------------------------------------------------------
def quote_document(sheet, *, cluster) -> bytes:
    """The PDF of a quote (a :class:`.quote_queries.QuoteSheet`): the seller cluster, the
    buyer, the dates, each line with its full price, the third-party payer's part and the
    beneficiary's part, and the same three totals.  A draft says so, and has no number."""
    quote = sheet.quote
    currency = cluster.currency or "EUR"

    def money(amount) -> str:
        return "" if amount is None else format_currency(amount, currency)

    title = _("Quote %(number)s", number=quote.number) if quote.number else _("Draft quote")
    pdf = _Sheet(footer_text=f"{cluster.name} · {title}")
    pdf.set_title(pdf.text_of(title))
    pdf.add_page()
    pdf.use(16, "B")
    pdf.multi_cell(0, 8, pdf.text_of(title), new_x="LMARGIN", new_y="NEXT")
    if quote.status == "draft":
        pdf.use(9)
        pdf.set_text_color(160, 60, 0)
        pdf.multi_cell(0, 5, pdf.text_of(_("Draft: not issued, no number; prices as of today.")),
                       new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
    pdf.ln(2)

    seller = [cluster.legal_name or cluster.name]
    if cluster.legal_name and cluster.legal_name != cluster.name:
        seller.insert(0, cluster.name)
    address = " ".join(x for x in (cluster.postcode, cluster.city) if x)
    seller += [x for x in (cluster.street, address) if x]
    if cluster.siren:
        seller.append(_("SIREN %(siren)s", siren=cluster.siren))
    if cluster.vat_number:
        seller.append(_("VAT number %(vat)s", vat=cluster.vat_number))
    buyer = [sheet.organization or f"#{quote.organization_id}"]
    contact = sheet.contact
    if contact is not None and not contact.erased:
        buyer.append(_("Contact: %(name)s", name=contact.full_name))
        if contact.email:
            buyer.append(contact.email)
    top = pdf.get_y()
    pdf.use(8, "B")
    pdf.cell(95, 5, pdf.text_of(_("From")), new_x="LMARGIN", new_y="NEXT")
    pdf.use(9)
    pdf.multi_cell(92, 5, pdf.text_of("\n".join(seller)), new_x="LMARGIN", new_y="NEXT")
    left_end = pdf.get_y()
    pdf.set_xy(pdf.l_margin + 100, top)
    pdf.use(8, "B")
    pdf.cell(90, 5, pdf.text_of(_("To")), new_x="LEFT", new_y="NEXT")
    pdf.use(9)
    pdf.multi_cell(90, 5, pdf.text_of("\n".join(buyer)), new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(left_end, pdf.get_y()) + 3)

    facts = []
    if quote.issue_date:
        facts.append(_("Date: %(day)s", day=format_date(quote.issue_date)))
    if quote.valid_until:
        facts.append(_("Valid until %(day)s", day=format_date(quote.valid_until)))
    if facts:
        pdf.use(9)
        pdf.multi_cell(0, 5, pdf.text_of(" · ".join(facts)), new_x="LMARGIN", new_y="NEXT")
    if quote.title:
        pdf.use(11, "B")
        pdf.multi_cell(0, 6, pdf.text_of(quote.title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    widths = (8, 66, 16, 25, 25, 25, 25)
    pdf.row(widths, ("#", _("Description"), _("Qty"), _("Unit price"), _("Full price"), _("Third-party payer"),
                     _("You pay")), bold=True, fill=True)
    for line in sheet.lines:
        what = line.description
        if not line.is_free:
            what += " " + (_("(member price)") if line.member else _("(non-member price)"))
        pdf.row(widths, (line.position, what, f"{line.quantity.normalize():f}", money(line.unit_price),
                         money(line.full_amount), money(line.payer_amount), money(line.beneficiary_amount)))
    if not sheet.lines:
        pdf.use(9)
        pdf.cell(0, 6, pdf.text_of(_("No line yet.")), new_x="LMARGIN", new_y="NEXT")
    pdf.row(widths, ("", _("Total"), "", "", money(quote.total_full), money(quote.total_payer),
                     money(quote.total_beneficiary)), bold=True, fill=True)
    pdf.ln(2)
    pdf.use(8)
    pdf.multi_cell(0, 4, pdf.text_of(_("Amounts excluding VAT. Full price: what the service costs; third-party "
                                       "payer: the part a funding scheme pays; you pay: the rest.")),
                   new_x="LMARGIN", new_y="NEXT")

    if sheet.schemes:
        pdf.heading(_("Third-party payers"))
        for scheme in sheet.schemes.values():
            payer = sheet.payers.get(scheme.payer_id, "")
            lines = ", ".join(str(line.position) for line in sheet.lines if line.funding_scheme_id == scheme.id)
            text = " – ".join(x for x in (payer, scheme.reference and _("agreement %(ref)s", ref=scheme.reference),
                                          _("lines %(lines)s", lines=lines)) if x)
            pdf.entry(scheme.name, "\n".join(x for x in (text, scheme.counterpart and _(
                "Counterpart expected: %(what)s", what=scheme.counterpart)) if x))
        pdf.use(8)
        pdf.multi_cell(0, 4, pdf.text_of(_("The third-party payers' parts are an estimate: they are confirmed when "
                                           "the quote is accepted, within what their schemes have left.")),
                       new_x="LMARGIN", new_y="NEXT")
    if quote.notes:
        pdf.heading(_("Notes"))
        pdf.use(9)
        pdf.multi_cell(0, 5, pdf.text_of(quote.notes), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
