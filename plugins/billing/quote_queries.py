"""The lists of quotes and subscriptions, their filters, and what a quote's page and PDF show.

Every statement is on cluster-owned models: the core scopes it to the current cluster (a
job's session to the job's).  A status filter is the status *on a day*: a sent quote past
its validity is ``expired``, an active subscription past its end date ``ended``, whether
or not the row says so yet.

Quote filters (a plain dict, each optional): ``status``, ``organization`` (a CRM
organization id), ``since`` and ``until`` (the issue date, days included: drafts have none).
Subscription filters: ``status``, ``service`` (an id), ``due_before`` (the next billing date
on or before that day, active subscriptions only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, and_, or_, select

from core import Page, db, paginate
from plugins.crm import api as crm

from .models import FundingScheme, Quote, QuoteLine, Service, Subscription

QUOTE_SORTABLE = {"number": Quote.number, "date": Quote.issue_date, "total": Quote.total_full,
                  "status": Quote.status, "valid": Quote.valid_until}
SUBSCRIPTION_SORTABLE = {"start": Subscription.start_date, "next": Subscription.next_billing_date,
                         "status": Subscription.status}


# -- quotes ------------------------------------------------------------------------------------------
def quote_status_clause(status: str, on: date):
    if status == "expired":
        return or_(Quote.status == "expired",
                   and_(Quote.status == "sent", Quote.valid_until.is_not(None), Quote.valid_until < on))
    if status == "sent":
        return and_(Quote.status == "sent", or_(Quote.valid_until.is_(None), Quote.valid_until >= on))
    return Quote.status == status


def quotes_select(filters: dict | None, on: date) -> Select:
    """The quotes matching the filters, newest first."""
    filters = filters or {}
    stmt = select(Quote).order_by(Quote.id.desc())
    if filters.get("status"):
        stmt = stmt.where(quote_status_clause(filters["status"], on))
    if filters.get("organization"):
        stmt = stmt.where(Quote.organization_id == filters["organization"])
    if filters.get("since"):
        stmt = stmt.where(Quote.issue_date >= filters["since"])
    if filters.get("until"):
        stmt = stmt.where(Quote.issue_date <= filters["until"])
    return stmt


def quotes_page(filters: dict, on: date, *, page: int, sort: str = "", per_page: int = 50) -> Page:
    return paginate(db.session, quotes_select(filters, on), page=page, per_page=per_page, sort=sort,
                    sortable=QUOTE_SORTABLE)


def organization_names(rows) -> dict[int, str]:
    return crm.organization_names(r.organization_id for r in rows)


@dataclass
class QuoteSheet:
    """What a quote's page, its PDF and its mail show."""

    quote: Quote
    lines: list[QuoteLine]
    organization: str  # the organization's name
    contact: object | None  # the contact's plugins.crm.api.PersonInfo
    schemes: dict[int, FundingScheme] = field(default_factory=dict)  # the funding schemes of the lines
    payers: dict[int, str] = field(default_factory=dict)  # their payers' names, by organization id
    services: dict[int, str] = field(default_factory=dict)  # the lines' services' names

    @property
    def has_payer(self) -> bool:
        return any(line.payer_amount for line in self.lines)


def quote_sheet(quote: Quote, session=None) -> QuoteSheet:
    """A quote with its lines, organization, contact and the funding schemes of its estimate."""
    session = session or db.session
    lines = list(quote.lines)
    scheme_ids = {line.funding_scheme_id for line in lines if line.funding_scheme_id}
    schemes = {}
    if scheme_ids:
        schemes = {s.id: s for s in session.execute(select(FundingScheme).where(FundingScheme.id.in_(scheme_ids)))
                   .scalars()}
    service_ids = {line.service_id for line in lines if line.service_id}
    services = dict(session.execute(select(Service.id, Service.name).where(Service.id.in_(service_ids))).all()) \
        if service_ids else {}
    contact = crm.get_person(quote.person_id) if quote.person_id else None
    return QuoteSheet(quote=quote, lines=lines,
                      organization=crm.organization_names([quote.organization_id]).get(quote.organization_id, ""),
                      contact=contact, schemes=schemes,
                      payers=crm.organization_names(s.payer_id for s in schemes.values()), services=services)


# -- subscriptions -------------------------------------------------------------------------------
def subscription_status_clause(status: str, on: date):
    if status == "ended":
        return or_(Subscription.status == "ended",
                   and_(Subscription.status == "active", Subscription.end_date.is_not(None),
                        Subscription.end_date < on))
    if status == "active":
        return and_(Subscription.status == "active",
                    or_(Subscription.end_date.is_(None), Subscription.end_date >= on))
    return Subscription.status == status


def subscriptions_select(filters: dict | None, on: date) -> Select:
    """The subscriptions matching the filters, by next billing date (then newest)."""
    filters = filters or {}
    stmt = select(Subscription).order_by(Subscription.next_billing_date.is_(None), Subscription.next_billing_date,
                                         Subscription.id.desc())
    if filters.get("status"):
        stmt = stmt.where(subscription_status_clause(filters["status"], on))
    if filters.get("service"):
        stmt = stmt.where(Subscription.service_id == filters["service"])
    if filters.get("due_before"):
        stmt = stmt.where(Subscription.status == "active", Subscription.next_billing_date.is_not(None),
                          Subscription.next_billing_date <= filters["due_before"])
    return stmt


def subscriptions_page(filters: dict, on: date, *, page: int, sort: str = "", per_page: int = 50) -> Page:
    return paginate(db.session, subscriptions_select(filters, on), page=page, per_page=per_page, sort=sort,
                    sortable=SUBSCRIPTION_SORTABLE)
