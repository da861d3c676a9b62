"""One-off sales: the price of the day, the payer's part under the scheme's lock (share, cap,
envelope, exhaustion), cancelling, concurrency (50 sales against an envelope for 10), and the
invariants under random sequences of sales and cancellations."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from core import db
from plugins.billing import funding, sales
from plugins.billing.errors import BillingError
from plugins.billing.models import FundingScheme, FundingSchemeService, Sale

from .funding_world import ON, acting_as, all_sales, concurrent, count_sales, fresh_scheme, world  # noqa: F401

D = Decimal


def test_a_member_sale_is_split_with_the_regional_payer(world):
    scheme = world.scheme(cap_per_beneficiary="1000", envelope="10000", regions=["ARA"], size_bands=["10-49"])
    sale = world.sale(scheme_id="auto")
    assert (sale.member, sale.unit_price, sale.full_amount) == (True, D("1500.00"), D("1500.00"))
    assert (sale.payer_amount, sale.beneficiary_amount) == (D("750.00"), D("750.00"))
    assert sale.scheme_id == scheme.id and sale.payer_id == world.region.id and sale.status == "recorded"
    assert sale.description == "Energy diagnostic · Diagnostic" and sale.currency == "EUR"
    assert fresh_scheme(scheme.id).envelope_used == D("750.00")
    # the cap: 1000 over the scheme's life, 750 taken: 250 left for this organization
    second = world.sale(scheme_id="auto")
    assert (second.payer_amount, second.beneficiary_amount) == (D("250.00"), D("1250.00"))
    third = world.sale(scheme_id="auto")  # the cap is reached: full price
    assert (third.payer_amount, third.scheme_id, third.payer_id) == (D("0.00"), None, None)
    assert fresh_scheme(scheme.id).envelope_used == D("1000.00")


def test_without_a_scheme_or_out_of_its_conditions_the_full_price(world):
    world.scheme(regions=["ARA"])
    assert world.sale().payer_amount == 0  # scheme_id=None: no payer
    assert world.sale(scheme_id="none").payer_amount == 0
    out = world.sale(world.guest, scheme_id="auto")  # Grenoble is in the region too: eligible
    assert (out.member, out.full_amount, out.payer_amount) == (False, D("2400.00"), D("1200.00"))
    linz = world.sale(world.linz, scheme_id="auto")  # not in France
    assert (linz.full_amount, linz.payer_amount) == (D("1500.00"), D("0.00"))
    other = world.sale(service=world.training, scheme_id="auto", quantity=2)  # a service it does not co-fund
    assert (other.full_amount, other.payer_amount) == (D("1300.00"), D("0.00"))


def test_an_explicit_scheme_must_be_eligible(world, cluster):
    scheme = world.scheme(members_only=True)
    with pytest.raises(funding.NotEligible) as exc:
        world.sale(world.guest, scheme_id=scheme.id)
    assert exc.value.field == "scheme_id" and "members of the cluster only" in str(exc.value)
    assert world.sale(world.member, scheme_id=scheme.id).payer_amount == D("750.00")
    old = world.scheme(name="Last year's scheme", valid_from=date(2024, 1, 1), valid_until=date(2024, 12, 31))
    with pytest.raises(funding.NotEligible, match="does not fund sales on that day"):
        world.sale(scheme_id=old.id)
    with pytest.raises(funding.NotEligible, match="No such funding scheme"):
        world.sale(scheme_id=999_999)
    assert count_sales() == 1


def test_membership_is_tested_on_the_day_of_the_sale(world, cluster):
    joiner = world.crm.organization("Nouveau Membre SAS", size_band="10-49", postcode="69003")
    world.crm.membership(joiner, cluster, start=date(2026, 6, 1))
    scheme = world.scheme(members_only=True)
    before = world.sale(joiner, on=date(2026, 5, 31), scheme_id="auto")
    after = world.sale(joiner, on=date(2026, 6, 1), scheme_id="auto")
    assert (before.member, before.full_amount, before.payer_amount) == (False, D("2400.00"), D("0.00"))
    assert (after.member, after.full_amount, after.payer_amount, after.scheme_id) == (
        True, D("1500.00"), D("750.00"), scheme.id)


def test_the_envelope_pays_what_is_left_then_nothing_or_refuses(world):
    scheme = world.scheme(envelope="1000")
    assert world.sale(scheme_id="auto").payer_amount == D("750.00")
    assert world.sale(scheme_id="auto").payer_amount == D("250.00")  # what is left
    assert world.sale(scheme_id="auto").payer_amount == D("0.00")  # used up: full price
    assert fresh_scheme(scheme.id).envelope_used == D("1000.00")
    strict = world.scheme(name="Strict scheme", envelope="750", when_exhausted="refuse", services=[world.training])
    assert world.sale(service=world.training, scheme_id="auto", quantity=3).payer_amount == D("750.00")
    before = count_sales()
    with pytest.raises(funding.FundingRefused, match="envelope is used up"):
        world.sale(service=world.training, scheme_id="auto")
    with pytest.raises(funding.FundingRefused):
        world.sale(service=world.training, scheme_id=strict.id)
    assert count_sales() == before  # nothing written
    assert fresh_scheme(strict.id).envelope_used == D("750.00")


def test_a_refusing_scheme_with_its_cap_reached_refuses_but_another_scheme_may_pay(world):
    first = world.scheme(name="A capped scheme", cap_per_beneficiary="750", when_exhausted="refuse")
    world.sale(scheme_id="auto")
    with pytest.raises(funding.FundingRefused, match="reached its cap"):
        world.sale(scheme_id="auto")
    second = world.scheme(name="A second scheme", share_rate="20")
    sale = world.sale(scheme_id="auto")  # the first pays nothing more, the second pays
    assert (sale.scheme_id, sale.payer_amount) == (second.id, D("300.00"))
    assert first.id < second.id


def test_a_share_per_unit_never_pays_more_than_the_price(world):
    world.scheme(share_kind="per_unit", share_amount="400", services=[world.training])
    sale = world.sale(service=world.training, quantity="2.5", scheme_id="auto")
    assert (sale.unit_price, sale.full_amount, sale.payer_amount, sale.beneficiary_amount) == (
        D("650.00"), D("1625.00"), D("1000.00"), D("625.00"))
    big = world.scheme(name="Generous", share_kind="per_unit", share_amount="5000", services=[world.diagnostic])
    sale = world.sale(scheme_id=big.id)
    assert (sale.payer_amount, sale.beneficiary_amount) == (D("1500.00"), D("0.00"))  # free for the beneficiary


def test_success_fees_and_quotes(world, billing):
    project = billing.service(world.cluster, "Project support", status="on_sale")
    billing.price(project, "success_fee", member_rate="5", non_member_rate="8", floor_amount="1500")
    billing.price(project, "quote", label="Large consortium")
    world.scheme(services=[project], share_rate="40")
    with pytest.raises(BillingError) as exc:
        world.sale(service=project, scheme_id="auto")
    assert exc.value.field == "mode"  # two modes that day: say which
    with pytest.raises(BillingError) as exc:
        world.sale(service=project, mode="success_fee")
    assert exc.value.field == "amount_obtained"
    with pytest.raises(BillingError) as exc:
        world.sale(service=project, mode="success_fee", amount_obtained="100000", quantity=2)
    assert exc.value.field == "quantity"
    fee = world.sale(service=project, mode="success_fee", amount_obtained="100000", scheme_id="auto")
    assert (fee.full_amount, fee.payer_amount, fee.beneficiary_amount, fee.amount_obtained) == (
        D("5000.00"), D("2000.00"), D("3000.00"), D("100000.00"))
    with pytest.raises(BillingError) as exc:
        world.sale(service=project, mode="quote")
    assert exc.value.field == "unit_price"
    quoted = world.sale(service=project, mode="quote", unit_price="12345.67", scheme_id="auto", quote_line_id=42)
    assert (quoted.full_amount, quoted.payer_amount, quoted.quote_line_id) == (D("12345.67"), D("4938.27"), 42)
    assert quoted.payer_amount + quoted.beneficiary_amount == quoted.full_amount
    with pytest.raises(BillingError) as exc:
        world.sale(unit_price="10")  # the catalogue's price applies
    assert exc.value.field == "unit_price"


def test_what_a_sale_refuses(world, billing, cluster, other_cluster):
    draft = billing.service(cluster, "Draft service")
    billing.price(draft, "flat_fee", member_amount="10")
    members_only = billing.service(cluster, "Members only", status="on_sale")
    billing.price(members_only, "flat_fee", member_amount="10")
    theirs = billing.service(other_cluster, "Their service", status="on_sale")
    billing.price(theirs, "flat_fee", member_amount="10")
    cases = [
        ({"service": draft}, "service_id"),
        ({"service": theirs}, "service_id"),  # another cluster's service is not found
        ({"service": members_only, "organization": world.guest}, "organization_id"),
        ({"organization": 2**31 - 1}, "organization_id"),
        ({"person_id": 2**31 - 1}, "person_id"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "1.001"}, "quantity"),
        ({"quantity": "NaN"}, "quantity"),
        ({"quantity": "99999999999"}, "quantity"),
        ({"mode": "membership_fee"}, "mode"),
        ({"mode": "catalogue"}, "mode"),  # no catalogue price
        ({"on": date(2019, 12, 31)}, "sold_on"),  # no price valid then
        ({"scheme_id": "everything"}, "scheme_id"),
        ({"amount_obtained": "5"}, "amount_obtained"),
    ]
    for arguments, field in cases:
        arguments = dict(arguments)
        organization = arguments.pop("organization", world.member)
        with pytest.raises(BillingError) as exc:
            if arguments.get("service") is theirs:
                with acting_as(cluster.id):
                    sales.record_sale(theirs.id, world.member.id, on=ON)
            else:
                world.sale(organization, **arguments)
        assert exc.value.field == field, (arguments, exc.value.field, str(exc.value))
    assert count_sales() == 0


def test_cancelling_gives_the_payer_part_back(world):
    scheme = world.scheme(envelope="1500", cap_per_beneficiary="750")
    first = world.sale(scheme_id="auto")
    assert world.sale(scheme_id="auto").payer_amount == 0  # the cap is reached
    with acting_as(world.cluster.id):
        sales.cancel_sale(first.id, reason="Wrong company", user_id=None)
    assert fresh_scheme(scheme.id).envelope_used == D("0.00")
    cancelled = db.session.get(Sale, first.id)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "Wrong company")
    assert cancelled.cancelled_at is not None
    assert world.sale(scheme_id="auto").payer_amount == D("750.00")  # the cap is free again
    with pytest.raises(BillingError, match="cancelled already"):
        with acting_as(world.cluster.id):
            sales.cancel_sale(first.id)
    assert fresh_scheme(scheme.id).envelope_used == D("750.00")


def test_the_envelope_cannot_shrink_below_what_is_used(world, cluster):
    from core import validate
    from plugins.billing.forms import FundingSchemeForm

    scheme = world.scheme(envelope="3000")
    world.sale(scheme_id="auto")
    world.sale(scheme_id="auto")
    with acting_as(cluster.id):
        row = db.session.get(FundingScheme, scheme.id)
        form = validate(FundingSchemeForm, obj=row, data={"envelope": "1000"}, partial=True)
        with pytest.raises(BillingError) as exc:
            funding.save_scheme(row, form)
    assert exc.value.field == "envelope"
    with acting_as(cluster.id):
        row = db.session.get(FundingScheme, scheme.id)
        funding.save_scheme(row, validate(FundingSchemeForm, obj=row, data={"envelope": "1500"}, partial=True))
    fresh = fresh_scheme(scheme.id)
    assert (fresh.envelope, fresh.envelope_used, fresh.envelope_left) == (D("1500.00"), D("1500.00"), D("0.00"))
    assert world.sale(scheme_id="auto").payer_amount == 0


def test_the_database_refuses_an_overspent_envelope_and_parts_that_do_not_add_up(world, cluster):
    from sqlalchemy.exc import IntegrityError

    scheme = world.scheme(envelope="100")
    with db.for_cluster(cluster.id):
        row = db.session.get(FundingScheme, scheme.id)
        row.envelope_used = D("100.01")
        with pytest.raises(IntegrityError):
            db.session.flush()
    db.session.rollback()
    sale_id, scheme_id = world.sale().id, scheme.id
    with db.for_cluster(cluster.id):
        row = db.session.get(Sale, sale_id)
        row.scheme_id = scheme_id
        row.payer_amount = D("1.00")
        with pytest.raises(IntegrityError):
            db.session.flush()
    db.session.rollback()


def test_billable_sales_give_a_line_to_each_payer(world, cluster):
    world.scheme()
    world.sale(scheme_id="auto")
    world.sale(world.guest, on=date(2026, 3, 5))
    with db.for_cluster(cluster.id):
        lines = sales.billable_sales(date(2026, 3, 1), date(2026, 3, 31))
    ids = [s.id for s in all_sales()]
    assert [(line["source_id"], line["organization_id"], line["amount"]) for line in lines] == [
        (f"sale:{ids[0]}", world.member.id, D("750.00")), (f"sale:{ids[0]}:payer", world.region.id, D("750.00")),
        (f"sale:{ids[1]}", world.guest.id, D("2400.00"))]
    assert all(line["source"] == "billing" and line["currency"] == "EUR" for line in lines)


def test_schemes_and_sales_belong_to_their_cluster(world, cluster, other_cluster, billing):
    scheme = world.scheme()
    theirs = billing.service(other_cluster, "Their diagnostic", status="on_sale")
    billing.price(theirs, "flat_fee", member_amount="1000")
    world.crm.membership(world.member, other_cluster, start=date(2020, 1, 1))
    with pytest.raises(funding.NotEligible, match="No such funding scheme"):  # alpha's scheme is not beta's
        billing.sale(theirs, world.member, scheme_id=scheme.id)
    sale = billing.sale(theirs, world.member, scheme_id="auto")
    assert (sale.cluster_id, sale.payer_amount) == (other_cluster.id, D("0.00"))
    with db.for_cluster(other_cluster.id):
        assert funding.eligible_schemes(theirs, world.member.id, ON) == []
        assert db.session.execute(select(func.count()).select_from(FundingScheme)).scalar_one() == 0
    assert fresh_scheme(scheme.id).envelope_used == 0


# -- concurrency ------------------------------------------------------------------------------------
@pytest.mark.parametrize("when_exhausted", ["full_price", "refuse"])
def test_fifty_simultaneous_sales_against_an_envelope_for_ten(app, world, when_exhausted):
    """Exactly 10 co-funded, the rest at full price (or refused), nothing overspent (SQLite and PostgreSQL)."""
    scheme = world.scheme(envelope="7500", when_exhausted=when_exhausted)  # 10 x 750
    buyers = [world.crm.organization(f"Buyer {i:02d} SAS", size_band="10-49", postcode="69001") for i in range(50)]
    for org in buyers:
        world.crm.membership(org, world.cluster, start=date(2020, 1, 1))
    ids = [org.id for org in buyers]
    service_id, cluster_id = world.diagnostic.id, world.cluster.id
    results, errors = concurrent(
        app, cluster_id, ids,
        lambda org_id: sales.record_sale(service_id, org_id, on=ON, scheme_id="auto").payer_amount)
    rows = all_sales()
    funded = [s for s in rows if s.payer_amount > 0]
    assert len(funded) == 10 and all(s.payer_amount == D("750.00") for s in funded)
    assert all(s.scheme_id == scheme.id for s in funded)
    if when_exhausted == "full_price":
        assert errors == [] and len(rows) == 50
        assert sorted(results).count(D("750.00")) == 10
        assert all(s.payer_amount == 0 and s.beneficiary_amount == D("1500.00") for s in rows if s not in funded)
    else:
        assert len(rows) == 10 and len(results) == 10
        assert len(errors) == 40 and all(isinstance(e, funding.FundingRefused) for e in errors), errors[:3]
    fresh = fresh_scheme(scheme.id)
    assert fresh.envelope_used == D("7500.00") == sum(s.payer_amount for s in rows)
    assert fresh.envelope_left == 0


def test_simultaneous_sales_of_one_beneficiary_never_pass_its_cap(app, world):
    scheme = world.scheme(cap_per_beneficiary="2000")  # 750 + 750 + 500
    service_id, org_id = world.diagnostic.id, world.member.id
    results, errors = concurrent(app, world.cluster.id, list(range(12)),
                                 lambda _n: sales.record_sale(service_id, org_id, on=ON, scheme_id="auto").payer_amount)
    assert errors == []
    assert sorted(results, reverse=True)[:4] == [D("750.00"), D("750.00"), D("500.00"), D("0.00")]
    assert fresh_scheme(scheme.id).envelope_used == D("2000.00")


def test_simultaneous_cancellations_give_back_once(app, world):
    scheme = world.scheme(envelope="1500")
    sale = world.sale(scheme_id="auto")
    results, errors = concurrent(app, world.cluster.id, list(range(6)),
                                 lambda _n: sales.cancel_sale(sale.id).status)
    assert results == ["cancelled"] and len(errors) == 5
    assert all("cancelled already" in str(e) for e in errors)
    assert fresh_scheme(scheme.id).envelope_used == D("0.00")


# -- invariants under random sequences ---------------------------------------------------------------
STEPS = st.lists(st.tuples(st.sampled_from(["sell", "sell", "sell", "cancel"]), st.integers(0, 2),
                           st.integers(1, 4)), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=STEPS, envelope=st.integers(0, 4000), cap=st.none() | st.integers(0, 3000),
       rate=st.integers(0, 100), refuse=st.booleans())
def test_parts_add_up_and_nothing_is_overspent_whatever_the_sequence(world, steps, envelope, cap, rate, refuse):
    with db.for_cluster(world.cluster.id):
        db.session.execute(delete(Sale))
        for sid in db.session.execute(select(FundingScheme.id)).scalars().all():
            db.session.execute(delete(FundingSchemeService).where(FundingSchemeService.scheme_id == sid))
        db.session.execute(delete(FundingScheme))
    db.session.commit()
    scheme = world.scheme(envelope=str(envelope), cap_per_beneficiary=None if cap is None else str(cap),
                          share_rate=str(rate), when_exhausted="refuse" if refuse else "full_price",
                          services=[world.diagnostic, world.training])
    buyers = [world.member, world.guest, world.linz]
    made: list[int] = []
    for action, who, quantity in steps:
        if action == "cancel" and made:
            with acting_as(world.cluster.id):
                try:
                    sales.cancel_sale(made[who % len(made)])
                except BillingError:
                    pass
            continue
        service = world.training if quantity > 1 else world.diagnostic
        try:
            made.append(world.sale(buyers[who], service=service, quantity=quantity, scheme_id="auto").id)
        except funding.FundingRefused:
            pass
    rows = all_sales()
    recorded = [s for s in rows if s.status == "recorded"]
    fresh = fresh_scheme(scheme.id)
    assert fresh.envelope_used == sum((s.payer_amount for s in recorded), D("0.00"))
    assert fresh.envelope_used <= D(envelope)
    for s in rows:
        assert s.payer_amount >= 0 and s.beneficiary_amount >= 0
        assert s.payer_amount + s.beneficiary_amount == s.full_amount
        assert s.payer_amount <= (s.full_amount * rate / 100).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    if cap is not None:
        for org in buyers:
            assert sum((s.payer_amount for s in recorded if s.organization_id == org.id), D("0.00")) <= cap
