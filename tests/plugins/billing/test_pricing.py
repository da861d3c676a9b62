"""The pricing rules (plugins/billing/pricing.py): examples, then properties (hypothesis).

Pure functions: no app, no database.  Results are to the cent, never negative, a success
fee lies between its floor and its cap, a pro rata fee never exceeds the full fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.billing import pricing
from plugins.billing.pricing import (
    CENT,
    NotOffered,
    StepCost,
    applicable_price,
    break_even_volume,
    charge,
    margin,
    membership_fee_due,
    membership_year,
    money,
    pro_rata_fee,
    production_cost,
    step_cost,
    success_fee,
)

D = Decimal


@dataclass
class P:
    """A price as the pricing functions read it (the ORM's Price has these attributes)."""

    mode: str
    valid_from: date
    valid_until: date | None = None
    member_amount: Decimal | None = None
    non_member_amount: Decimal | None = None
    member_rate: Decimal | None = None
    non_member_rate: Decimal | None = None
    floor_amount: Decimal | None = None
    cap_amount: Decimal | None = None
    fee_tier: str = ""
    unit: str = ""
    period: str = ""
    pro_rata: bool = False
    id: int | None = None


# -- examples ---------------------------------------------------------------------------------
def test_money_rounds_half_up_to_the_cent_and_refuses_floats():
    assert money("2.675") == D("2.68") and money("2.665") == D("2.67") and money("0.005") == D("0.01")
    assert money(3) == D("3.00") and str(money("1e2")) == "100.00"
    with pytest.raises(TypeError):
        money(2.5)


def test_a_steps_cost_is_purchases_staff_hours_fees_and_overheads():
    step = StepCost(purchases=D("40"), staff_hours=D("2.5"), external_fees=D("650"), overheads=D("12.345"))
    assert step_cost(step, D("62.50")) == D("40") + D("156.25") + D("650") + D("12.35")
    with pytest.raises(ValueError):
        step_cost(StepCost(purchases=D("-1")), D("60"))


def test_the_unit_cost_adds_the_coordination_and_spreads_the_fixed_costs():
    steps = [StepCost(staff_hours=D("7"), external_fees=D("600")),                  # 1,020.00 per unit
             StepCost(staff_hours=D("10"), cost_behaviour="fixed"),                  # 600.00 a year
             StepCost(purchases=D("1000"), cost_behaviour="fixed")]                  # 1,000.00 a year
    costs = production_cost(steps, hourly_cost=D("60"), coordination_hours=D("2"), coordination_cost=D("15"),
                            planned_volume=30)
    assert costs.step_costs == (D("1020.00"), D("600.00"), D("1000.00"))
    assert costs.coordination == D("135.00") and costs.variable_per_unit == D("1155.00")
    assert costs.fixed_per_year == D("1600.00") and costs.fixed_per_unit == D("53.33")
    assert costs.unit_cost == D("1208.33")
    without_volume = production_cost(steps, hourly_cost=D("60"), coordination_hours=D("2"), coordination_cost=D("15"))
    assert without_volume.unit_cost == D("1155.00") and without_volume.fixed_per_unit is None
    assert production_cost([], hourly_cost=D("60")).unit_cost == D("0.00")


def test_margin_is_the_price_less_the_unit_cost_and_may_be_a_loss():
    m = margin(D("1500"), D("1170"))
    assert (m.amount, m.rate) == (D("330.00"), D("22.0"))
    loss = margin(D("900"), D("1170"))
    assert loss.amount == D("-270.00") and loss.rate == D("-30.0")
    assert margin(D("0"), D("10")).rate is None


def test_break_even_volume_covers_the_fixed_costs_with_the_contributions():
    assert break_even_volume(D("1500"), D("1140"), D("600")) == 2  # 600 / 360 = 1.67 -> 2
    assert break_even_volume(D("1500"), D("1140"), D("720")) == 2  # exactly 2
    assert break_even_volume(D("1500"), D("1140"), D("0")) == 0    # nothing to cover
    assert break_even_volume(D("1140"), D("1140"), D("600")) is None  # no contribution: never
    assert break_even_volume(D("1000"), D("1140"), D("0")) is None    # each unit loses money


def test_success_fee_with_floor_and_cap():
    assert success_fee(D("100000"), D("5")) == D("5000.00")
    assert success_fee(D("10000"), D("5"), floor=D("1500")) == D("1500.00")       # raised to the floor
    assert success_fee(D("1000000"), D("5"), cap=D("15000")) == D("15000.00")     # lowered to the cap
    assert success_fee(D("0"), D("5"), floor=D("1500")) == D("0.00")              # nothing obtained, nothing due
    assert success_fee(D("333.33"), D("3.3")) == D("11.00")                        # 10.99989 -> 11.00
    for bad in (dict(rate=D("101")), dict(rate=D("-1")), dict(rate=D("5"), floor=D("10"), cap=D("5"))):
        with pytest.raises(ValueError):
            success_fee(D("1000"), bad.pop("rate"), **bad)
    with pytest.raises(TypeError):
        success_fee(D("1000"), 5.0)


def test_pro_rata_counts_the_whole_months_left_the_month_of_joining_included():
    assert pro_rata_fee(D("1200"), date(2026, 1, 20)) == D("1200.00")
    assert pro_rata_fee(D("1200"), date(2026, 3, 15)) == D("1000.00")  # March to December: 10 months
    assert pro_rata_fee(D("1200"), date(2026, 12, 31)) == D("100.00")
    assert pro_rata_fee(D("450"), date(2026, 5, 2)) == D("300.00")
    # a membership year starting in September: joining in August leaves one month
    assert pro_rata_fee(D("1200"), date(2027, 8, 1), start_month=9) == D("100.00")
    assert pro_rata_fee(D("1000"), date(2026, 9, 1), start_month=9) == D("1000.00")
    assert membership_year(date(2027, 8, 1), 9) == (date(2026, 9, 1), date(2027, 8, 31))
    assert membership_year(date(2026, 3, 1)) == (date(2026, 1, 1), date(2026, 12, 31))


def test_membership_fee_due_is_pro_rata_only_in_the_year_of_joining():
    fee = D("1200")
    assert membership_fee_due(fee, date(2026, 6, 1), joined_on=date(2026, 4, 10), pro_rata=True) == D("900.00")
    assert membership_fee_due(fee, date(2027, 1, 15), joined_on=date(2026, 4, 10), pro_rata=True) == D("1200.00")
    assert membership_fee_due(fee, date(2026, 6, 1), joined_on=date(2026, 4, 10), pro_rata=False) == D("1200.00")


def test_the_applicable_price_is_the_one_valid_that_day_of_the_right_tier():
    old = P("catalogue", date(2025, 1, 1), date(2025, 12, 31), member_amount=D("650"), id=1)
    new = P("catalogue", date(2026, 1, 1), member_amount=D("690"), id=2)
    flat = P("flat_fee", date(2025, 1, 1), member_amount=D("6900"), id=3)
    assert applicable_price([old, new, flat], date(2025, 12, 31), mode="catalogue") is old
    assert applicable_price([old, new, flat], date(2026, 1, 1), mode="catalogue") is new
    assert applicable_price([old, new, flat], date(2024, 6, 1), mode="catalogue") is None
    small = P("membership_fee", date(2025, 1, 1), member_amount=D("450"), fee_tier="Small company", id=4)
    anyone = P("membership_fee", date(2025, 1, 1), member_amount=D("900"), id=5)
    fees = [small, anyone]
    assert applicable_price(fees, date(2026, 2, 1), mode="membership_fee", fee_tier="Small company") is small
    assert applicable_price(fees, date(2026, 2, 1), mode="membership_fee", fee_tier="Large company") is anyone
    assert applicable_price([small], date(2026, 2, 1), mode="membership_fee", fee_tier="Large company") is None


def test_what_a_price_charges_members_and_non_members():
    seat = P("catalogue", date(2025, 1, 1), member_amount=D("690"), non_member_amount=D("990"), id=7)
    assert charge(seat, member=True, quantity=3).amount == D("2070.00")
    assert charge(seat, member=False).amount == D("990.00")
    members_only = P("flat_fee", date(2025, 1, 1), member_amount=D("1500"))
    with pytest.raises(NotOffered):
        charge(members_only, member=False)
    assert charge(P("quote", date(2025, 1, 1)), member=False).amount is None
    fee = P("success_fee", date(2025, 1, 1), member_rate=D("5"), non_member_rate=D("8"), floor_amount=D("1500"),
            cap_amount=D("15000"))
    assert charge(fee, member=True, amount_obtained=D("200000")).amount == D("10000.00")
    assert charge(fee, member=False, amount_obtained=D("200000")).amount == D("15000.00")
    tier = P("membership_fee", date(2025, 1, 1), member_amount=D("1200"), pro_rata=True)
    assert charge(tier, member=True, on=date(2026, 5, 1), joined_on=date(2026, 4, 1)).amount == D("900.00")
    with pytest.raises(ValueError):
        charge(tier, member=True)


# -- properties ---------------------------------------------------------------------------------
amounts = st.decimals(min_value=0, max_value=D("9999999999.99"), places=2, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
hours = st.decimals(min_value=0, max_value=D("999999.99"), places=2, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2150, 12, 31))
months = st.integers(min_value=1, max_value=12)


def _cents(value: Decimal) -> bool:
    return value == value.quantize(CENT) and value.as_tuple().exponent == -2


@settings(max_examples=300, deadline=None)
@given(obtained=amounts, rate=rates, bounds=st.tuples(st.one_of(st.none(), amounts), st.one_of(st.none(), amounts)))
def test_a_success_fee_is_to_the_cent_never_negative_and_between_floor_and_cap(obtained, rate, bounds):
    floor, cap = bounds
    if floor is not None and cap is not None and floor > cap:
        floor, cap = cap, floor
    fee = success_fee(obtained, rate, floor=floor, cap=cap)
    assert _cents(fee) and fee >= 0
    if obtained > 0:
        assert floor is None or fee >= floor
        assert cap is None or fee <= cap
        if floor is None and cap is None:
            assert fee <= obtained  # a percentage of at most 100 % of it
    else:
        assert fee == 0


@settings(max_examples=300, deadline=None)
@given(fee=amounts, joined_on=days, start_month=months)
def test_a_pro_rata_fee_is_to_the_cent_and_bounded_by_the_full_fee(fee, joined_on, start_month):
    due = pro_rata_fee(fee, joined_on, start_month=start_month)
    assert _cents(due) and 0 <= due <= money(fee)
    first, last = membership_year(joined_on, start_month)
    assert first <= joined_on <= last and (last - first).days in (364, 365)
    if joined_on == first:
        assert due == money(fee)
    # joining later in the year never costs more
    later = joined_on + timedelta(days=31)
    if later <= last:
        assert pro_rata_fee(fee, later, start_month=start_month) <= due


step_costs = st.builds(StepCost, purchases=amounts, staff_hours=hours, external_fees=amounts, overheads=amounts,
                       cost_behaviour=st.sampled_from(["per_unit", "fixed"]))


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(step_costs, max_size=8), hourly=amounts, coordination_hours=hours, coordination_cost=amounts,
       volume=st.one_of(st.none(), st.integers(min_value=1, max_value=1_000_000)))
def test_production_costs_are_to_the_cent_never_negative_and_add_up(steps, hourly, coordination_hours,
                                                                     coordination_cost, volume):
    costs = production_cost(steps, hourly_cost=hourly, coordination_hours=coordination_hours,
                            coordination_cost=coordination_cost, planned_volume=volume)
    for value in (*costs.step_costs, costs.coordination, costs.variable_per_unit, costs.fixed_per_year, costs.unit_cost):
        assert _cents(value) and value >= 0
    variable = sum((c for c, s in zip(costs.step_costs, steps) if s.cost_behaviour != "fixed"), D("0"))
    assert costs.variable_per_unit == variable + costs.coordination
    assert costs.fixed_per_year == sum((c for c, s in zip(costs.step_costs, steps) if s.cost_behaviour == "fixed"), D("0"))
    assert costs.unit_cost >= costs.variable_per_unit
    if volume:
        assert abs(costs.fixed_per_unit * volume - costs.fixed_per_year) <= CENT * volume / 2 + CENT


@settings(max_examples=300, deadline=None)
@given(price=amounts, variable=amounts, fixed=amounts)
def test_the_break_even_volume_is_the_fewest_units_covering_the_fixed_costs(price, variable, fixed):
    n = break_even_volume(price, variable, fixed)
    contribution = price - variable
    if n is None:
        assert contribution < 0 or (contribution == 0 and fixed > 0)
    else:
        assert n >= 0 and n * contribution >= fixed
        assert n == 0 or (n - 1) * contribution < fixed
    m = margin(price, variable)
    assert _cents(m.amount) and m.amount == price - variable


@settings(max_examples=200, deadline=None)
@given(member=amounts, extra=amounts, quantity=st.integers(min_value=0, max_value=1000), is_member=st.booleans())
def test_a_charge_is_to_the_cent_never_negative_and_members_pay_their_price(member, extra, quantity, is_member):
    price = P("catalogue", date(2020, 1, 1), member_amount=member, non_member_amount=member + extra)
    amount = charge(price, member=is_member, quantity=quantity).amount
    assert _cents(amount) and amount >= 0
    assert amount == money((member if is_member else member + extra) * quantity)


def test_the_module_is_pure():
    """No database, no request: the pricing rules import neither."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(pricing.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {name for name in imported if name.split(".")[0] in ("core", "flask", "sqlalchemy", "plugins")}
