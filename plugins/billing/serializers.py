"""What billing's JSON API returns: pydantic models, declared with ``response=`` on each
operation (the OpenAPI document describes them) and produced by :func:`core.serialize`.

Amounts are decimal strings with two places (``"612.50"``), never floats.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, WithJsonSchema

from core import IsoDateTime, ResponseModel

from .pricing import money

# a Decimal as the JSON string of its value to the cent, rounded half up ("612.50"); the schema says so
Money = Annotated[Decimal, PlainSerializer(lambda d: str(money(d)), return_type=str, when_used="json"),
                  WithJsonSchema({"type": "string", "format": "decimal", "pattern": r"^-?\d+\.\d{2}$"},
                                 mode="serialization")]
Rate = Money  # a percentage or a number of hours, two places too
Percent = Annotated[Decimal, PlainSerializer(str, return_type=str, when_used="json"),
                    WithJsonSchema({"type": "string", "format": "decimal"}, mode="serialization")]

_Out = ResponseModel


class RangeOut(_Out):
    id: int
    name: str
    description: str
    shared_relations: str
    shared_information: str
    shared_experts: str


class StepOut(_Out):
    id: int
    service_id: int
    position: int
    name: str
    operations: str
    resources: str
    value_brick: str
    competence_ids: list[int]
    cost_behaviour: str
    purchases: Money
    staff_hours: Rate
    external_fees: Money
    overheads: Money


class StepWithCostOut(StepOut):
    cost: Money  # at the cluster's hourly cost


class ExpertOut(_Out):
    id: int
    person_id: int | None
    organization_id: int | None
    role: str


class PriceOut(_Out):
    id: int
    service_id: int
    mode: str
    label: str
    unit: str
    member_amount: Money | None
    non_member_amount: Money | None
    period: str
    renewal: str
    member_rate: Rate | None
    non_member_rate: Rate | None
    floor_amount: Money | None
    cap_amount: Money | None
    fee_tier: str
    pro_rata: bool
    valid_from: date
    valid_until: date | None
    replaces_id: int | None
    created_at: IsoDateTime


class MarginOut(_Out):
    price: Money
    unit_cost: Money
    amount: Money
    rate: Percent | None = Field(description="the margin over the price, percent, one decimal")


class PriceEconomicsOut(_Out):
    member_margin: MarginOut | None
    non_member_margin: MarginOut | None
    member_break_even: int | None
    non_member_break_even: int | None


class PriceWithEconomicsOut(PriceOut):
    state: str  # current, future, past
    economics: PriceEconomicsOut


class CostsOut(_Out):
    hourly_cost: Money
    coordination: Money
    variable_per_unit: Money
    fixed_per_year: Money
    planned_volume: int | None
    fixed_per_unit: Money | None
    unit_cost: Money


class ServiceOut(_Out):
    """A service as the catalogue lists it: its checklist fields."""

    id: int
    name: str
    code: str | None
    range_id: int | None
    status: str
    revenue_family: str
    vat_category: str
    vat_rate: Rate
    problem: str
    solution: str
    service_rendered: str
    direct_gain: str
    indirect_gains: str
    size_bands: list[str]
    sectors: list[str]
    functions: list[str]
    target_traits: str
    prerequisites: str
    unit: str
    coordination_hours: Rate
    coordination_cost: Money
    planned_volume: int | None
    inhouse_competences: list[int]
    downstream_competences: list[str]
    promise: str
    tools: str
    deliverables: str
    duration: str
    calendar: str
    evaluation_questions: list[str]
    relationship_after: str
    retired_on: date | None
    copied_from_id: int | None
    updated_at: IsoDateTime


class ServiceDetailOut(ServiceOut):
    """A service with its steps, experts, prices (with margins and break-even) and costs."""

    steps: list[StepWithCostOut]
    experts: list[ExpertOut]
    prices: list[PriceWithEconomicsOut]
    costs: CostsOut


class StepListOut(_Out):
    items: list[StepWithCostOut]


class PriceListOut(_Out):
    items: list[PriceWithEconomicsOut]


class ChargeOut(_Out):
    price_id: int | None
    mode: str
    member: bool
    amount: Money | None  # None: a quote, case by case


def service_data(service) -> dict:
    """A service's attributes under the API's names (``inhouse_competences``: competence ids)."""
    data = {name: getattr(service, name) for name in ServiceOut.model_fields if name != "inhouse_competences"}
    data["inhouse_competences"] = service.competence_ids
    return data


def steps_data(sheet) -> dict:
    """The steps of a :class:`.queries.ServiceSheet`, each with its cost (:class:`StepListOut`)."""
    return {"items": [{**StepOut.model_validate(step).model_dump(), "cost": cost} for step, cost, _names in sheet.steps]}


def prices_data(sheet) -> dict:
    """The prices of a :class:`.queries.ServiceSheet` with their economics (:class:`PriceListOut`)."""
    return {"items": [{**PriceOut.model_validate(row.price).model_dump(), "state": row.state,
                       "economics": row.economics} for row in sheet.prices]}


def service_detail_data(sheet) -> dict:
    """A :class:`.queries.ServiceSheet` as :class:`ServiceDetailOut` data."""
    data = service_data(sheet.service)
    data["steps"] = steps_data(sheet)["items"]
    data["experts"] = [expert for expert, _p, _o in sheet.experts]
    data["prices"] = prices_data(sheet)["items"]
    data["costs"] = sheet.costs
    return data


# -- slice 2a: funding schemes and sales ----------------------------------------------------------
class FundingSchemeOut(_Out):
    """A third-party payer's funding scheme."""

    id: int
    payer_id: int
    name: str
    reference: str
    service_ids: list[int]
    share_kind: str = Field(description="percent (share_rate % of the price) or per_unit (share_amount a unit)")
    share_rate: Rate | None
    share_amount: Money | None
    cap_per_beneficiary: Money | None = Field(description="the most it pays one organization; null: no cap")
    envelope: Money | None = Field(description="the most it pays in all; null: no limit")
    envelope_used: Money
    envelope_left: Money | None
    size_bands: list[str]
    sectors: list[str]
    postcodes: list[str]
    regions: list[str]
    country: str
    members_only: bool
    counterpart: str
    valid_from: date
    valid_until: date | None
    when_exhausted: str = Field(description="full_price or refuse")
    updated_at: IsoDateTime


class TotalsOut(_Out):
    sales: int
    units: Money
    full_amount: Money
    payer_amount: Money
    beneficiary_amount: Money


class BeneficiaryLineOut(_Out):
    organization_id: int
    name: str
    sales: int
    full_amount: Money
    payer_amount: Money
    beneficiary_amount: Money
    cap_left: Money | None


class ServiceLineOut(_Out):
    service_id: int
    name: str
    sales: int
    units: Money
    full_amount: Money
    payer_amount: Money
    beneficiary_amount: Money


class FundingSchemeDetailOut(FundingSchemeOut):
    """A scheme with what its money bought: its beneficiaries, its services, the totals."""

    payer_name: str
    totals: TotalsOut
    beneficiaries: list[BeneficiaryLineOut]
    by_service: list[ServiceLineOut]


class SaleOut(_Out):
    """A one-off sale: the full price, the payer's part and the beneficiary's."""

    id: int
    service_id: int
    price_id: int
    organization_id: int
    person_id: int | None
    sold_on: date
    mode: str
    quantity: Money
    unit_price: Money
    member: bool
    amount_obtained: Money | None
    full_amount: Money
    payer_amount: Money
    beneficiary_amount: Money
    scheme_id: int | None
    payer_id: int | None
    status: str
    description: str
    currency: str
    vat_category: str
    vat_rate: Rate
    quote_line_id: int | None
    cancelled_at: IsoDateTime | None
    cancel_reason: str
    created_at: IsoDateTime


class OfferOut(_Out):
    scheme_id: int
    name: str
    share: Money = Field(description="its share of the price, limits aside")
    cap_left: Money | None
    envelope_left: Money | None
    payer_amount: Money = Field(description="what it would pay: the least of the three")


class SalePreviewOut(_Out):
    """What a sale would be if recorded now (nothing is reserved)."""

    service_id: int
    price_id: int
    mode: str
    member: bool
    quantity: Money
    unit_price: Money
    full_amount: Money
    payer_amount: Money
    beneficiary_amount: Money
    scheme_id: int | None
    refused: str | None = Field(description="why the sale would be refused, else null")
    eligible: list[OfferOut]


class PayerLineOut(_Out):
    scheme_id: int
    scheme_name: str
    payer_id: int
    payer_name: str
    sales: int
    payer_amount: Money


class BusinessModelOut(_Out):
    """A service's business model over a period, from its recorded sales."""

    service_id: int
    since: date
    until: date
    totals: TotalsOut
    units: Money
    revenue: Money
    payer_amount: Money
    beneficiary_amount: Money
    member_revenue: Money
    self_financed_rate: Percent | None = Field(description="the share paid by the organizations, percent")
    unit_cost: Money
    variable_per_unit: Money
    fixed_per_year: Money
    production_cost: Money = Field(description="units x unit cost")
    margin: Money
    margin_rate: Percent | None
    variable_cost: Money
    contribution: Money = Field(description="revenue - units x variable cost")
    by_payer: list[PayerLineOut]


def scheme_data(scheme) -> dict:
    """A scheme's attributes as :class:`FundingSchemeOut` reads them."""
    return {name: getattr(scheme, name) for name in FundingSchemeOut.model_fields}


def scheme_detail_data(report) -> dict:
    """A :class:`.reports.SchemeReport` as :class:`FundingSchemeDetailOut` data."""
    return {**scheme_data(report.scheme), "payer_name": report.payer_name, "totals": report.totals,
            "beneficiaries": report.beneficiaries, "by_service": report.by_service}


def preview_data(preview) -> dict:
    """A :class:`.sales.SalePreview` as :class:`SalePreviewOut` data."""
    p = preview.priced
    return {"service_id": p.service.id, "price_id": p.price.id, "mode": p.mode, "member": p.member,
            "quantity": p.quantity, "unit_price": p.unit_price, "full_amount": p.full_amount,
            "payer_amount": preview.payer_amount, "beneficiary_amount": preview.beneficiary_amount,
            "scheme_id": preview.scheme.id if preview.scheme is not None else None, "refused": preview.refused,
            "eligible": [{"scheme_id": o.scheme.id, "name": o.scheme.name, "share": o.share, "cap_left": o.cap_left,
                          "envelope_left": o.envelope_left, "payer_amount": o.payer} for o in preview.eligible]}


def business_data(model) -> dict:
    """A :class:`.reports.BusinessModel` as :class:`BusinessModelOut` data."""
    t = model.totals
    return {"service_id": model.service.id, "since": model.since, "until": model.until, "totals": t,
            "units": t.units, "revenue": t.full_amount, "payer_amount": t.payer_amount,
            "beneficiary_amount": t.beneficiary_amount, "member_revenue": model.member_revenue,
            "self_financed_rate": model.self_financed_rate, "unit_cost": model.costs.unit_cost,
            "variable_per_unit": model.costs.variable_per_unit, "fixed_per_year": model.costs.fixed_per_year,
            "production_cost": model.production_cost, "margin": model.margin, "margin_rate": model.margin_rate,
            "variable_cost": model.variable_cost, "contribution": model.contribution, "by_payer": model.by_payer}


# -- slice 2b: quotes and subscriptions -------------------------------------------------------------
class QuoteLineOut(_Out):
    id: int
    quote_id: int
    position: int
    service_id: int | None = Field(description="None: a free line")
    price_id: int | None
    mode: str
    description: str
    quantity: Rate
    unit_price: Money
    amount_obtained: Money | None
    member: bool
    full_amount: Money
    payer_amount: Money = Field(description="what a funding scheme would pay: an estimate until the quote is accepted")
    beneficiary_amount: Money
    scheme_choice: str = Field(description="'' (no payer), 'auto' or 'scheme' (funding_scheme_id)")
    funding_scheme_id: int | None


class QuoteOut(_Out):
    """A quote and its totals (``status`` on today: a sent quote past its validity is ``expired``)."""

    id: int
    number: str | None = Field(description="given when the quote is issued: a draft has none")
    organization_id: int
    person_id: int | None
    title: str
    status: str
    issue_date: date | None
    valid_until: date | None
    notes: str
    total_full: Money
    total_payer: Money
    total_beneficiary: Money
    sent_at: IsoDateTime | None
    sent_to: str
    decided_on: date | None
    refusal_reason: str
    created_at: IsoDateTime
    updated_at: IsoDateTime


class QuoteDetailOut(QuoteOut):
    lines: list[QuoteLineOut]


class QuoteAcceptedOut(_Out):
    quote: QuoteDetailOut
    sale_ids: list[int]


class SubscriptionOut(_Out):
    """A subscription (``status`` on today: an active one past its last day is ``ended``)."""

    id: int
    organization_id: int
    person_id: int | None
    service_id: int
    price_id: int
    quantity: Rate
    member: bool
    amount: Money = Field(description="a period's amount at the start")
    period: str
    start_date: date
    periods_billed: int
    next_billing_date: date | None
    end_date: date | None
    cancelled_on: date | None
    cancel_reason: str
    status: str
    notes: str
    created_at: IsoDateTime


def quote_data(quote, on: date, *, lines: bool = True) -> dict:
    """A quote as :class:`QuoteDetailOut` data (:class:`QuoteOut` without ``lines``)."""
    names = QuoteDetailOut.model_fields if lines else QuoteOut.model_fields
    data = {name: getattr(quote, name) for name in names if name not in ("status", "lines")}
    data["status"] = quote.state(on)
    if lines:
        data["lines"] = list(quote.lines)
    return data


def subscription_data(subscription, on: date) -> dict:
    data = {name: getattr(subscription, name) for name in SubscriptionOut.model_fields if name != "status"}
    data["status"] = subscription.state(on)
    return data
