"""The CRM's pages: organizations, persons, memberships, interactions, follow-ups, timeline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core import db
from plugins.crm.models import ConsentRecord, Interaction, Membership, Organization, Person


def test_every_page_renders(staff_client, crm, cluster):
    org = crm.organization("Plastiques Rhône-Alpes", city="Lyon", siren="732829320", tags=["injection"])
    person = crm.person("Durand", "Léa", organization=org, role="CEO", email="lea@pra.fr")
    crm.membership(org, cluster)
    for url in ["/alpha/crm/", "/alpha/crm/organizations/", "/alpha/crm/organizations/?q=rhone",
                f"/alpha/crm/organizations/{org.id}", f"/alpha/crm/organizations/{org.id}/edit",
                "/alpha/crm/organizations/new", "/alpha/crm/persons/", "/alpha/crm/persons/?q=lea",
                f"/alpha/crm/persons/{person.id}", f"/alpha/crm/persons/{person.id}/edit", "/alpha/crm/persons/new",
                "/alpha/crm/follow-ups", "/alpha/crm/segments/", "/alpha/crm/competences/",
                f"/alpha/crm/organizations/{org.id}/matching", "/alpha/", "/alpha/search?q=durand"]:
        r = staff_client.get(url, follow_redirects=True)
        assert r.status_code == 200, (url, r.status_code, r.get_data(as_text=True)[:2000])
    assert "Plastiques Rhône-Alpes" in staff_client.get("/alpha/search?q=RHONE").get_data(as_text=True)


def test_create_organization_and_refuse_duplicate_siren_with_a_link(staff_client):
    r = staff_client.post("/alpha/crm/organizations/new", data={
        "legal_name": "Fromagerie d'Orléans", "kind": "company", "siret": "73282932000074", "country": "fr",
        "tags": "food, Loire", "website": "fromagerie.example"})
    assert r.status_code == 302, r.get_data(as_text=True)
    org = db.session.execute(select(Organization)).scalar_one()
    assert org.siren == "732829320"  # taken from the SIRET
    assert org.country == "FR" and org.website == "https://fromagerie.example"
    assert [t.name for t in org.tags] == ["food", "Loire"]  # by normalized name
    r = staff_client.post("/alpha/crm/organizations/new", data={"legal_name": "Copy", "kind": "company",
                                                                "siren": "732 829 320"})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "An organization with this SIREN exists already" in page
    assert f'href="/alpha/crm/organizations/{org.id}"' in page
    assert db.session.execute(select(func.count(Organization.id))).scalar_one() == 1


def test_invalid_organization_fields_are_reported(staff_client):
    r = staff_client.post("/alpha/crm/organizations/new", data={
        "legal_name": "", "kind": "spaceship", "siren": "123456789", "vat_number": "FR00000000000",
        "sector": "car making", "country": "France"})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    for message in ("This field is required.", "Not a valid choice", "Not a valid SIREN", "Not a valid EU VAT",
                    "A NACE code", "Two letters"):
        assert message in page, message
    assert db.session.execute(select(func.count(Organization.id))).scalar_one() == 0


def test_person_with_duplicate_email_is_refused(staff_client, crm):
    org = crm.organization("Holzbau Steiner GmbH", country="AT")
    r = staff_client.post("/alpha/crm/persons/new", data={
        "first_name": "Anna", "last_name": "Steiner", "email": "Anna@Steiner.AT", "organization_id": org.id,
        "role": "Geschäftsführerin", "function": "management"})
    assert r.status_code == 302, r.get_data(as_text=True)
    person = db.session.execute(select(Person)).scalar_one()
    assert person.email == "anna@steiner.at"
    assert [(ln.organization_id, ln.role, ln.main) for ln in person.links] == [(org.id, "Geschäftsführerin", True)]
    r = staff_client.post("/alpha/crm/persons/new", data={"last_name": "Other", "email": "ANNA@steiner.at"})
    assert r.status_code == 400
    assert f'href="/alpha/crm/persons/{person.id}"' in r.get_data(as_text=True)
    r = staff_client.post("/alpha/crm/persons/new", data={"last_name": "X", "email": "not@an@email"})
    assert r.status_code == 400


def test_record_a_visit_from_the_organization_page(staff_client, crm, cluster, staff):
    org = crm.organization("Voestalpine Linz")
    met = crm.person("Gruber", "Max", organization=org)
    r = staff_client.post(f"/alpha/crm/organizations/{org.id}/interactions", data={
        "organization_id": org.id, "kind": "visit", "date": "2026-11-20", "subject": "Plant tour",
        "summary": "They need help with lightweight design.", "persons": [str(met.id)],
        "follow_up_on": (cluster.today() - timedelta(days=1)).isoformat()})
    assert r.status_code == 302, r.get_data(as_text=True)
    interaction = db.session.execute(select(Interaction)).scalar_one()
    assert (interaction.cluster_id, interaction.author_id, [p.id for p in interaction.persons]) == (
        cluster.id, staff.id, [met.id])
    page = staff_client.get(f"/alpha/crm/organizations/{org.id}").get_data(as_text=True)
    assert "Plant tour" in page and "lightweight design" in page and "Gruber" in page
    followups = staff_client.get("/alpha/crm/follow-ups").get_data(as_text=True)
    assert "Plant tour" in followups and "late" in followups
    assert "<p class=\"big\">1</p>" in staff_client.get("/alpha/").get_data(as_text=True)  # follow-ups due
    r = staff_client.post(f"/alpha/crm/interactions/{interaction.id}/follow-up", data={"follow_up_done": "y"})
    assert r.status_code == 302
    assert "Plant tour" not in staff_client.get("/alpha/crm/follow-ups").get_data(as_text=True)
    # a bad visit: nothing written, field errors
    r = staff_client.post(f"/alpha/crm/organizations/{org.id}/interactions", data={
        "organization_id": org.id, "kind": "telepathy", "date": "yesterday", "subject": ""})
    assert r.status_code == 400
    assert db.session.execute(select(func.count(Interaction.id))).scalar_one() == 1


def test_memberships_per_cluster(staff_client, crm, cluster, other_cluster):
    org = crm.organization("Shared GmbH")
    r = staff_client.post(f"/alpha/crm/organizations/{org.id}/memberships", data={
        "organization_id": org.id, "status": "member", "start_date": "2024-01-01", "fee_tier": "SME"})
    assert r.status_code == 302, r.get_data(as_text=True)
    crm.membership(org, other_cluster, "prospect")
    page = staff_client.get(f"/alpha/crm/organizations/{org.id}").get_data(as_text=True)
    assert "SME" in page and "status-prospect" not in page  # the other cluster's membership is not shown
    r = staff_client.post(f"/alpha/crm/organizations/{org.id}/memberships", data={
        "organization_id": org.id, "status": "member", "start_date": "2024-01-01", "end_date": "2023-01-01"})
    assert r.status_code == 400 and "The end comes before the start" in r.get_data(as_text=True)
    other = db.session.execute(select(Membership).where(Membership.cluster_id == other_cluster.id)).scalar_one()
    assert staff_client.get(f"/alpha/crm/memberships/{other.id}/edit").status_code == 404


def test_consent_export_and_erasure(app, factory, cluster, crm):
    admin = factory.user("admin@example.org", "admin", cluster)
    client = app.test_client(user=admin)
    person = crm.person("Bauer", "Eva", email="eva@example.at", phone="+43 732 1234")
    r = client.post(f"/alpha/crm/persons/{person.id}/consents", data={
        "purpose": "newsletter", "status": "granted", "method": "signed form at the fair"})
    assert r.status_code == 302
    r = client.post(f"/alpha/crm/persons/{person.id}/consents", data={"purpose": "newsletter", "status": "maybe"})
    assert r.status_code == 400
    data = client.get(f"/alpha/crm/persons/{person.id}/export.json").get_json()
    assert data["email"] == "eva@example.at" and data["consents"][0]["method"] == "signed form at the fair"
    r = client.post(f"/alpha/crm/persons/{person.id}/erase", data={"confirm": "erase"})
    assert r.status_code == 302
    db.session.expire_all()
    person = db.session.get(Person, person.id)
    assert person.erased_at is not None and person.email is None and "Eva" not in person.full_name
    assert person.phone == "" and "eva" not in person.search
    statuses = db.session.execute(select(ConsentRecord.purpose, ConsentRecord.status)
                                  .where(ConsentRecord.person_id == person.id).order_by(ConsentRecord.id)).all()
    assert statuses[-2:] == [("newsletter", "withdrawn"), ("event_invitations", "withdrawn")]
    assert db.session.execute(select(func.count(Person.id))).scalar_one() == 1  # the row stays for the counts


def test_staff_cannot_erase_and_viewer_cannot_edit(app, factory, cluster, crm, staff_client):
    person = crm.person("Keller", email="k@example.org")
    assert staff_client.post(f"/alpha/crm/persons/{person.id}/erase", data={"confirm": "erase"}).status_code == 403
    assert staff_client.get(f"/alpha/crm/persons/{person.id}/export.json").status_code == 403
    viewer = factory.user("viewer@example.org", "viewer", cluster)
    client = app.test_client(user=viewer)
    assert client.get("/alpha/crm/organizations/").status_code == 200
    assert client.post("/alpha/crm/organizations/new", data={"legal_name": "X"}).status_code == 403
    assert client.get("/alpha/crm/import").status_code == 403


def test_a_french_user_sees_the_crm_in_french(app, factory, cluster, crm):
    user = factory.user("marie@example.org", "staff", cluster, language="fr")
    client = app.test_client(user=user)
    org = crm.organization("Scierie du Jura", kind="company")
    page = client.get("/alpha/crm/organizations/").get_data(as_text=True)
    assert "Nouvelle organisation" in page and "Entreprise" in page and "1 organisation" in page
    page = client.get(f"/alpha/crm/organizations/{org.id}").get_data(as_text=True)
    assert "Enregistrer une visite, un appel ou une note" in page and "Historique" in page
    r = client.post("/alpha/crm/organizations/new", data={"legal_name": "X", "kind": "company", "siren": "123"})
    assert r.status_code == 400 and "SIREN" in r.get_data(as_text=True)
