"""Billing's part of ``grappe bench``: each billing cluster's catalogue (services, their
steps and a price each), funding schemes paid by CRM organizations, and three years of
one-off sales, and the billing pages measured.

Everything goes through what users get: the service, step, price and funding scheme forms
(validated, as the JSON API validates them: :func:`core.validate`) and the catalogue,
price and funding operations; every sale through :func:`.sales.record_sale` with
``scheme_id="auto"`` (price, member test, eligibility, the envelope taken under the
scheme's lock), committed in batches, as the CRM's and the events' loads do.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from core import db, hookimpl

BATCH = 500
FIRST_DAY, LAST_DAY = date(2024, 1, 1), date(2026, 10, 31)  # three years of sales, before the bench's "today"
FAMILIES = ["projects", "training", "projects", "other"]
STEPS = ["Kick-off meeting", "Site visit", "Analysis", "Expert workshop", "Report", "Restitution", "Follow-up call"]
KINDS = ["Diagnostic", "Training", "Coaching", "Audit", "Matchmaking", "Study", "Workshop", "Mission"]


def _form(form_class, data: dict):
    from core import validate

    return validate(form_class, data={k: v for k, v in data.items() if v is not None})


def _services(bench, cluster, n: int) -> list[int]:
    """``n`` services on sale with 3 or 4 steps and one price each, through the forms."""
    from . import catalogue, prices
    from .forms import PriceForm, ServiceForm, StepForm

    rng, synth = bench.rng, bench.synth
    ids = []
    for k in range(n):
        topic = rng.choice(synth.COMPETENCES)
        service = catalogue.save_service(None, _form(ServiceForm, {
            "name": f"{rng.choice(KINDS)}: {topic} ({k + 1})", "code": f"SVC-{k + 1:03d}", "status": "on_sale",
            "revenue_family": rng.choice(FAMILIES), "vat_category": "standard", "vat_rate": "20.00",
            "problem": f"Members lack {topic} know-how.", "unit": "one service",
            "coordination_hours": str(rng.choice([1, 2, 4])), "planned_volume": str(rng.choice([10, 20, 50, 100])),
        }))
        for name in rng.sample(STEPS, rng.choice([3, 4])):
            catalogue.add_step(service, _form(StepForm, {
                "name": name, "staff_hours": str(rng.choice([2, 4, 7, 14])),
                "external_fees": str(rng.choice([0, 0, 300, 600, 1200])), "purchases": str(rng.choice([0, 50, 150])),
                "cost_behaviour": "per_unit"}))
        mode = rng.choice(["flat_fee", "flat_fee", "catalogue", "pay_per_use"])
        member = rng.choice([400, 900, 1500, 2400, 3500])
        prices.add_price(service, _form(PriceForm, {
            "mode": mode, "unit": "" if mode == "flat_fee" else rng.choice(["day", "trainee", "use"]),
            "member_amount": str(member), "non_member_amount": str(int(member * 1.5)),
            "valid_from": "2020-01-01"}))
        ids.append(service.id)
    return ids


@hookimpl
def grappe_bench_load(bench):
    from . import funding, sales
    from .forms import FundingSchemeForm

    rng = bench.rng
    clusters = bench.clusters_with("billing")
    org_ids = bench.data.get("crm.organization_ids") or []
    members = bench.data.get("crm.member_organization_ids") or {}
    if not clusters or not org_ids:
        return
    n_services = bench.count("billing.services", full=60)  # per cluster
    n_schemes = bench.count("billing.funding_schemes", full=20)  # across the federation
    n_sales = bench.count("billing.sales", full=50_000)  # across the federation

    services: dict[int, list[int]] = {}
    with bench.timer("billing.services", n_services * len(clusters),
                     tables=("billing_service", "billing_service_step", "billing_price")) as t:
        for cluster in clusters:
            with bench.acting_as(cluster):
                services[cluster.id] = _services(bench, cluster, n_services)
                db.session.commit()
            t.batch(n_services)
    bench.data["billing.service_ids"] = services

    # funding schemes: the main cluster first, then round the federation; payers are CRM organizations
    order = sorted(clusters, key=lambda c: c.id != bench.main_cluster.id)
    with bench.timer("billing.funding_schemes", n_schemes,
                     tables=("billing_funding_scheme", "billing_funding_scheme_service")) as t:
        for k in range(n_schemes):
            cluster = order[k % len(order)]
            mine = services[cluster.id]
            share = rng.choice([30, 50, 50, 70])
            with bench.acting_as(cluster):
                funding.save_scheme(None, _form(FundingSchemeForm, {
                    "name": f"Funding scheme {k + 1}", "payer_id": rng.choice(org_ids),
                    "reference": f"BENCH-{k + 1:03d}",
                    "service_ids": rng.sample(mine, max(1, min(len(mine), rng.randint(len(mine) // 6, len(mine) // 3)))),
                    "share_kind": "percent", "share_rate": str(share),
                    "cap_per_beneficiary": rng.choice([None, "2000", "5000"]),
                    "envelope": rng.choice([None, "50000", "200000", "1000000"]), "when_exhausted": "full_price",
                    "size_bands": rng.choice([[], [], ["1-9", "10-49", "50-249"]]),
                    "members_only": True if rng.random() < 0.3 else None,  # the JSON data path takes booleans
                    "valid_from": FIRST_DAY.isoformat()}))
                db.session.commit()
            t.batch(1)

    # sales: 60 % to the cluster's members, over three years, every one through record_sale
    weights = [len(services[c.id]) * (3 if c.id == bench.main_cluster.id else 1) for c in clusters]
    picks = rng.choices(range(len(clusters)), weights, k=n_sales)
    span = (LAST_DAY - FIRST_DAY).days
    refused = 0
    with bench.timer("billing.sales", n_sales, tables=("billing_sale",)) as t:
        for index, cluster in enumerate(clusters):
            share = picks.count(index)
            pool = members.get(cluster.id) or org_ids
            with bench.acting_as(cluster):
                done = 0
                for _ in range(share):
                    service_id = rng.choice(services[cluster.id])
                    buyer = rng.choice(pool) if rng.random() < 0.6 else rng.choice(org_ids)
                    on = FIRST_DAY + timedelta(days=rng.randint(0, span))
                    try:
                        sales.record_sale(service_id, buyer, on=on, scheme_id="auto",
                                          quantity=rng.choice([1, 1, 1, 2, 3]), user_id=bench.users["manager"].id)
                    except funding.FundingRefused:  # never with full_price schemes; counted if ever
                        refused += 1
                    done += 1
                    if done % BATCH == 0:
                        db.session.commit()
                        t.batch(BATCH)
                db.session.commit()
                if done % BATCH:
                    t.batch(done % BATCH)
        t.record.rows = n_sales - refused


@hookimpl
def grappe_bench_measure(bench):
    main = bench.main_cluster
    if not main.has_module("billing"):
        return
    from . import sales
    from .models import FundingScheme, Sale

    slug = main.slug
    with bench.app.app_context(), db.for_cluster(main.id):
        busiest = db.session.execute(
            select(Sale.service_id).group_by(Sale.service_id).order_by(func.count().desc(), Sale.service_id).limit(1)
        ).scalar_one_or_none()
        scheme_id = db.session.execute(select(func.min(FundingScheme.id))).scalar_one_or_none()
        funded = db.session.execute(
            select(Sale.service_id, Sale.organization_id, Sale.sold_on).where(Sale.scheme_id.is_not(None))
            .order_by(Sale.id).limit(1)).first() or db.session.execute(
            select(Sale.service_id, Sale.organization_id, Sale.sold_on).order_by(Sale.id).limit(1)).first()
    bench.measure_page("billing.services", f"/{slug}/billing/services/")
    if busiest is not None:
        bench.measure_page("billing.service (most sold)", f"/{slug}/billing/services/{busiest}")
        bench.measure_page("billing.service business model", f"/{slug}/billing/services/{busiest}/business")
    if scheme_id is not None:
        bench.measure_page("billing.funding scheme", f"/{slug}/billing/funding/{scheme_id}")
    bench.measure_page("billing.sales", f"/{slug}/billing/sales/")

    if funded is not None:
        service_id, organization_id, on = funded

        def price_one_sale():
            """Price a sale as record_sale would (member test, eligible schemes, envelope), write nothing."""
            with db.for_cluster(main.id):
                try:
                    return sales.preview_sale(service_id, organization_id, on=on, scheme_id="auto")
                finally:
                    db.session.rollback()

        bench.measure("billing.price one sale", price_one_sale)
