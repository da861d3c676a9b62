"""Quotes: a draft, its lines, issuing it (its number), sending it, and the client's answer.

- :func:`create_draft`, :func:`update_draft`: a draft for a CRM organization (and a
  contact), from a validated :class:`.forms.QuoteForm`.  A draft has no number and no date.
- :func:`add_catalogue_line`: a service of the catalogue in one pricing mode, priced as a
  sale would be on the quote's day (:func:`.sales.preview_sale`: the price valid that day,
  the member price for a member of the cluster then) with the part a funding scheme would
  pay: an *estimate*, which takes nothing from the scheme's envelope.
  :func:`add_free_line`: a description, a quantity, a unit price (no payer).
  :func:`remove_line`.
- :func:`issue`: the quote gets its number (``Q-2026-0001``: :mod:`.numbering`, under the
  series' counter lock, in this transaction), the day's date, its catalogue lines priced
  again on that day, and its validity (the cluster's number of days unless it has its own
  date); its status becomes ``sent``.  The number is the last step that can fail, so a
  refused issue consumes no number; a transaction that rolls back gives it back.
- :func:`send`: mails the quote with its PDF attached to the contact (or an address given),
  through the core's mail service, after the request commits; a draft is issued first.
- :func:`accept`: each catalogue line becomes a sale (:func:`.sales.record_sale` with
  ``quote_line_id``, on the quote's date: its prices and member test; the funding scheme's
  part is taken from its envelope then, and may be less than the estimate); all or
  nothing.  An expired quote (past its validity) cannot be accepted.  :func:`refuse`.

Operations act on the current cluster's quotes, flush and never commit.  A quote that is
no longer a draft does not change, except its status.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from core import cluster_by_id, db, queue_mails, utcnow
from plugins.crm import api as crm

from . import numbering, sales
from .errors import BillingError
from .models import QUOTE_STATUSES, Quote, QuoteLine
from .pricing import ZERO, money
from .settings import quote_validity_days

MAIL_JOB = "billing.send_quote"


# -- helpers ----------------------------------------------------------------------------------------
def lock_quote(quote_id: int) -> Quote:
    """The current cluster's quote, its row locked until the transaction ends, read anew."""
    quote = db.session.execute(db.locked(select(Quote).where(Quote.id == quote_id))
                               .execution_options(populate_existing=True)).scalar_one_or_none()
    if quote is None:
        raise BillingError(_("No such quote."))
    return quote


def status_label(status: str) -> str:
    return str(QUOTE_STATUSES.get(status, status)).lower()


def ensure_draft(quote: Quote) -> None:
    if quote.status != "draft":
        raise BillingError(_("Quote %(number)s is %(status)s: only a draft changes.", number=quote.number or "",
                             status=status_label(quote.status)))


def quote_day(quote: Quote, today: date) -> date:
    """The day a quote's prices apply: its issue date, or today for a draft."""
    return quote.issue_date or today


def _totals(quote: Quote) -> None:
    """The quote's three totals: the sums of its lines' columns.

    :raises BillingError: the total would not fit its column (on ``quantity``).
    """
    lines = list(quote.lines)
    total = sum((money(line.full_amount) for line in lines), ZERO)
    if total > sales.MAX_AMOUNT:
        raise BillingError(_("The quote's total would be too large."), field="quantity")
    quote.total_full = total
    quote.total_payer = sum((money(line.payer_amount) for line in lines), ZERO)
    quote.total_beneficiary = sum((money(line.beneficiary_amount) for line in lines), ZERO)


def _scheme_argument(line: QuoteLine):
    """The line's payer request as :func:`.sales.record_sale` takes it."""
    if line.scheme_choice == sales.AUTO:
        return sales.AUTO
    if line.scheme_choice == "scheme" and line.funding_scheme_id is not None:
        return line.funding_scheme_id
    return None


def _store_choice(line: QuoteLine, scheme) -> None:
    if scheme == sales.AUTO:
        line.scheme_choice, line.funding_scheme_id = sales.AUTO, None
    elif scheme is None:
        line.scheme_choice, line.funding_scheme_id = "", None
    else:
        line.scheme_choice, line.funding_scheme_id = "scheme", int(scheme)


_KEEP = object()


def _estimate(line: QuoteLine, organization_id: int, on: date, *, unit_price=_KEEP) -> None:
    """Price a catalogue line on ``on`` and estimate the payer's part (nothing is taken).

    ``unit_price``: the price agreed for a service on quote (by default the line's own).

    :raises BillingError: the line cannot be priced, or the sale would be refused (on the
        field concerned).
    """
    if unit_price is _KEEP:
        unit_price = line.unit_price if line.mode == "quote" else None
    preview = sales.preview_sale(line.service_id, organization_id, on=on, quantity=line.quantity,
                                 mode=line.mode or None, amount_obtained=line.amount_obtained,
                                 scheme_id=_scheme_argument(line), unit_price=unit_price)
    if preview.refused:
        raise BillingError(preview.refused, field="scheme_id")
    priced = preview.priced
    line.price_id = priced.price.id
    line.mode = priced.mode
    line.member = priced.member
    line.quantity = priced.quantity
    line.unit_price = priced.unit_price
    line.amount_obtained = priced.amount_obtained
    line.full_amount = preview.full_amount
    line.payer_amount = preview.payer_amount
    line.beneficiary_amount = preview.beneficiary_amount
    if line.scheme_choice == sales.AUTO:
        line.funding_scheme_id = preview.scheme.id if preview.scheme is not None else None
    if not line.description:
        line.description = " · ".join(x for x in (priced.service.name, priced.price.label) if x)[:300]


def _next_position(quote: Quote) -> int:
    return max((line.position for line in quote.lines), default=0) + 1


# -- drafts ----------------------------------------------------------------------------------------
def _fill(quote: Quote, form) -> None:
    quote.organization_id = form.organization_id.data
    quote.person_id = form.person_id.data
    quote.title = form.title.data or ""
    quote.valid_until = form.valid_until.data
    quote.notes = form.notes.data or ""


def create_draft(form, *, user_id: int | None = None) -> Quote:
    """A new draft from a validated :class:`.forms.QuoteForm`."""
    quote = Quote(status="draft", created_by_id=user_id, total_full=ZERO, total_payer=ZERO, total_beneficiary=ZERO)
    _fill(quote, form)
    db.session.add(quote)
    db.session.flush()
    return quote


def update_draft(quote: Quote, form, *, today: date) -> Quote:
    """Change a draft from a validated :class:`.forms.QuoteForm`; a new organization prices its
    catalogue lines again (the member test is the organization's)."""
    quote = lock_quote(quote.id)
    ensure_draft(quote)
    organization_changed = form.organization_id.data != quote.organization_id
    _fill(quote, form)
    if organization_changed:
        for line in quote.lines:
            if not line.is_free:
                _estimate(line, quote.organization_id, quote_day(quote, today))
        _totals(quote)
    db.session.flush()
    return quote


def add_catalogue_line(quote: Quote, form, *, today: date) -> QuoteLine:
    """Add a service of the catalogue from a validated :class:`.forms.QuoteLineForm`.

    :raises BillingError: the quote is not a draft, or the line cannot be priced (the field
        concerned: ``service_id``, ``mode``, ``quantity``, ``amount_obtained``,
        ``unit_price``, ``scheme_id``).
    """
    quote = lock_quote(quote.id)
    ensure_draft(quote)
    line = QuoteLine(quote_id=quote.id, service_id=form.service_id.data, mode=form.mode.data or "",
                     quantity=form.quantity.data if form.quantity.data is not None else Decimal(1),
                     amount_obtained=form.amount_obtained.data, description=form.description.data or "")
    _store_choice(line, form.scheme)
    _estimate(line, quote.organization_id, quote_day(quote, today), unit_price=form.unit_price.data)
    line.position = _next_position(quote)
    quote.lines.append(line)
    _totals(quote)
    db.session.flush()
    return line


def add_free_line(quote: Quote, form) -> QuoteLine:
    """Add a free line (description, quantity, unit price) from a validated :class:`.forms.FreeLineForm`."""
    quote = lock_quote(quote.id)
    ensure_draft(quote)
    quantity = form.quantity.data if form.quantity.data is not None else Decimal(1)
    full = money(form.unit_price.data * quantity)
    if full > sales.MAX_AMOUNT:
        raise BillingError(_("The amount is too large."), field="quantity")
    line = QuoteLine(quote_id=quote.id, service_id=None, price_id=None, mode="", description=form.description.data,
                     quantity=quantity, unit_price=money(form.unit_price.data), member=False, full_amount=full,
                     payer_amount=ZERO, beneficiary_amount=full, scheme_choice="", funding_scheme_id=None,
                     position=_next_position(quote))
    quote.lines.append(line)
    _totals(quote)
    db.session.flush()
    return line


def remove_line(line: QuoteLine) -> Quote:
    quote = lock_quote(line.quote_id)
    ensure_draft(quote)
    quote.lines.remove(line)
    for position, other in enumerate(quote.lines, start=1):
        other.position = position
    _totals(quote)
    db.session.flush()
    return quote


# -- issuing and sending ---------------------------------------------------------------------------
def issue(quote: Quote, *, today: date) -> Quote:
    """Give a draft its number and date (today), price its catalogue lines on that day and set
    its validity; it becomes ``sent``.

    :raises BillingError: not a draft, no line, a line that cannot be priced that day, or a
        validity date before today (``valid_until``).
    """
    quote = lock_quote(quote.id)
    ensure_draft(quote)
    if not quote.lines:
        raise BillingError(_("Add a line before issuing the quote."))
    if quote.valid_until is not None and quote.valid_until < today:
        raise BillingError(_("The quote would be valid until %(day)s, before its date: change its validity.",
                             day=format_date(quote.valid_until)), field="valid_until")
    with db.session.begin_nested():  # a refused issue leaves the draft as it was
        for line in quote.lines:  # every check before the number: a refused issue takes none
            if not line.is_free:
                try:
                    _estimate(line, quote.organization_id, today)
                except BillingError as exc:
                    raise BillingError(_("Line %(n)s (%(what)s): %(why)s", n=line.position, what=line.description,
                                         why=str(exc))) from None
        _totals(quote)
        db.session.flush()
    _number, text = numbering.next_number(numbering.QUOTE_SERIES, today.year, cluster_by_id(quote.cluster_id))
    quote.number = text
    quote.issue_date = today
    if quote.valid_until is None:
        quote.valid_until = today + timedelta(days=quote_validity_days(cluster_by_id(quote.cluster_id)))
    quote.status = "sent"
    db.session.flush()
    return quote


def recipient(quote: Quote, email: str | None = None) -> tuple[str, str]:
    """``(name, address)`` to mail the quote to: the address given, else the contact's.

    :raises BillingError: no address (on ``email``).
    """
    person = crm.get_person(quote.person_id) if quote.person_id else None
    name = person.full_name if person is not None and not person.erased else ""
    if email:
        return name, email
    if person is None or person.erased or not person.email:
        raise BillingError(_("The quote has no contact with an e-mail address: give an address."), field="email")
    return name, person.email


def send(quote: Quote, *, today: date, email: str | None = None) -> Quote:
    """Mail the quote (issued first when it is a draft) with its PDF, once the request commits.

    :raises BillingError: no address; the quote is accepted, refused or expired; or issuing
        refuses it.
    """
    quote = lock_quote(quote.id)
    name, address = recipient(quote, email)  # before issuing: no number for a quote that cannot go
    if quote.status == "draft":
        issue(quote, today=today)
    elif quote.state(today) != "sent":
        raise BillingError(_("Quote %(number)s is %(status)s: it is not sent again.", number=quote.number,
                             status=status_label(quote.state(today))))
    quote.sent_at = utcnow()
    quote.sent_to = address[:254]
    db.session.flush()
    queue_mails(MAIL_JOB, cluster=cluster_by_id(quote.cluster_id), after_commit=True,
                params={"items": [quote.id], "to_name": name, "to_email": address},
                label=_("Quote %(number)s to %(address)s", number=quote.number, address=address))
    return quote


# -- the client's answer ----------------------------------------------------------------------------
def _ensure_open(quote: Quote, today: date) -> None:
    state = quote.state(today)
    if state == "expired":
        raise BillingError(_("Quote %(number)s expired on %(day)s: it can no longer be accepted.",
                             number=quote.number, day=format_date(quote.valid_until)))
    if state != "sent":
        raise BillingError(_("Quote %(number)s is %(status)s: only a sent quote is accepted or refused.",
                             number=quote.number or "", status=status_label(state)))


def accept(quote: Quote, *, today: date, user_id: int | None = None) -> list:
    """The client accepts: each catalogue line becomes a sale; return the sales.

    The sales are dated the quote's date (the prices and member test the quote gave); the
    funding scheme's part is taken from its envelope now.  All or nothing: when a sale is
    refused (a scheme that can pay nothing more and refuses), no sale is recorded.

    :raises BillingError: the quote is not sent, or expired, or a sale is refused.
    """
    quote = lock_quote(quote.id)
    _ensure_open(quote, today)
    made = []
    try:
        with db.session.begin_nested():
            for line in quote.lines:
                if line.is_free:
                    continue
                made.append(sales.record_sale(
                    line.service_id, quote.organization_id, on=quote.issue_date, quantity=line.quantity,
                    person_id=quote.person_id, mode=line.mode, amount_obtained=line.amount_obtained,
                    scheme_id=_scheme_argument(line), quote_line_id=line.id,
                    unit_price=line.unit_price if line.mode == "quote" else None, description=line.description,
                    user_id=user_id))
    except BillingError as exc:
        raise BillingError(_("The quote cannot be accepted: %(why)s", why=str(exc))) from None
    quote.status = "accepted"
    quote.decided_on = today
    db.session.flush()
    return made


def refuse(quote: Quote, *, today: date, reason: str = "") -> Quote:
    """The client refuses the quote (a reason is kept)."""
    quote = lock_quote(quote.id)
    _ensure_open(quote, today)
    quote.status = "refused"
    quote.decided_on = today
    quote.refusal_reason = reason or ""
    db.session.flush()
    return quote
