"""The catalogue's queries: the list and its filters, the search, a service's page.

What the pages, the JSON API, the PDF sheet and the search box share.  Every statement
is on cluster-owned models: the core scopes it to the current cluster.

A filter is a plain dict with these optional keys: ``q`` (words, matched case- and
accent-insensitively in the name, code, problem and service rendered), ``range`` (a range
id), ``status`` (``draft``, ``on_sale``, ``retired``), ``family`` (a revenue family).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, and_, func, select

from core import Page, db, paginate
from plugins.crm import api as crm

from . import pricing
from .models import Price, Range, Service, normalize
from .settings import hourly_cost

SORTABLE = {"name": Service.name, "code": Service.code, "status": Service.status,
            "family": Service.revenue_family, "updated": Service.updated_at}


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def words(query: str) -> list[str]:
    return normalize(query).split()[:8]


def catalogue_select(filters: dict | None = None) -> Select:
    """The services matching the filters, by name."""
    filters = filters or {}
    stmt = select(Service).order_by(Service.name, Service.id)
    if filters.get("q"):
        stmt = stmt.where(and_(*(Service.search.like(_like(w), escape="\\") for w in words(filters["q"]))))
    if filters.get("range"):
        stmt = stmt.where(Service.range_id == filters["range"])
    if filters.get("status"):
        stmt = stmt.where(Service.status == filters["status"])
    if filters.get("family"):
        stmt = stmt.where(Service.revenue_family == filters["family"])
    return stmt


def catalogue_page(filters: dict, *, page: int, sort: str = "name", per_page: int = 50) -> Page:
    return paginate(db.session, catalogue_select(filters), page=page, per_page=per_page, sort=sort,
                    sortable=SORTABLE)


def search(query: str, limit: int) -> list[Service]:
    """Services for the global search box (every word must match)."""
    if not words(query):
        return []
    return list(db.session.execute(catalogue_select({"q": query}).limit(limit)).scalars())


def ranges() -> list[tuple[Range, int]]:
    """The current cluster's ranges with the number of services in each, by name."""
    counts = dict(db.session.execute(
        select(Service.range_id, func.count(Service.id)).where(Service.range_id.is_not(None))
        .group_by(Service.range_id)).all())
    rows = db.session.execute(select(Range).order_by(Range.name)).scalars().all()
    return [(r, counts.get(r.id, 0)) for r in rows]


def service_costs(service: Service, cluster=None) -> pricing.CostBreakdown:
    """The production cost of one unit of a service at the cluster's hourly cost."""
    return pricing.production_cost(service.steps, hourly_cost=hourly_cost(cluster),
                                   coordination_hours=service.coordination_hours,
                                   coordination_cost=service.coordination_cost,
                                   planned_volume=service.planned_volume)


@dataclass
class PriceRow:
    price: Price
    economics: pricing.PriceEconomics
    state: str  # "current", "future" or "past"


@dataclass
class ServiceSheet:
    """Everything a service's page (and its PDF sheet, and its API detail) shows."""

    service: Service
    costs: pricing.CostBreakdown
    prices: list[PriceRow]
    competence_names: dict[int, str]
    experts: list[tuple[object, str, str]]  # (ServiceExpert, person name, organization name)
    steps: list[tuple[object, object, list[str]]] = field(default_factory=list)  # (step, cost, competence names)

    @property
    def current_prices(self) -> list[PriceRow]:
        return [row for row in self.prices if row.state == "current"]


def _state(price: Price, on: date) -> str:
    if price.valid_from > on:
        return "future"
    if price.valid_until is not None and price.valid_until < on:
        return "past"
    return "current"


def service_sheet(service: Service, on: date, cluster=None) -> ServiceSheet:
    """A service's description with its computed costs, margins and break-even, on ``on``."""
    costs = service_costs(service, cluster)
    ids = set(service.competence_ids)
    for step in service.steps:
        ids.update(step.competence_ids)
    names = crm.competence_names(ids)
    persons = crm.get_persons(e.person_id for e in service.experts if e.person_id)
    orgs = crm.organization_names([e.organization_id for e in service.experts]
                                  + [p.organization_id for p in persons.values()])
    experts = []
    for e in service.experts:
        person = persons.get(e.person_id)
        person_name = "" if person is None else (f"#{person.id}" if person.erased else person.full_name)
        org_id = e.organization_id or (person.organization_id if person else None)
        experts.append((e, person_name, orgs.get(org_id, "")))
    rows = [PriceRow(p, pricing.price_economics(p, costs), _state(p, on)) for p in service.prices]
    steps = [(step, cost, [names[c] for c in step.competence_ids if c in names])
             for step, cost in zip(service.steps, costs.step_costs)]
    return ServiceSheet(service=service, costs=costs, prices=rows, competence_names=names, experts=experts,
                        steps=steps)


def status_counts() -> dict[str, int]:
    """How many of the current cluster's services are in each status (the dashboard)."""
    return dict(db.session.execute(select(Service.status, func.count(Service.id)).group_by(Service.status)).all())
