"""Pricing rules: pure functions on :class:`~decimal.Decimal` amounts (no database, no request).

Every amount returned is rounded to the cent, half up (:func:`money`); a float is refused
wherever an amount is expected.  The inputs are plain values or any objects with the
attributes named (the ORM rows :class:`.models.ServiceStep` and :class:`.models.Price`
have them), so the rules are tested without a database (tests/plugins/billing/test_pricing.py).

The definitions (also in docs/billing.md):

- **Cost of a step** = purchases + staff hours x the cluster's hourly cost + external
  fees + share of overheads.  A step is *per unit* (spent for each unit delivered) or
  *fixed* (spent once a year, whatever the number of units: designing the service,
  tooling, animating the expert network).
- **Variable cost per unit** V = the per-unit steps + the coordination per unit
  (coordination hours x hourly cost + other coordination cost).
- **Fixed costs per year** F = the fixed steps.
- **Unit cost** = V + F / planned volume (a year), rounded to the cent; without a planned
  volume, V alone (F is shown apart).
- **Margin** at a price P (excluding VAT) = P - unit cost; negative is a loss.  Its rate is
  margin / P.
- **Break-even volume** at a price P = the fewest units a year whose contributions
  (P - V each) cover F: ceil(F / (P - V)); 0 without fixed costs; none when P <= V
  (each unit loses money, no volume breaks even).
- **Success fee** = rate % of the amount obtained, raised to the floor and lowered to the
  cap when they are given; nothing obtained, nothing due.
- **Membership fee, pro rata**: a member joining during the membership year pays the
  whole months left in it, the month of joining included, over 12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


class NotOffered(ValueError):
    """The price has no amount for this buyer (non-members are not offered this service)."""


def money(value) -> Decimal:
    """``value`` as an amount: a :class:`Decimal` rounded to the cent, half up.

    :raises TypeError: a float (money is never a float).
    """
    if isinstance(value, float):
        raise TypeError("money is never a float: pass a Decimal, an int or a string")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(value) -> Decimal:
    """An input amount: zero when None; never negative."""
    amount = ZERO if value is None else money(value)
    if amount < 0:
        raise ValueError(f"an amount cannot be negative: {amount}")
    return amount


def _quantity(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("a quantity is never a float: pass a Decimal, an int or a string")
    quantity = Decimal(0 if value is None else value)
    if not quantity.is_finite() or quantity < 0:
        raise ValueError(f"a quantity cannot be negative: {quantity}")
    return quantity


# -- production cost ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StepCost:
    """The cost inputs of one step (what :func:`production_cost` reads of a step)."""

    purchases: Decimal = ZERO
    staff_hours: Decimal = ZERO
    external_fees: Decimal = ZERO
    overheads: Decimal = ZERO
    cost_behaviour: str = "per_unit"  # or "fixed"


def step_cost(step, hourly_cost) -> Decimal:
    """purchases + staff hours x hourly cost + external fees + overheads (each to the cent)."""
    staff = money(_quantity(step.staff_hours) * _amount(hourly_cost))
    return _amount(step.purchases) + staff + _amount(step.external_fees) + _amount(step.overheads)


@dataclass(frozen=True)
class CostBreakdown:
    """What a service costs to produce (see the module docstring for the definitions)."""

    hourly_cost: Decimal
    step_costs: tuple[Decimal, ...]  # one per step, in the order given
    coordination: Decimal  # per unit
    variable_per_unit: Decimal  # V
    fixed_per_year: Decimal  # F
    planned_volume: int | None
    fixed_per_unit: Decimal | None  # F / planned volume (None without a volume)
    unit_cost: Decimal  # V + F / volume, or V without a volume


def production_cost(steps: Iterable, *, hourly_cost, coordination_hours=0, coordination_cost=0,
                    planned_volume: int | None = None) -> CostBreakdown:
    """The cost of one unit of a service: its steps and their coordination."""
    hourly = _amount(hourly_cost)
    costs, variable, fixed = [], ZERO, ZERO
    for step in steps:
        cost = step_cost(step, hourly)
        costs.append(cost)
        if step.cost_behaviour == "fixed":
            fixed += cost
        else:
            variable += cost
    coordination = money(_quantity(coordination_hours) * hourly) + _amount(coordination_cost)
    variable += coordination
    if planned_volume is not None and planned_volume < 0:
        raise ValueError("a planned volume cannot be negative")
    fixed_per_unit = money(fixed / planned_volume) if planned_volume else None
    unit_cost = variable + (fixed_per_unit or ZERO)
    return CostBreakdown(hourly_cost=hourly, step_costs=tuple(costs), coordination=coordination,
                         variable_per_unit=variable, fixed_per_year=fixed, planned_volume=planned_volume or None,
                         fixed_per_unit=fixed_per_unit, unit_cost=unit_cost)


# -- margins and break-even --------------------------------------------------------------------
@dataclass(frozen=True)
class Margin:
    price: Decimal
    unit_cost: Decimal
    amount: Decimal  # price - unit cost: negative is a loss
    rate: Decimal | None  # amount / price in percent, one decimal (None for a price of 0)


def margin(price, unit_cost) -> Margin:
    """The margin of one unit sold at ``price`` (excluding VAT) over its ``unit_cost``."""
    price, cost = _amount(price), _amount(unit_cost)
    amount = price - cost
    rate = (amount * HUNDRED / price).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if price else None
    return Margin(price=price, unit_cost=cost, amount=amount, rate=rate)


def break_even_volume(price, variable_unit_cost, fixed_costs) -> int | None:
    """The fewest units a year at ``price`` whose contributions cover the fixed costs.

    ``ceil(fixed / (price - variable))``; 0 without fixed costs (when a unit does not lose
    money); ``None`` when ``price <= variable`` and there are fixed costs to cover, or when
    each unit loses money: no volume breaks even.
    """
    price, variable, fixed = _amount(price), _amount(variable_unit_cost), _amount(fixed_costs)
    contribution = price - variable
    if fixed == 0:
        return 0 if contribution >= 0 else None
    if contribution <= 0:
        return None
    return math.ceil(fixed / contribution)


@dataclass(frozen=True)
class PriceEconomics:
    """A price's margins and break-even volumes, for members and for non-members
    (``None`` where the price has no amount for them: members only, a quote, a success fee)."""

    member_margin: Margin | None
    non_member_margin: Margin | None
    member_break_even: int | None
    non_member_break_even: int | None


def price_economics(price, costs: CostBreakdown) -> PriceEconomics:
    """Margins (over the unit cost) and break-even volumes (variable vs fixed) of a price."""
    out = {}
    for side in ("member", "non_member"):
        amount = getattr(price, f"{side}_amount", None) if price.mode not in ("quote", "success_fee") else None
        if amount is None:
            out[f"{side}_margin"], out[f"{side}_break_even"] = None, None
        else:
            out[f"{side}_margin"] = margin(amount, costs.unit_cost)
            out[f"{side}_break_even"] = break_even_volume(amount, costs.variable_per_unit, costs.fixed_per_year)
    return PriceEconomics(**out)


# -- success fees and membership fees ------------------------------------------------------------
def success_fee(amount_obtained, rate, *, floor=None, cap=None) -> Decimal:
    """``rate`` % of the amount obtained, at least ``floor`` and at most ``cap`` (when given).

    Nothing obtained, nothing due (the floor is the least fee of a success).

    :raises ValueError: a negative amount, a rate outside 0-100, a floor above the cap.
    """
    obtained = _amount(amount_obtained)
    if isinstance(rate, float):
        raise TypeError("a rate is never a float: pass a Decimal, an int or a string")
    rate = Decimal(rate)
    if not rate.is_finite() or not 0 <= rate <= HUNDRED:
        raise ValueError(f"a rate is a percentage from 0 to 100: {rate}")
    low = None if floor is None else _amount(floor)
    high = None if cap is None else _amount(cap)
    if low is not None and high is not None and low > high:
        raise ValueError(f"the floor {low} is above the cap {high}")
    if obtained == 0:
        return ZERO
    fee = money(obtained * rate / HUNDRED)
    if low is not None:
        fee = max(fee, low)
    if high is not None:
        fee = min(fee, high)
    return fee


def membership_year(on: date, start_month: int = 1) -> tuple[date, date]:
    """The membership year holding ``on``: its first and last days (it starts on the 1st of ``start_month``)."""
    if not 1 <= start_month <= 12:
        raise ValueError("a month is from 1 to 12")
    year = on.year if on.month >= start_month else on.year - 1
    first = date(year, start_month, 1)
    return first, date(year + 1, start_month, 1) - timedelta(days=1)


def months_left(joined_on: date, start_month: int = 1) -> int:
    """Whole months left in the membership year, the month of ``joined_on`` included (1 to 12)."""
    if not 1 <= start_month <= 12:
        raise ValueError("a month is from 1 to 12")
    return 12 - (joined_on.month - start_month) % 12


def pro_rata_fee(yearly_fee, joined_on: date, *, start_month: int = 1) -> Decimal:
    """The fee of a member joining on ``joined_on``: the yearly fee x months left / 12."""
    fee = _amount(yearly_fee)
    return money(fee * months_left(joined_on, start_month) / 12)


def membership_fee_due(yearly_fee, on: date, *, joined_on: date | None = None, pro_rata: bool = False,
                       start_month: int = 1) -> Decimal:
    """The membership fee due for the membership year holding ``on``.

    Pro rata (when the price says so) for a member who joined during that year; the full
    fee otherwise (a member renewing, or no pro rata).
    """
    first, last = membership_year(on, start_month)
    if pro_rata and joined_on is not None and first <= joined_on <= last:
        return pro_rata_fee(yearly_fee, joined_on, start_month=start_month)
    return _amount(yearly_fee)


# -- which price, and what it charges ---------------------------------------------------------------
def valid_prices(prices: Iterable, on: date) -> list:
    """The prices valid on a day (``valid_from <= on <= valid_until``, an open end is open)."""
    return [p for p in prices if p.valid_from <= on and (p.valid_until is None or on <= p.valid_until)]


def applicable_price(prices: Iterable, on: date, *, mode: str, fee_tier: str = "", unit: str | None = None,
                     period: str | None = None):
    """The price of this mode valid on ``on`` (the latest to start, should two be).

    A membership fee is the one of the member's fee tier, else the one for any tier
    (``fee_tier=""``).  ``unit`` and ``period``, when given, must match too.
    """
    found = [p for p in valid_prices(prices, on) if p.mode == mode
             and (unit is None or p.unit == unit) and (period is None or p.period == period)]
    if mode == "membership_fee":
        found = [p for p in found if p.fee_tier == fee_tier] or [p for p in found if p.fee_tier == ""]
    return max(found, key=lambda p: (p.valid_from, p.id or 0)) if found else None


@dataclass(frozen=True)
class Charge:
    """What a price charges one buyer: ``amount`` is None for a quote (case by case)."""

    price_id: int | None
    mode: str
    member: bool
    amount: Decimal | None


def charge(price, *, member: bool, quantity=1, amount_obtained=None, on: date | None = None,
           joined_on: date | None = None, start_month: int = 1) -> Charge:
    """What ``price`` charges a member (``member=True``) or a non-member.

    - catalogue, pay per use, flat fee, subscription: the amount x ``quantity`` (units,
      uses, periods);
    - quote: no amount (``Charge.amount`` is None);
    - success fee: :func:`success_fee` of ``amount_obtained`` at the buyer's rate;
    - membership fee: :func:`membership_fee_due` for the year holding ``on`` (members
      and joining organizations alike).

    :raises NotOffered: non-members have no amount (or rate) on this price.
    """
    mode = price.mode
    if mode == "quote":
        return Charge(price.id, mode, member, None)
    if mode == "membership_fee":
        if on is None:
            raise ValueError("a membership fee is due for the year holding a day: give on=")
        amount = membership_fee_due(price.member_amount, on, joined_on=joined_on, pro_rata=price.pro_rata,
                                    start_month=start_month)
        return Charge(price.id, mode, member, amount)
    if mode == "success_fee":
        rate = price.member_rate if member else price.non_member_rate
        if rate is None:
            raise NotOffered(mode)
        return Charge(price.id, mode, member, success_fee(amount_obtained or 0, rate, floor=price.floor_amount,
                                                          cap=price.cap_amount))
    base = price.member_amount if member else price.non_member_amount
    if base is None:
        raise NotOffered(mode)
    return Charge(price.id, mode, member, money(_amount(base) * _quantity(quantity)))
