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
from plugins.crm import api as crm

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
SIZE_BANDS = crm.size_bands()
COMPANY_FUNCTIONS = crm.person_functions()
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


# -- slice 2b: quotes, subscriptions, and the numbering counters ----------------------------------
QUOTE_STATUSES = {
    "draft": _l("Draft"),
    "sent": _l("Sent"),
    "accepted": _l("Accepted"),
    "refused": _l("Refused"),
    "expired": _l("Expired"),
}
SUBSCRIPTION_STATUSES = {"active": _l("Active"), "ended": _l("Ended"), "cancelled": _l("Cancelled")}


class BillingCounter(ClusterScoped, Base):
    """The last number given in one series (``"quote"``...) of a cluster, for one year.

    Numbering locks this row (``db.locked``) in the transaction that gives the number and
    writes the numbered record, so numbers never skip nor repeat (:mod:`.numbering`).
    """

    __tablename__ = "billing_counter"
    __table_args__ = (UniqueConstraint("cluster_id", "series", "year", name="uq_billing_counter_cluster_series_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Quote(ClusterScoped, Base):
    """A quote to an organization: lines from the catalogue (or free lines), with the part a
    third-party payer would pay (an estimate: a quote reserves nothing).

    A draft has no number and no date: issuing it gives both (the number under the
    series' counter lock, the date of the day), prices its catalogue lines on that day and
    sets its validity.  Statuses: ``draft`` -> ``sent`` (issued, by mail or by hand) ->
    ``accepted`` (its catalogue lines became sales) or ``refused``; a sent quote past its
    validity is ``expired`` (:meth:`state`), and can no longer be accepted.
    """

    __tablename__ = "billing_quote"
    __audited__ = True
    __audit_exclude__ = ("updated_at",)
    __table_args__ = (
        UniqueConstraint("cluster_id", "number", name="uq_billing_quote_cluster_number"),
        Index("ix_billing_quote_cluster_status", "cluster_id", "status"),
        CheckConstraint("valid_until IS NULL OR issue_date IS NULL OR valid_until >= issue_date",
                        name="valid_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(40), default=None)  # given when issued
    organization_id: Mapped[int] = mapped_column(ForeignKey("crm_organization.id", ondelete="RESTRICT"), index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_person.id", ondelete="SET NULL"), default=None, index=True)  # the contact
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    issue_date: Mapped[date | None] = mapped_column(Date, default=None, index=True)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    total_full: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    total_payer: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    total_beneficiary: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_to: Mapped[str] = mapped_column(String(254), default="")
    decided_on: Mapped[date | None] = mapped_column(Date, default=None)  # accepted or refused that day
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list["QuoteLine"]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", lazy="selectin",
        order_by=lambda: (QuoteLine.position, QuoteLine.id))

    def state(self, on: date) -> str:
        """The status on a day: a sent quote past its validity is ``expired``."""
        if self.status == "sent" and self.valid_until is not None and self.valid_until < on:
            return "expired"
        return self.status

    @property
    def audit_label(self) -> str:
        return f"quote {self.number or '#%s (draft)' % self.id}"


class QuoteLine(ClusterScoped, Base):
    """A line of a quote: a service of the catalogue in one pricing mode, or a free line.

    A catalogue line is priced as :func:`.sales.preview_sale` prices a sale on the quote's
    day (the price row of the mode valid then, ``price_id``, at the member price for a
    member that day); ``full_amount`` is what the line costs (``unit_price`` x
    ``quantity``, or the success fee), ``payer_amount`` the part a funding scheme would pay
    (an estimate: a quote takes nothing from an envelope), ``beneficiary_amount`` the rest.
    A free line has a description, a quantity and a unit price, and no payer.
    """

    __tablename__ = "billing_quote_line"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("billing_quote.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_service.id", ondelete="RESTRICT"), default=None, index=True)  # None: a free line
    price_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_price.id", ondelete="RESTRICT"), default=None, index=True)
    mode: Mapped[str] = mapped_column(String(20), default="")  # the price's pricing mode ("" for a free line)
    description: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("1.00"))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    amount_obtained: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)  # success fee
    member: Mapped[bool] = mapped_column(Boolean, default=False)  # the member price applied
    full_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    payer_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    beneficiary_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    # the third-party payer asked for: "" (none), "auto" (the first eligible scheme that pays) or
    # "scheme" (funding_scheme_id); funding_scheme_id is then the scheme of the estimate
    scheme_choice: Mapped[str] = mapped_column(String(10), default="")
    funding_scheme_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_funding_scheme.id", ondelete="SET NULL"), default=None, index=True)

    quote: Mapped[Quote] = relationship(back_populates="lines")

    @property
    def is_free(self) -> bool:
        return self.service_id is None

    @property
    def audit_label(self) -> str:
        return f"line #{self.id} of quote #{self.quote_id}"


class Subscription(ClusterScoped, Base):
    """An organization's subscription to a service at a subscription price.

    Billed each ``period`` (the price's: month, quarter, year) from ``start_date``: the
    n-th billing date is the start date plus n periods, a day missing from a shorter month
    falling on its last day (31 January + 1 month = 28 or 29 February, + 2 months =
    31 March: :func:`.subscriptions.add_periods`).  ``next_billing_date`` is the next one
    (None once there is none: ended or cancelled before it).  ``ended`` when it reached its
    ``end_date``, ``cancelled`` when stopped early (``cancelled_on``, ``cancel_reason``).
    """

    __tablename__ = "billing_subscription"
    __audited__ = True
    __table_args__ = (
        Index("ix_billing_subscription_cluster_due", "cluster_id", "status", "next_billing_date"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("crm_organization.id", ondelete="RESTRICT"), index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_person.id", ondelete="SET NULL"), default=None, index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("billing_service.id", ondelete="RESTRICT"), index=True)
    price_id: Mapped[int] = mapped_column(ForeignKey("billing_price.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("1.00"))
    member: Mapped[bool] = mapped_column(Boolean, default=False)  # the member price applied at the start
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))  # a period, at the start
    period: Mapped[str] = mapped_column(String(10))  # the price's: month, quarter, year
    start_date: Mapped[date] = mapped_column(Date)
    periods_billed: Mapped[int] = mapped_column(Integer, default=0)
    next_billing_date: Mapped[date | None] = mapped_column(Date, default=None)
    end_date: Mapped[date | None] = mapped_column(Date, default=None)
    cancelled_on: Mapped[date | None] = mapped_column(Date, default=None)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="active")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    service: Mapped[Service] = relationship(lazy="joined")
    price: Mapped[Price] = relationship(lazy="joined")

    def state(self, on: date) -> str:
        """The status on a day: an active subscription past its end date is ``ended``."""
        if self.status == "active" and self.end_date is not None and self.end_date < on:
            return "ended"
        return self.status

    @property
    def audit_label(self) -> str:
        return f"subscription #{self.id} to service #{self.service_id}"


# -- slice 2a: third-party payers, funding schemes and one-off sales ----------------------------
SHARE_KINDS = {"percent": _l("A percentage of the price"), "per_unit": _l("An amount per unit sold")}
WHEN_EXHAUSTED = {
    "full_price": _l("Sell at the beneficiary's full price"),
    "refuse": _l("Refuse the sale"),
}
SALE_STATUSES = {"recorded": _l("Recorded"), "cancelled": _l("Cancelled")}
# the pricing modes a one-off sale is made in (a membership fee comes from the CRM's memberships)
SALE_MODES = ("catalogue", "pay_per_use", "flat_fee", "success_fee", "quote", "subscription")
# the French regions and the départements (first digits of their postcodes) in each, so that a
# scheme of a region names it once instead of listing its postcodes
FR_REGIONS = {
    "ARA": (_l("Auvergne-Rhône-Alpes"), ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74")),
    "BFC": (_l("Bourgogne-Franche-Comté"), ("21", "25", "39", "58", "70", "71", "89", "90")),
    "BRE": (_l("Brittany"), ("22", "29", "35", "56")),
    "CVL": (_l("Centre-Val de Loire"), ("18", "28", "36", "37", "41", "45")),
    "COR": (_l("Corsica"), ("20",)),
    "GES": (_l("Grand Est"), ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88")),
    "HDF": (_l("Hauts-de-France"), ("02", "59", "60", "62", "80")),
    "IDF": (_l("Île-de-France"), ("75", "77", "78", "91", "92", "93", "94", "95")),
    "NOR": (_l("Normandy"), ("14", "27", "50", "61", "76")),
    "NAQ": (_l("Nouvelle-Aquitaine"), ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87")),
    "OCC": (_l("Occitanie"), ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82")),
    "PDL": (_l("Pays de la Loire"), ("44", "49", "53", "72", "85")),
    "PAC": (_l("Provence-Alpes-Côte d'Azur"), ("04", "05", "06", "13", "83", "84")),
    "GUA": (_l("Guadeloupe"), ("971",)),
    "MTQ": (_l("Martinique"), ("972",)),
    "GUF": (_l("French Guiana"), ("973",)),
    "REU": (_l("Réunion"), ("974",)),
    "MAY": (_l("Mayotte"), ("976",)),
}


class FundingScheme(ClusterScoped, Base):
    """A third-party payer's scheme: which services it co-funds, for whom, how much, until when.

    - ``payer_id``: the CRM organization that pays (a region, an agency, an OPCO);
      ``reference``: the agreement number.
    - The share: ``share_kind`` ``percent`` (``share_rate`` % of the price) or ``per_unit``
      (``share_amount`` per unit sold, never more than the price).
    - ``cap_per_beneficiary``: the most it pays for one beneficiary over the scheme's life
      (None: no cap); ``envelope``: the most it pays in all (None: no limit).
    - Eligibility (each empty: anyone): ``size_bands`` (the CRM's keys), ``sectors`` (NACE
      prefixes: ``29`` takes ``29.10``), ``postcodes`` (prefixes) and ``regions``
      (:data:`FR_REGIONS`: their départements, in France), ``country`` (ISO code),
      ``members_only`` (a member of the cluster on the day of the sale).
    - ``counterpart``: what the beneficiary gives in return (information, actions).
    - ``valid_from``/``valid_until``: the days of the sales it funds.
    - ``when_exhausted``: when it can pay nothing more for a sale (envelope used up, or the
      beneficiary's cap reached): ``full_price`` (the sale goes on, the beneficiary pays it
      all) or ``refuse`` (the sale is refused).

    ``envelope_used`` is what the recorded sales take from the envelope: it changes only
    under the row's lock (:func:`.funding.fund`, :func:`.funding.give_back`), and a check
    constraint keeps it within the envelope whatever happens.
    """

    __tablename__ = "billing_funding_scheme"
    __audited__ = True
    __audit_exclude__ = ("envelope_used", "updated_at")  # each sale moves it: the sales are audited
    __table_args__ = (
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="valid_period"),
        CheckConstraint("envelope_used >= 0", name="envelope_used_positive"),
        CheckConstraint("envelope IS NULL OR envelope_used <= envelope", name="envelope_not_overspent"),
        CheckConstraint("(share_kind = 'percent' AND share_rate IS NOT NULL) OR "
                        "(share_kind = 'per_unit' AND share_amount IS NOT NULL)", name="share_given"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("crm_organization.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(60), default="")  # the agreement number
    share_kind: Mapped[str] = mapped_column(String(10), default="percent")
    share_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    share_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    cap_per_beneficiary: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    envelope: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    envelope_used: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    size_bands: Mapped[list] = mapped_column(JSON, default=list)
    sectors: Mapped[list] = mapped_column(JSON, default=list)
    postcodes: Mapped[list] = mapped_column(JSON, default=list)
    regions: Mapped[list] = mapped_column(JSON, default=list)
    country: Mapped[str] = mapped_column(String(2), default="")
    members_only: Mapped[bool] = mapped_column(Boolean, default=False)
    counterpart: Mapped[str] = mapped_column(Text, default="")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    when_exhausted: Mapped[str] = mapped_column(String(12), default="full_price")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    service_links: Mapped[list["FundingSchemeService"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")

    @property
    def service_ids(self) -> list[int]:
        return sorted(link.service_id for link in self.service_links)

    @property
    def envelope_left(self) -> Decimal | None:
        """What is left of the envelope (None: no envelope, no limit)."""
        return None if self.envelope is None else self.envelope - self.envelope_used

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def __str__(self) -> str:
        return self.name


class FundingSchemeService(ClusterScoped, Base):
    """A service a funding scheme co-funds."""

    __tablename__ = "billing_funding_scheme_service"

    scheme_id: Mapped[int] = mapped_column(
        ForeignKey("billing_funding_scheme.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("billing_service.id", ondelete="CASCADE"), primary_key=True, index=True)


class Sale(ClusterScoped, Base):
    """A one-off sale of a service to an organization, at the price row that applied that day.

    ``full_amount`` is what the service costs the organization (``unit_price`` x
    ``quantity``, or the success fee); ``payer_amount`` the part a funding scheme pays,
    ``beneficiary_amount`` the rest: they always add up, to the cent, and neither is
    negative (check constraints).  Made by :func:`.sales.record_sale` (which takes the
    scheme's part under its lock); cancelling gives the scheme's part back
    (:func:`.sales.cancel_sale`).  What an invoice needs later is kept on the row
    (``description``, ``currency``, the service's VAT), so that invoicing reads the sale as
    it was made: :func:`.sales.billable_sales` gives its lines (``source`` ``"billing"``,
    ``source_id`` ``"sale:<id>"``, and ``"sale:<id>:payer"`` for the payer's part).
    """

    __tablename__ = "billing_sale"
    __audited__ = True
    __table_args__ = (
        Index("ix_billing_sale_cluster_sold_on", "cluster_id", "sold_on"),
        # within half a cent: SQLite keeps decimals as floats
        CheckConstraint("ABS(full_amount - payer_amount - beneficiary_amount) < 0.005", name="parts_add_up"),
        CheckConstraint("payer_amount >= 0 AND beneficiary_amount >= 0", name="parts_positive"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("payer_amount = 0 OR scheme_id IS NOT NULL", name="payer_part_has_a_scheme"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("billing_service.id", ondelete="RESTRICT"), index=True)
    price_id: Mapped[int] = mapped_column(ForeignKey("billing_price.id", ondelete="RESTRICT"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("crm_organization.id", ondelete="RESTRICT"), index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_person.id", ondelete="SET NULL"), default=None, index=True)
    sold_on: Mapped[date] = mapped_column(Date)  # the day of the service
    mode: Mapped[str] = mapped_column(String(20))  # the price's pricing mode
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("1.00"))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # member or non-member, as applied
    member: Mapped[bool] = mapped_column(Boolean, default=False)  # a member of the cluster on sold_on
    amount_obtained: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)  # success fee
    full_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    payer_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0.00"))
    beneficiary_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    scheme_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_funding_scheme.id", ondelete="RESTRICT"), default=None, index=True)
    payer_id: Mapped[int | None] = mapped_column(  # the scheme's payer when the sale was made
        ForeignKey("crm_organization.id", ondelete="RESTRICT"), default=None, index=True)
    status: Mapped[str] = mapped_column(String(10), default="recorded")
    # for the invoice, as the sale was made
    description: Mapped[str] = mapped_column(String(300), default="")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    vat_category: Mapped[str] = mapped_column(String(30), default="standard")
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0.00"))
    quote_line_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)  # accepted quote's line
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"), default=None)
    cancel_reason: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def source_id(self) -> str:
        return f"sale:{self.id}"

    @property
    def audit_label(self) -> str:
        return f"sale #{self.id} of service #{self.service_id}"
