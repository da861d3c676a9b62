"""Timeline contributions from other plugins, matching ranking, per-cluster visibility."""

from __future__ import annotations

import sys
import types
from datetime import date, datetime, timedelta, timezone

import pytest

from core import Manifest, TimelineEntry, db, hookimpl
from plugins.crm import competences
from plugins.crm.competences import add_organization_competence, find_or_create_competence
from plugins.crm.models import Interaction


def _timeline_plugin():
    mod = types.ModuleType("fake_timeline_plugin")
    mod.manifest = Manifest(name="fakeevents", version="0.1", label="Fake events", depends=("crm",))
    mod.calls = []

    @hookimpl
    def grappe_timeline_entries(cluster, object_type, object_id, limit):
        mod.calls.append((cluster.slug, object_type, object_id, limit))
        if object_type != "crm.organization":
            return []
        return [TimelineEntry(when=datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc), kind="registration",
                              title="Registered for the Plastics Day", plugin="fakeevents", url="/somewhere"),
                TimelineEntry(when=datetime(2024, 1, 1, 9, 0), kind="invoice", title="Invoice 2024-001",
                              plugin="fakeevents")]  # a naive datetime is read as UTC

    mod.grappe_timeline_entries = grappe_timeline_entries
    sys.modules[mod.__name__] = mod
    return mod


FAKE = _timeline_plugin()


@pytest.mark.extra_plugins(FAKE)
def test_timeline_merges_other_plugins_entries_when_enabled(app, factory, crm):
    with_events = factory.cluster("alpha", modules=("crm", "fakeevents"))
    without = factory.cluster("beta", modules=("crm",))
    user = factory.user("both@example.org", "staff", with_events)
    from core.services import grant_role

    grant_role(user, without, "staff")
    db.session.commit()
    org = crm.organization("Timeline GmbH")
    db.session.add_all([
        Interaction(cluster_id=with_events.id, organization_id=org.id, kind="visit", date=date(2026, 5, 1),
                    subject="Spring visit"),
        Interaction(cluster_id=with_events.id, organization_id=org.id, kind="call", date=date(2025, 1, 1),
                    subject="Old call"),
        Interaction(cluster_id=without.id, organization_id=org.id, kind="note", date=date(2026, 6, 1),
                    subject="Beta's private note"),
    ])
    db.session.commit()
    client = app.test_client(user=user)
    FAKE.calls.clear()
    page = client.get(f"/alpha/crm/organizations/{org.id}").get_data(as_text=True)
    order = [page.index(t) for t in ("Spring visit", "Registered for the Plastics Day", "Old call", "Invoice 2024-001")]
    assert order == sorted(order)  # newest first, both sources merged
    assert "Beta&#39;s private note" not in page and "Beta's private note" not in page
    assert FAKE.calls == [("alpha", "crm.organization", org.id, 50)]  # one hook call for the page
    FAKE.calls.clear()
    page = client.get(f"/beta/crm/organizations/{org.id}").get_data(as_text=True)
    assert "Registered for the Plastics Day" not in page and "Spring visit" not in page
    assert "Beta&#39;s private note" in page or "Beta's private note" in page
    assert FAKE.calls == []  # not enabled for beta: not called


def test_person_timeline_shows_interactions_where_they_were_met(staff_client, crm, cluster, staff):
    org = crm.organization("Met AG")
    person = crm.person("Winkler", "Sophie", organization=org)
    i = Interaction(cluster_id=cluster.id, organization_id=org.id, kind="meeting", date=date(2026, 2, 2),
                    subject="Board meeting", author_id=staff.id)
    i.persons = [person]
    db.session.add(i)
    db.session.commit()
    page = staff_client.get(f"/alpha/crm/persons/{person.id}").get_data(as_text=True)
    assert "Board meeting" in page and "Met AG" in page


def test_matching_ranks_by_overlap_then_membership_then_recent_contact(crm, cluster):
    seeker = crm.organization("Seeker")
    weld, mould, design = (find_or_create_competence(n) for n in ("Welding", "Mould making", "Design"))
    for c in (weld, mould, design):
        add_organization_competence(seeker.id, c.id, "needs")
    both = crm.organization("Has two")
    one_member = crm.organization("Has one, member")
    one_recent = crm.organization("Has one, recent contact")
    one_old = crm.organization("Has one, old contact")
    nothing = crm.organization("Has none")
    for org, comps in ((both, (weld, mould)), (one_member, (weld,)), (one_recent, (design,)), (one_old, (mould,))):
        for c in comps:
            add_organization_competence(org.id, c.id, "has")
    add_organization_competence(nothing.id, weld.id, "needs")
    crm.membership(one_member, cluster, "member")
    db.session.add_all([
        Interaction(cluster_id=cluster.id, organization_id=one_recent.id, kind="call", date=cluster.today(), subject="x"),
        Interaction(cluster_id=cluster.id, organization_id=one_old.id, kind="call",
                    date=cluster.today() - timedelta(days=900), subject="y"),
    ])
    db.session.commit()
    def match(org_id, **kwargs):  # as the cluster's page ranks (its members first)
        with db.for_cluster(cluster.id):
            return competences.match(org_id, **kwargs)

    ranked = match(seeker.id, direction="needs")
    assert [r["organization"].legal_name for r in ranked] == [
        "Has two", "Has one, member", "Has one, recent contact", "Has one, old contact"]
    assert ranked[0]["overlap"] == 2 and ranked[0]["competences"] == ["Mould making", "Welding"]
    only_design = match(seeker.id, direction="needs", competence_id=design.id)
    assert [r["organization"].legal_name for r in only_design] == ["Has one, recent contact"]
    # the reverse: who needs what "Has two" offers
    reverse = match(both.id, direction="offers")
    assert [r["organization"].legal_name for r in reverse] == ["Seeker", "Has none"]


def test_matching_page_and_competence_pages(staff_client, crm):
    org = crm.organization("Needs AG")
    r = staff_client.post(f"/alpha/crm/organizations/{org.id}/competences", data={"name": "Laser cutting",
                                                                                  "kind": "needs"})
    assert r.status_code == 302
    other = crm.organization("Laser GmbH")
    comp_id = find_or_create_competence("Laser cutting").id
    r = staff_client.post(f"/alpha/crm/organizations/{other.id}/competences", data={"competence_id": comp_id,
                                                                                    "kind": "has"})
    assert r.status_code == 302
    page = staff_client.get(f"/alpha/crm/organizations/{org.id}/matching").get_data(as_text=True)
    assert "Laser GmbH" in page
    assert staff_client.post(f"/alpha/crm/organizations/{org.id}/competences", data={"kind": "has"}).status_code == 400
    assert "Laser cutting" in staff_client.get("/alpha/crm/competences/").get_data(as_text=True)
    r = staff_client.post("/alpha/crm/competences/", data={"name": "LASER CUTTING"})
    assert r.status_code == 400  # already in the vocabulary, case aside


def test_other_clusters_data_is_invisible_on_pages(app, factory, crm, cluster, other_cluster, staff_client):
    org = crm.organization("Shared SA")
    m = crm.membership(org, other_cluster, "member", fee_tier="Beta tier")
    i = Interaction(cluster_id=other_cluster.id, organization_id=org.id, kind="visit", date=other_cluster.today(),
                    subject="Beta visit", follow_up_on=other_cluster.today())
    db.session.add(i)
    db.session.commit()
    page = staff_client.get(f"/alpha/crm/organizations/{org.id}").get_data(as_text=True)
    assert "Beta tier" not in page and "Beta visit" not in page
    assert staff_client.get(f"/alpha/crm/interactions/{i.id}/edit").status_code == 404
    assert staff_client.post(f"/alpha/crm/interactions/{i.id}/follow-up", data={"follow_up_done": "y"}).status_code == 404
    assert staff_client.get(f"/alpha/crm/memberships/{m.id}/edit").status_code == 404
    assert "Beta visit" not in staff_client.get("/alpha/crm/follow-ups").get_data(as_text=True)
    assert staff_client.get("/beta/crm/organizations/").status_code == 403  # no role in beta
    # organizations themselves are shared: beta's staff see and may edit them
    beta = factory.user("beta@example.org", "staff", other_cluster)
    client = app.test_client(user=beta)
    assert "Shared SA" in client.get("/beta/crm/organizations/").get_data(as_text=True)
    assert client.post(f"/beta/crm/organizations/{org.id}/edit", data={"legal_name": "Shared SA (renamed)",
                                                                       "kind": "company"}).status_code == 302


def test_crm_disabled_means_404(app, factory, crm):
    off = factory.cluster("off", modules=())
    user = factory.user("o@example.org", "admin", off)
    client = app.test_client(user=user)
    assert client.get("/off/crm/organizations/").status_code == 404
    assert "Organizations" not in client.get("/off/").get_data(as_text=True)
