"""Billing tables, slice 1: the service catalogue and its prices.

Everything here belongs to one cluster (:class:`core.ClusterScoped`): the core scopes every
query to the current cluster.  CRM records (competences, persons, organizations) are
referred to by id and read through ``plugins.crm.api``.

- :class:`Range`: services grouped so that they share relational work, information and
  experts (the business model's economies of scale).
- :class:`Service`: one service of the catalogue, described along the service checklist
  (docs/billing.md): value, target and prerequisites, process (:class:`ServiceStep` rows
  and the coordination), competences and network (:class:`ServiceCompetence`,
  :class:`ServiceExpert`), design, revenue family, VAT, status.
- :class:`Price`: a price of a service in one pricing mode, for members and non-members,
  valid over dates.  A price row is never rewritten: a new price is a new row, and an old
  row only ever gets its end date (once).  A later quote or sale refers to the row.

Money is ``Numeric(12, 2)`` read as :class:`decimal.Decimal`, never a float.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core import Base, ClusterScoped, UTCDateTime, utcnow

SERVICE_STATUSES = {"draft": _l("Draft"), "on_sale": _l("On sale"), "retired": _l("Retired")}
# the families of Clusterland's self-financed revenue (docs/billing.md)
REVENUE_FAMILIES = {
    "membership_fees": _l("Membership fees"),
    "projects": _l("Projects"),
    "training": _l("Training"),
    "advertising_media": _l("Advertising and media"),
    "international": _l("International"),
    "marketing_support": _l("Marketing support"),
    "other": _l("Other"),
}
VAT_CATEGORIES = {
    "standard": _l("Standard rate"),
    "reduced": _l("Reduced rate"),
    "exempt_non_profit": _l("Exempt: non-profit body (CGI art. 261-7-1°)"),
    "franchise": _l("Small-business franchise (CGI art. 293 B)"),
    "out_of_scope": _l("Out of scope (no counterpart)"),
}
VAT_WITHOUT_RATE = ("exempt_non_profit", "franchise", "out_of_scope")  # their rate is 0
# the CRM's keys for an organization's size band and a person's function, so that a
# service's target compares with the CRM's records
SIZE_BANDS = {
    "0": _l("No employee"),
    "1-9": _l("1 to 9"),
    "10-49": _l("10 to 49"),
    "50-249": _l("50 to 249"),
    "250-999": _l("250 to 999"),
    "1000+": _l("1,000 or more"),
}
COMPANY_FUNCTIONS = {
    "management": _l("General management"),
    "rnd": _l("R&D, engineering"),
    "production": _l("Production, operations"),
    "sales": _l("Sales, marketing"),
    "purchasing": _l("Purchasing"),
    "hr": _l("Human resources"),
    "finance": _l("Finance, administration"),
    "it": _l("IT"),
    "quality": _l("Quality, environment"),
    "other": _l("Other"),
}
COST_BEHAVIOURS = {"per_unit": _l("Per unit delivered"), "fixed": _l("Fixed, per year")}
PRICING_MODES = {
    "catalogue": _l("Catalogue price per unit"),
    "pay_per_use": _l("Pay per use"),
    "flat_fee": _l("Flat fee"),
    "subscription": _l("Subscription"),
    "quote": _l("Quote (case by case)"),
    "success_fee": _l("Success fee"),
    "membership_fee": _l("Membership fee"),
}
AMOUNT_MODES = ("catalogue", "pay_per_use", "flat_fee", "subscription", "membership_fee")
SUBSCRIPTION_PERIODS = {"month": _l("Month"), "quarter": _l("Quarter"), "year": _l("Year")}
RENEWALS = {"automatic": _l("Renewed automatically"), "on_request": _l("Renewed on request")}


def normalize(*parts: str | None) -> str:
    """Fold case and strip accents, for the catalogue search (``"Diagnostic Énergie"`` -> ``"diagnostic energie"``)."""
    text = " ".join(p for p in parts if p)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


class Range(ClusterScoped, Base):
    """Services grouped so that they share relational work, information and experts."""

    __tablename__ = "billing_range"
    __audited__ = True
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_billing_range_cluster_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), info={
        "unique_message": _l("This cluster has a range with this name already.")})
    description: Mapped[str] = mapped_column(Text, default="")
    shared_relations: Mapped[str] = mapped_column(Text, default="")  # the relational work the services share
    shared_information: Mapped[str] = mapped_column(Text, default="")
    shared_experts: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name


class Service(ClusterScoped, Base):
    """A service of the catalogue, one field (or sub-record) per heading of the checklist."""

    __tablename__ = "billing_service"
    __audited__ = True
    __audit_exclude__ = ("search", "updated_at")
    __table_args__ = (UniqueConstraint("cluster_id", "code", name="uq_billing_service_cluster_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    range_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_range.id", ondelete="SET NULL"), default=None, index=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(30), default=None, info={
        "unique_message": _l("Another service of this cluster has this code.")})
    status: Mapped[str] = mapped_column(String(10), default="draft", index=True)
    revenue_family: Mapped[str] = mapped_column(String(30), default="other")
    vat_category: Mapped[str] = mapped_column(String(30), default="standard")
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("20.00"))
    # 1. value delivered
    problem: Mapped[str] = mapped_column(Text, default="")
    solution: Mapped[str] = mapped_column(Text, default="")
    service_rendered: Mapped[str] = mapped_column(Text, default="")  # concrete and measurable
    direct_gain: Mapped[str] = mapped_column(Text, default="")  # margin, turnover
    indirect_gains: Mapped[str] = mapped_column(Text, default="")  # image, strategy
    # target and prerequisites
    size_bands: Mapped[list] = mapped_column(JSON, default=list)  # keys of SIZE_BANDS (the CRM's)
    sectors: Mapped[list] = mapped_column(JSON, default=list)  # NACE codes or divisions, as the CRM's sector
    functions: Mapped[list] = mapped_column(JSON, default=list)  # keys of COMPANY_FUNCTIONS (the CRM's)
    target_traits: Mapped[str] = mapped_column(Text, default="")
    prerequisites: Mapped[str] = mapped_column(Text, default="")
    # 2. process: the steps (ServiceStep) and their coordination, per unit delivered
    unit: Mapped[str] = mapped_column(String(60), default="")  # what one unit is: "one diagnostic"
    coordination_hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal("0"))
    coordination_cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    planned_volume: Mapped[int | None] = mapped_column(Integer, default=None)  # units a year
    # 3. competences and network: in-house (ServiceCompetence), experts (ServiceExpert)
    downstream_competences: Mapped[list] = mapped_column(JSON, default=list)  # relational, kept in-house
    # 4. design
    promise: Mapped[str] = mapped_column(Text, default="")
    tools: Mapped[str] = mapped_column(Text, default="")  # handed to the user
    deliverables: Mapped[str] = mapped_column(Text, default="")
    duration: Mapped[str] = mapped_column(String(200), default="")
    calendar: Mapped[str] = mapped_column(Text, default="")
    evaluation_questions: Mapped[list] = mapped_column(JSON, default=list)  # the formal end: a joint evaluation
    relationship_after: Mapped[str] = mapped_column(Text, default="")  # the relationship once it ends
    retired_on: Mapped[date | None] = mapped_column(Date, default=None)
    copied_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_service.id", ondelete="SET NULL"), default=None)
    search: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    range: Mapped[Range | None] = relationship(lazy="joined")
    steps: Mapped[list["ServiceStep"]] = relationship(
        back_populates="service", cascade="all, delete-orphan", lazy="selectin",
        order_by=lambda: (ServiceStep.position, ServiceStep.id))
    competence_links: Mapped[list["ServiceCompetence"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")
    experts: Mapped[list["ServiceExpert"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by=lambda: ServiceExpert.id)
    prices: Mapped[list["Price"]] = relationship(
        back_populates="service", lazy="selectin",
        order_by=lambda: (Price.mode, Price.fee_tier, Price.valid_from, Price.id))

    @property
    def sellable(self) -> bool:
        """Can it be sold (quoted, subscribed, invoiced)?  Only while on sale."""
        return self.status == "on_sale"

    @property
    def competence_ids(self) -> list[int]:
        return sorted(link.competence_id for link in self.competence_links)

    def refresh_search(self) -> None:
        self.search = normalize(self.name, self.code, self.problem, self.service_rendered)

    def __str__(self) -> str:
        return self.name


class ServiceCompetence(ClusterScoped, Base):
    """An in-house technical competence a service needs (the CRM's competence vocabulary)."""

    __tablename__ = "billing_service_competence"

    service_id: Mapped[int] = mapped_column(ForeignKey("billing_service.id", ondelete="CASCADE"), primary_key=True)
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("crm_competence.id", ondelete="CASCADE"), primary_key=True, index=True)


class ServiceStep(ClusterScoped, Base):
    """A step of a service's process, with what it takes and what it costs.

    Its cost is ``purchases + staff_hours x the cluster's hourly cost + external_fees +
    overheads``: per unit delivered (``cost_behaviour="per_unit"``) or once a year whatever
    the volume (``"fixed"``: designing, tooling, animating the network).
    """

    __tablename__ = "billing_service_step"
    __audited__ = True
    __table_args__ = (Index("ix_billing_service_step_service_position", "service_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("billing_service.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    operations: Mapped[str] = mapped_column(Text, default="")
    resources: Mapped[str] = mapped_column(Text, default="")  # information, knowledge, expertise used
    value_brick: Mapped[str] = mapped_column(Text, default="")  # the brick of value it adds
    cost_behaviour: Mapped[str] = mapped_column(String(10), default="per_unit")
    purchases: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    staff_hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal("0"))
    external_fees: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    overheads: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))  # its share of overheads

    service: Mapped[Service] = relationship(back_populates="steps")
    competence_links: Mapped[list["StepCompetence"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def competence_ids(self) -> list[int]:
        return sorted(link.competence_id for link in self.competence_links)

    @property
    def audit_label(self) -> str:
        return f"step #{self.id} of service #{self.service_id}: {self.name}"


class StepCompetence(ClusterScoped, Base):
    """A competence a step needs (the CRM's competence vocabulary)."""

    __tablename__ = "billing_step_competence"

    step_id: Mapped[int] = mapped_column(ForeignKey("billing_service_step.id", ondelete="CASCADE"), primary_key=True)
    competence_id: Mapped[int] = mapped_column(
        ForeignKey("crm_competence.id", ondelete="CASCADE"), primary_key=True, index=True)


class ServiceExpert(ClusterScoped, Base):
    """An external expert called case by case: a CRM person or organization (no fixed cost)."""

    __tablename__ = "billing_service_expert"
    __audited__ = True
    __table_args__ = (
        CheckConstraint("person_id IS NOT NULL OR organization_id IS NOT NULL", name="person_or_organization"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("billing_service.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_person.id", ondelete="CASCADE"), default=None, index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_organization.id", ondelete="CASCADE"), default=None, index=True)
    role: Mapped[str] = mapped_column(String(200), default="")  # what they are called for

    @property
    def audit_label(self) -> str:
        return f"expert #{self.id} of service #{self.service_id}"


class Price(ClusterScoped, Base):
    """A price of a service in one pricing mode, valid from ``valid_from`` to ``valid_until``.

    Which columns a mode uses (the :class:`.forms.PriceForm` checks them):

    - ``catalogue``, ``pay_per_use``: ``member_amount`` (and ``non_member_amount``; empty:
      members only) per ``unit``;
    - ``flat_fee``: the amounts, for the whole service;
    - ``subscription``: the amounts per ``period`` (month, quarter, year), ``renewal``;
    - ``quote``: no amount (case by case);
    - ``success_fee``: ``member_rate`` and ``non_member_rate`` (percent of the amount
      obtained), ``floor_amount`` and ``cap_amount`` (optional);
    - ``membership_fee``: ``member_amount`` a year for the CRM membership's ``fee_tier``
      (empty: any tier), ``pro_rata`` for a member joining during the year.

    A price row is never rewritten: its terms are fixed when it is added, and only its
    ``valid_until`` is ever set, once (closing it).  A later quote or sale refers to it.
    """

    __tablename__ = "billing_price"
    __audited__ = True
    __table_args__ = (
        Index("ix_billing_price_service_valid", "service_id", "valid_from"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="valid_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("billing_service.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(120), default="")
    unit: Mapped[str] = mapped_column(String(60), default="")
    member_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    non_member_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    period: Mapped[str] = mapped_column(String(10), default="")
    renewal: Mapped[str] = mapped_column(String(12), default="")
    member_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    non_member_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    floor_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    cap_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    fee_tier: Mapped[str] = mapped_column(String(60), default="")
    pro_rata: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None, active_history=True)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("billing_price.id", ondelete="SET NULL"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    service: Mapped[Service] = relationship(back_populates="prices")

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    @property
    def line(self) -> tuple[str, str, str, str]:
        """What two prices must share to follow one another: mode, fee tier, unit, period."""
        return (self.mode, self.fee_tier, self.unit, self.period)

    @property
    def audit_label(self) -> str:
        return f"price #{self.id} of service #{self.service_id}: {self.mode}"


# the terms of a price (what a copy of it carries over; its dates and links aside)
PRICE_TERMS = ("mode", "label", "unit", "member_amount", "non_member_amount", "period", "renewal", "member_rate",
               "non_member_rate", "floor_amount", "cap_amount", "fee_tier", "pro_rata")


class PriceRewrite(Exception):
    """Code tried to change the terms of a price row, or to delete one (never done)."""


# the one column of a price that may change after it is added (once: closing the price)
_PRICE_CLOSING = "valid_until"


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _ctx, _instances) -> None:
    """Keep the search column right, and refuse what would rewrite a price."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Service):
            obj.refresh_search()
    for obj in session.dirty:
        if isinstance(obj, Price) and session.is_modified(obj, include_collections=False):
            state = inspect(obj)
            for attr in state.mapper.column_attrs:
                history = state.attrs[attr.key].history
                if not history.has_changes():
                    continue
                if attr.key != _PRICE_CLOSING or (history.deleted and history.deleted[0] is not None):
                    raise PriceRewrite(f"price #{obj.id}: {attr.key} cannot change (add a new price instead)")
    for obj in session.deleted:
        if isinstance(obj, Price):
            raise PriceRewrite(f"price #{obj.id} cannot be deleted")
