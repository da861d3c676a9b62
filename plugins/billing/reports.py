"""What the sales say: the sales list and its totals, what a payer's money bought, a service's
business model over a period.

Shared by the pages and the JSON API.  Every statement is on cluster-owned models: the core
scopes it to the current cluster.  A sales filter is a plain dict with these optional keys:
``service`` (a service id), ``organization`` (a CRM organization id), ``scheme`` (a funding
scheme id), ``status`` (``recorded``, ``cancelled``), ``since`` and ``until`` (days of the
service, both included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, func, select

from core import Page, db, paginate
from plugins.crm import api as crm

from . import pricing
from .models import FundingScheme, Sale, Service
from .pricing import ZERO, money
from .queries import service_costs

SORTABLE = {"sold_on": Sale.sold_on, "amount": Sale.full_amount, "id": Sale.id}


def sales_select(filters: dict | None = None) -> Select:
    """The sales matching the filters, newest first."""
    filters = filters or {}
    stmt = select(Sale).order_by(Sale.sold_on.desc(), Sale.id.desc())
    if filters.get("service"):
        stmt = stmt.where(Sale.service_id == filters["service"])
    if filters.get("organization"):
        stmt = stmt.where(Sale.organization_id == filters["organization"])
    if filters.get("scheme"):
        stmt = stmt.where(Sale.scheme_id == filters["scheme"])
    if filters.get("status"):
        stmt = stmt.where(Sale.status == filters["status"])
    if filters.get("since"):
        stmt = stmt.where(Sale.sold_on >= filters["since"])
    if filters.get("until"):
        stmt = stmt.where(Sale.sold_on <= filters["until"])
    return stmt


def sales_page(filters: dict, *, page: int, sort: str = "", per_page: int = 50) -> Page:
    return paginate(db.session, sales_select(filters), page=page, per_page=per_page, sort=sort, sortable=SORTABLE)


@dataclass(frozen=True)
class Totals:
    sales: int = 0
    units: Decimal = ZERO
    full_amount: Decimal = ZERO
    payer_amount: Decimal = ZERO
    beneficiary_amount: Decimal = ZERO


def _totals(stmt) -> Totals:
    sub = stmt.order_by(None).subquery()
    row = db.session.execute(select(
        func.count(), func.coalesce(func.sum(sub.c.quantity), 0), func.coalesce(func.sum(sub.c.full_amount), 0),
        func.coalesce(func.sum(sub.c.payer_amount), 0), func.coalesce(func.sum(sub.c.beneficiary_amount), 0),
    ).select_from(sub)).one()
    return Totals(sales=row[0], units=money(row[1]), full_amount=money(row[2]), payer_amount=money(row[3]),
                  beneficiary_amount=money(row[4]))


def sales_totals(filters: dict) -> Totals:
    """Totals of the *recorded* sales matching the filters (cancelled ones count for nothing)."""
    filters = {**filters}
    if filters.get("status") == "cancelled":
        return Totals()
    filters["status"] = "recorded"
    return _totals(sales_select(filters))


def names(sales) -> dict[str, dict[int, str]]:
    """Names to show next to a list of sales: services, organizations (buyers and payers), schemes."""
    sales = list(sales)
    service_ids = {s.service_id for s in sales}
    scheme_ids = {s.scheme_id for s in sales if s.scheme_id}
    services = dict(db.session.execute(
        select(Service.id, Service.name).where(Service.id.in_(service_ids))).all()) if service_ids else {}
    schemes = dict(db.session.execute(
        select(FundingScheme.id, FundingScheme.name).where(FundingScheme.id.in_(scheme_ids))).all()) \
        if scheme_ids else {}
    orgs = crm.organization_names([s.organization_id for s in sales] + [s.payer_id for s in sales])
    persons = crm.get_persons(s.person_id for s in sales if s.person_id)
    return {"services": services, "schemes": schemes, "organizations": orgs,
            "persons": {pid: (f"#{p.id}" if p.erased else p.full_name) for pid, p in persons.items()}}


# -- what a payer's money bought -------------------------------------------------------------
@dataclass(frozen=True)
class BeneficiaryLine:
    organization_id: int
    name: str
    sales: int
    full_amount: Decimal
    payer_amount: Decimal
    beneficiary_amount: Decimal
    cap_left: Decimal | None  # None: the scheme has no cap


@dataclass(frozen=True)
class ServiceLine:
    service_id: int
    name: str
    sales: int
    units: Decimal
    full_amount: Decimal
    payer_amount: Decimal
    beneficiary_amount: Decimal


@dataclass
class SchemeReport:
    """A scheme's page for its payer: who its money went to, for what, and what is left."""

    scheme: FundingScheme
    payer_name: str
    services: list[tuple[int, str]]  # the services it co-funds
    totals: Totals
    beneficiaries: list[BeneficiaryLine] = field(default_factory=list)
    by_service: list[ServiceLine] = field(default_factory=list)

    @property
    def envelope_left(self) -> Decimal | None:
        return self.scheme.envelope_left


def scheme_report(scheme: FundingScheme, since: date | None = None, until: date | None = None) -> SchemeReport:
    """What the scheme's money bought (its recorded sales, in a period when given)."""
    filters = {"scheme": scheme.id, "status": "recorded", "since": since, "until": until}
    stmt = sales_select(filters)
    sub = stmt.order_by(None).subquery()
    sums = (func.count(), func.coalesce(func.sum(sub.c.full_amount), 0), func.coalesce(func.sum(sub.c.payer_amount), 0),
            func.coalesce(func.sum(sub.c.beneficiary_amount), 0))
    by_org = db.session.execute(select(sub.c.organization_id, *sums).group_by(sub.c.organization_id)).all()
    by_service = db.session.execute(select(sub.c.service_id, func.coalesce(func.sum(sub.c.quantity), 0), *sums)
                                    .group_by(sub.c.service_id)).all()
    lifetime = {}  # the cap is over the scheme's life: what it paid each beneficiary, whatever the period
    if scheme.cap_per_beneficiary is not None and by_org:
        lifetime = dict(db.session.execute(
            select(Sale.organization_id, func.sum(Sale.payer_amount))
            .where(Sale.scheme_id == scheme.id, Sale.status == "recorded",
                   Sale.organization_id.in_([r[0] for r in by_org]))
            .group_by(Sale.organization_id)).all())
    org_names = crm.organization_names([r[0] for r in by_org] + [scheme.payer_id])
    service_names = dict(db.session.execute(select(Service.id, Service.name).where(
        Service.id.in_({r[0] for r in by_service} | set(scheme.service_ids)))).all()) \
        if (by_service or scheme.service_ids) else {}
    cap = None if scheme.cap_per_beneficiary is None else money(scheme.cap_per_beneficiary)
    beneficiaries = sorted(
        (BeneficiaryLine(organization_id=oid, name=org_names.get(oid, f"#{oid}"), sales=n, full_amount=money(full),
                         payer_amount=money(payer), beneficiary_amount=money(rest),
                         cap_left=None if cap is None else max(cap - money(lifetime.get(oid, 0)), ZERO))
         for oid, n, full, payer, rest in by_org),
        key=lambda b: (-b.payer_amount, b.name))
    services = sorted(
        (ServiceLine(service_id=sid, name=service_names.get(sid, f"#{sid}"), sales=n, units=money(units),
                     full_amount=money(full), payer_amount=money(payer), beneficiary_amount=money(rest))
         for sid, units, n, full, payer, rest in by_service),
        key=lambda s: (-s.payer_amount, s.name))
    return SchemeReport(scheme=scheme, payer_name=org_names.get(scheme.payer_id, f"#{scheme.payer_id}"),
                        services=[(sid, service_names.get(sid, f"#{sid}")) for sid in scheme.service_ids],
                        totals=_totals(stmt), beneficiaries=beneficiaries, by_service=services)


def schemes_with_payers() -> list[tuple[FundingScheme, str]]:
    """The current cluster's schemes with their payer's name, by name."""
    schemes = list(db.session.execute(select(FundingScheme).order_by(FundingScheme.name, FundingScheme.id)).scalars())
    payers = crm.organization_names(s.payer_id for s in schemes)
    return [(s, payers.get(s.payer_id, f"#{s.payer_id}")) for s in schemes]


# -- a service's business model ----------------------------------------------------------------
@dataclass(frozen=True)
class PayerLine:
    scheme_id: int
    scheme_name: str
    payer_id: int
    payer_name: str
    sales: int
    payer_amount: Decimal


@dataclass
class BusinessModel:
    """A service's flows and viability over a period, from the sales recorded.

    - revenue = the full amounts of the recorded sales; of which ``payer_amount`` paid by
      third-party payers, ``beneficiary_amount`` by the organizations themselves
      (self-financed), ``member_revenue`` at member prices;
    - production cost = units sold x the unit cost (:func:`.pricing.production_cost`: the
      variable cost and the fixed costs spread over the planned volume);
    - margin = revenue - production cost; contribution = revenue - units x variable cost,
      what the period's sales bring towards the fixed costs of a year.
    """

    service: Service
    since: date
    until: date
    costs: pricing.CostBreakdown
    totals: Totals
    member_revenue: Decimal
    by_payer: list[PayerLine]

    @property
    def units(self) -> Decimal:
        return self.totals.units

    @property
    def revenue(self) -> Decimal:
        return self.totals.full_amount

    @property
    def production_cost(self) -> Decimal:
        return money(self.costs.unit_cost * self.units)

    @property
    def variable_cost(self) -> Decimal:
        return money(self.costs.variable_per_unit * self.units)

    @property
    def margin(self) -> Decimal:
        return self.revenue - self.production_cost

    @property
    def margin_rate(self) -> Decimal | None:
        """The margin over the revenue, percent, one decimal (None without revenue)."""
        if not self.revenue:
            return None
        return (self.margin * 100 / self.revenue).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def contribution(self) -> Decimal:
        return self.revenue - self.variable_cost

    @property
    def self_financed_rate(self) -> Decimal | None:
        """The share of the revenue the organizations paid themselves, percent, one decimal."""
        if not self.revenue:
            return None
        return (self.totals.beneficiary_amount * 100 / self.revenue).quantize(Decimal("0.1"),
                                                                              rounding=ROUND_HALF_UP)


def business_model(service: Service, since: date, until: date) -> BusinessModel:
    """The business model of ``service`` from its sales recorded between two days (included)."""
    filters = {"service": service.id, "status": "recorded", "since": since, "until": until}
    stmt = sales_select(filters)
    totals = _totals(stmt)
    member_revenue = money(db.session.execute(
        select(func.coalesce(func.sum(Sale.full_amount), 0)).where(
            Sale.service_id == service.id, Sale.status == "recorded", Sale.member.is_(True),
            Sale.sold_on >= since, Sale.sold_on <= until)).scalar_one())
    rows = db.session.execute(
        select(Sale.scheme_id, Sale.payer_id, func.count(), func.sum(Sale.payer_amount))
        .where(Sale.service_id == service.id, Sale.status == "recorded", Sale.scheme_id.is_not(None),
               Sale.sold_on >= since, Sale.sold_on <= until)
        .group_by(Sale.scheme_id, Sale.payer_id)).all()
    scheme_names = dict(db.session.execute(select(FundingScheme.id, FundingScheme.name).where(
        FundingScheme.id.in_([r[0] for r in rows]))).all()) if rows else {}
    payer_names = crm.organization_names(r[1] for r in rows)
    by_payer = sorted((PayerLine(scheme_id=sid, scheme_name=scheme_names.get(sid, f"#{sid}"), payer_id=pid,
                                 payer_name=payer_names.get(pid, f"#{pid}"), sales=n, payer_amount=money(amount))
                       for sid, pid, n, amount in rows), key=lambda p: (-p.payer_amount, p.scheme_name))
    return BusinessModel(service=service, since=since, until=until, costs=service_costs(service), totals=totals,
                         member_revenue=member_revenue, by_payer=by_payer)
