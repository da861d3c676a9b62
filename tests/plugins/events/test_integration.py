"""Integration through hooks only: CRM timelines, billing's billable items (with and without billing)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core import db, utcnow
from core.testing import Factory, installed_plugins, make_test_app
from plugins.events import api as events_api
from plugins.events import registrations, services
from plugins.events.models import Event

from .conftest import acting_as


def org_of(person_id):
    from plugins.crm import api as crm

    return crm.get_person(person_id).organization_id


def test_registrations_on_crm_timelines(app, cluster, other_cluster, staff_client, ev):
    pid = ev.person("Hugo", "Lambert", organization="Lambert Industrie")
    event = ev.event("Additive manufacturing day")
    with acting_as(cluster):
        registrations.register(event.id, pid, notify=False)
    theirs = ev.event("Their secret event", cluster=other_cluster)
    with acting_as(other_cluster):
        registrations.register(theirs.id, pid, notify=False)
    person_page = staff_client.get(f"/alpha/crm/persons/{pid}").get_data(as_text=True)
    assert "Additive manufacturing day" in person_page and "Their secret event" not in person_page
    org_page = staff_client.get(f"/alpha/crm/organizations/{org_of(pid)}").get_data(as_text=True)
    assert "Additive manufacturing day" in org_page and "Hugo Lambert" in org_page


def test_timeline_hook_answers(app, cluster, ev):
    from plugins.events.hooks import grappe_timeline_entries

    pid = ev.person()
    old = ev.event("Older", starts_at=utcnow() - timedelta(days=30), status="closed")
    new = ev.event("Newer", status="cancelled")
    with acting_as(cluster):
        registrations.register(old.id, pid, notify=False)
    from plugins.events.models import Registration

    db.session.add(Registration(event_id=new.id, person_id=pid, cluster_id=cluster.id, status="invited"))
    db.session.commit()
    with app.test_request_context():
        entries = grappe_timeline_entries(cluster=cluster, object_type="crm.person", object_id=pid, limit=10)
        assert [e.title for e in entries] == ["Newer", "Older"]
        assert "event cancelled" in entries[0].detail and entries[1].detail == "Registered"
        assert entries[1].url.endswith(f"/alpha/events/{old.id}")
        assert grappe_timeline_entries(cluster=cluster, object_type="crm.person", object_id=pid, limit=1)[0].title == "Newer"
        assert grappe_timeline_entries(cluster=cluster, object_type="crm.interaction", object_id=pid, limit=10) == []


def test_billable_items(app, cluster, ev):
    member = ev.person("Mia", "Member", organization="Member Corp")
    ev.membership(org_of(member))
    guest = ev.person("Gus", "Guest", organization="Guest Ltd")
    free_person = ev.person("Fay", "Free")
    jan = ev.event("Paid January", member_price="40", non_member_price="90",
                   starts_at=datetime(2026, 1, 20, 9, tzinfo=timezone.utc), status="closed")
    feb = ev.event("Paid February", member_price="40", non_member_price="90",
                   starts_at=datetime(2026, 2, 20, 9, tzinfo=timezone.utc), status="closed")
    cancelled = ev.event("Cancelled", non_member_price="50",
                         starts_at=datetime(2026, 1, 22, 9, tzinfo=timezone.utc), status="closed")
    free = ev.event("Free one", starts_at=datetime(2026, 1, 23, 9, tzinfo=timezone.utc), status="closed")
    with acting_as(cluster):
        a = registrations.register(jan.id, member, notify=False)
        b = registrations.register(jan.id, guest, notify=False)
        c = registrations.register(jan.id, free_person, notify=False)
        registrations.cancel(c.registration_id, notify=False)  # cancelled: not billed
        registrations.register(feb.id, guest, notify=False)
        registrations.register(cancelled.id, guest, notify=False)
        services.change_event_status(db.session.get(Event, cancelled.id), "cancelled")
        registrations.register(free.id, guest, notify=False)
    items = events_api.billable_items(cluster, date(2026, 1, 1), date(2026, 1, 31))
    assert [(i["source_id"], i["amount"], i["member_price"]) for i in items] == [
        (f"registration:{a.registration_id}", Decimal("40.00"), True),
        (f"registration:{b.registration_id}", Decimal("90.00"), False),
    ]
    first = items[0]
    assert first["source"] == "events" and first["currency"] == "EUR" and first["date"] == date(2026, 1, 20)
    assert first["person_id"] == member and first["organization_id"] == org_of(member)
    assert first["description"] == "Paid January (2026-01-20): Mia Member"
    assert len(events_api.billable_items(cluster, date(2026, 1, 1), date(2026, 12, 31))) == 3
    assert events_api.billable_items(cluster, date(2026, 3, 1), date(2026, 3, 31)) == []


def _without_billing():
    return [ep for ep in installed_plugins() if ep.name != "billing"]


def test_events_load_and_work_without_billing(build_app):
    app = build_app(*_without_billing())
    host = app.extensions["grappe.host"]
    assert host.get("events") is not None and host.get("billing") is None
    f = Factory(app)
    cluster = f.cluster("alpha", modules=("crm", "events"))
    staff = f.user("staff@example.org", "staff", cluster)
    assert app.test_client(user=staff).get("/alpha/events/").status_code == 200
    # the implementation waits, unspecified, for a billing plugin to declare the hook
    hook = getattr(host.hook, "billing_billable_items", None)
    assert hook is None or hook.spec is None


def test_billing_hook_answers_when_billing_declares_it(app, cluster, ev, factory):
    host = app.extensions["grappe.host"]
    assert host.get("billing") is not None and host.get("events") is not None
    assert host.hook.billing_billable_items.spec is not None
    pid = ev.person("Bo", "Buyer")
    event = ev.event("Paid day", non_member_price="75", starts_at=datetime(2026, 5, 5, 9, tzinfo=timezone.utc))
    with acting_as(cluster):
        out = registrations.register(event.id, pid, notify=False)
    enabled = {"crm", "events", "billing"}
    results = host.hook_for(enabled).billing_billable_items(cluster=cluster, since=date(2026, 5, 1),
                                                           until=date(2026, 5, 31))
    assert results == [[{
        "source": "events", "source_id": f"registration:{out.registration_id}", "organization_id": org_of(pid),
        "person_id": pid, "description": "Paid day (2026-05-05): Bo Buyer", "amount": Decimal("75.00"),
        "currency": "EUR", "date": date(2026, 5, 5), "member_price": False}]]
    # a cluster without events: the events plugin is not asked
    assert host.hook_for({"crm", "billing"}).billing_billable_items(
        cluster=cluster, since=date(2026, 5, 1), until=date(2026, 5, 31)) == []


def test_the_hook_is_checked_against_billings_spec(_schema, instance_path):
    """Loaded with billing's spec in place, a wrong signature would break events at start-up: it does not."""
    app = make_test_app(_schema, instance_path, plugins=installed_plugins())
    host = app.extensions["grappe.host"]
    assert not [i for i in host.broken() if i.name in ("events", "billing", "crm")]
    impls = host.hook.billing_billable_items.get_hookimpls()
    assert [i.plugin_name for i in impls] == ["events"]
