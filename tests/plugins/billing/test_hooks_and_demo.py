"""Billing on the platform: its hook specification (answered by events), the search box, the
dashboard widget, the cluster settings, the permissions, and its demo data."""

from __future__ import annotations

import inspect
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select

from core import db
from plugins.billing import hookspecs
from plugins.billing.models import Price, Range, Service, ServiceExpert, ServiceStep


def count(model, **where) -> int:
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return db.session.execute(stmt.execution_options(all_clusters=True)).scalar_one()


def test_billing_declares_the_billable_items_hook_and_events_answers_it(app, factory):
    host = app.extensions["grappe.host"]
    caller = host.hook.billing_billable_items
    assert caller.spec is not None and caller.spec.namespace is hookspecs
    assert list(inspect.signature(hookspecs.billing_billable_items).parameters) == ["cluster", "since", "until"]
    doc = hookspecs.billing_billable_items.__doc__
    for key in ("source", "source_id", "organization_id", "person_id", "description", "amount", "currency", "date",
                "member_price"):
        assert f"``{key}``" in doc, key
    assert [i.plugin_name for i in caller.get_hookimpls()] == ["events"]
    assert not host.broken()


def test_billable_items_asks_the_clusters_enabled_plugins(app, factory):
    from plugins.billing.billable import billable_items
    from plugins.crm import api as crm
    from plugins.events.models import Event, Registration

    with_events = factory.cluster("alpha", modules=("crm", "billing", "events"))
    without = factory.cluster("beta", modules=("crm", "billing"))
    person_id, _ = crm.find_or_create_person(email="bo@example.org", first_name="Bo", last_name="Buyer",
                                             organization_name="Buyer SAS")
    starts = datetime(2026, 5, 5, 9, tzinfo=timezone.utc)
    event = Event(cluster_id=with_events.id, title="Paid day", status="closed", starts_at=starts,
                  ends_at=starts + timedelta(hours=3), venue="Lyon", non_member_price=Decimal("75"))
    db.session.add(event)
    db.session.flush()
    db.session.add(Registration(cluster_id=with_events.id, event_id=event.id, person_id=person_id,
                                organization_id=crm.get_person(person_id).organization_id, status="registered",
                                price=Decimal("75"), member_price=False, source="staff"))
    db.session.commit()
    with app.test_request_context():
        items = billable_items(with_events, date(2026, 5, 1), date(2026, 5, 31))
        assert [(i["source"], i["amount"], i["date"], i["member_price"]) for i in items] == [
            ("events", Decimal("75.00"), date(2026, 5, 5), False)]
        assert billable_items(without, date(2026, 5, 1), date(2026, 5, 31)) == []  # events not enabled there


def test_the_search_box_finds_the_clusters_services(app, cluster, other_cluster, manager_client, billing):
    billing.service(cluster, "Diagnostic énergie", code="DIAG-E", status="on_sale")
    billing.service(other_cluster, "Diagnostic secret")
    page = manager_client.get("/alpha/search?q=diagnostic+ENERGIE").get_data(as_text=True)
    assert "Diagnostic énergie" in page and "DIAG-E" in page and "Diagnostic secret" not in page


def test_the_dashboard_widget_counts_services_on_sale(app, cluster, manager_client, billing):
    billing.service(cluster, "A", status="on_sale")
    billing.service(cluster, "B", status="on_sale")
    billing.service(cluster, "C")
    page = manager_client.get("/alpha/").get_data(as_text=True)
    assert "Service catalogue" in page and "services on sale, 1 in draft" in page
    assert 'href="/alpha/billing/services/?status=on_sale"' in page


def test_permissions_are_declared_with_their_roles(app):
    perms = app.extensions["grappe.permissions"]
    assert {name: perms[name].role for name in perms if name.startswith("billing.")} == {
        "billing.view": "viewer", "billing.catalogue": "manager", "billing.sell": "staff", "billing.payers": "manager"}


def test_demo_data_for_the_clusters_running_billing(app, factory, crm):
    from plugins.billing.demo import create_demo_data
    from plugins.crm.competences import find_or_create_competence  # test code: the CRM's internals are allowed

    with_billing = factory.cluster("plastics", modules=("crm", "billing"))
    without = factory.cluster("hr-network", modules=("crm",))
    lab = crm.organization("Laboratoire Énergie")
    crm.person("Martin", "Claire", organization=lab)
    crm.person("Gruber", "Anna")
    for name in ("Energy efficiency", "Lean manufacturing", "Robotics"):
        find_or_create_competence(name)
    db.session.commit()
    create_demo_data([with_billing, without], random.Random(3))
    assert count(Range, cluster_id=with_billing.id) == 3 and count(Range, cluster_id=without.id) == 0
    services = {s.code: s for s in db.session.execute(select(Service).execution_options(all_clusters=True)).scalars()}
    assert set(services) == {"MEMBER", "PROJECT", "TRAIN-LEAN", "DIAG-ENERGY", "DIR-PRINT", "DIR-ONLINE", "EXPORT-DE"}
    assert services["DIR-PRINT"].status == "retired" and services["DIR-ONLINE"].copied_from_id == services["DIR-PRINT"].id
    assert services["EXPORT-DE"].status == "draft"
    assert count(ServiceStep) >= 15 and count(ServiceExpert) >= 1
    modes = {(p.service_id, p.mode) for p in db.session.execute(select(Price).execution_options(all_clusters=True)).scalars()}
    assert (services["MEMBER"].id, "membership_fee") in modes and (services["PROJECT"].id, "success_fee") in modes
    assert (services["TRAIN-LEAN"].id, "catalogue") in modes and (services["DIAG-ENERGY"].id, "flat_fee") in modes
    seats = db.session.execute(select(Price).where(Price.service_id == services["TRAIN-LEAN"].id, Price.mode == "catalogue")
                               .order_by(Price.valid_from).execution_options(all_clusters=True)).scalars().all()
    assert len(seats) == 2 and seats[0].valid_until is not None and seats[1].replaces_id == seats[0].id
    # the demo's pages answer, with costs worked out
    manager = factory.user("boss@example.org", "manager", with_billing)
    client = app.test_client(user=manager)
    for service in services.values():
        page = client.get(f"/plastics/billing/services/{service.id}")
        assert page.status_code == 200 and "unit-cost" in page.get_data(as_text=True)
