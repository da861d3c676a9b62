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
