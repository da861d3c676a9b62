"""CRM exports: list exports never carry a live formula; a person's export stays in its cluster.

- CSV and XLSX list exports neutralize text that a spreadsheet program would run as a
  formula (OWASP CSV injection), keep numbers numeric, and import back as typed;
- a cluster's export of a shared person holds that cluster's interactions only; the
  federation admin's subject-access export (no cluster in the URL) holds every cluster's.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core import db
from core.auth import new_api_token
from core.services import grant_role
from plugins.crm.models import Interaction, InteractionPerson, Organization

FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.fixture
def formula_orgs(crm):
    return {crm.organization(name).id: name for name in FORMULAS}


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))


def test_a_csv_export_neutralizes_formulas_and_keeps_numbers_plain(staff_client, formula_orgs):
    r = staff_client.get("/alpha/crm/organizations/export.csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two
    header, *rows = _csv_rows(r)
    legal_name = header.index("legal_name")
    by_id = {int(row[0]): row for row in rows}  # the id column: plain digits, never prefixed
    assert set(by_id) == set(formula_orgs)
    for oid, name in formula_orgs.items():
        assert by_id[oid][legal_name] == "'" + name


def test_an_xlsx_export_stores_text_never_formulas(staff_client, formula_orgs):
    r = staff_client.get("/alpha/crm/organizations/export.xlsx")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.get_data())).active
    header = [c.value for c in sheet[1]]
    legal_name = header.index("legal_name")
    rows = list(sheet.iter_rows(min_row=2))
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    seen = {}
    for row in rows:
        assert row[0].data_type == "n" and isinstance(row[0].value, int)  # the id stays a number
        cell = row[legal_name]
        assert cell.data_type == "s" and cell.quotePrefix  # text, and still text when edited in Excel
        seen[row[0].value] = cell.value
    assert set(seen) == set(formula_orgs)
    for oid, name in formula_orgs.items():
        # the text exactly as typed (XML reads a carriage return back as a line feed)
        assert seen[oid] == name or (name.startswith("\r") and seen[oid] == "\n" + name[1:])


def test_a_neutralized_csv_export_imports_back_as_typed(staff_client, crm):
    from plugins.crm.importing import import_file

    crm.organization("=Plus Minus SAS", city="+33 Lyon")
    data = staff_client.get("/alpha/crm/organizations/export.csv").get_data()
    assert b"'=Plus Minus SAS" in data and b"'+33 Lyon" in data
    report = import_file(data, "organizations")
    db.session.commit()
    assert report.ok, report.errors
    assert (report.created, report.updated) == (0, 1)
    db.session.expire_all()
    org = db.session.execute(select(Organization)).scalar_one()
    assert (org.legal_name, org.city) == ("=Plus Minus SAS", "+33 Lyon")


# -- a person's export: one cluster's data, or everything for the federation admin -------------
@pytest.fixture
def shared_person(crm, cluster, other_cluster):
    """A person met by both clusters: an interaction recorded by alpha, one by beta."""
    org = crm.organization("Shared Widgets SA")
    person = crm.person("Bauer", "Eva", organization=org, email="eva@example.at")
    for c, subject, on in ((cluster, "Alpha visit", date(2025, 3, 4)), (other_cluster, "Beta secret talk",
                                                                          date(2025, 5, 6))):
        interaction = Interaction(cluster_id=c.id, organization_id=org.id, kind="call", date=on, subject=subject)
        db.session.add(interaction)
        db.session.flush()
        db.session.add(InteractionPerson(interaction_id=interaction.id, person_id=person.id))
    db.session.commit()
    return person


def _subjects(data: dict) -> list[tuple[str, str, str]]:
    return [(i["cluster"], i["subject"], i["date"]) for i in data["interactions"]]


def test_a_cluster_admin_exports_only_the_cluster_s_interactions(app, factory, cluster, shared_person):
    admin = factory.user("admin.alpha@example.org", "admin", cluster)
    token = new_api_token(admin)
    db.session.commit()
    page = app.test_client(user=admin).get(f"/alpha/crm/persons/{shared_person.id}/export.json")
    api = app.test_client().get(f"/api/v1/alpha/crm/persons/{shared_person.id}/export",
                                headers={"Authorization": f"Bearer {token}"})
    for r in (page, api):
        assert r.status_code == 200
        data = r.get_json()
        assert [i["subject"] for i in data["interactions"]] == ["Alpha visit"]
        assert data["scope"] == "cluster" and data["email"] == "eva@example.at"  # the shared identity data
        assert data["organizations"][0]["organization"] == "Shared Widgets SA"
        assert _subjects(data) == [("alpha", "Alpha visit", "2025-03-04")]
        assert "Beta secret talk" not in r.get_data(as_text=True) and "2025-05-06" not in r.get_data(as_text=True)


def test_the_federation_admin_s_subject_access_export_holds_every_cluster(app, factory, shared_person):
    fed = factory.user("fed@example.org", None, federation_admin=True)
    token = new_api_token(fed)
    db.session.commit()
    page = app.test_client(user=fed).get(f"/admin/crm/persons/{shared_person.id}/subject-access.json")
    api = app.test_client().get(f"/api/v1/crm/persons/{shared_person.id}/subject-access",
                                headers={"Authorization": f"Bearer {token}"})
    for r in (page, api):
        assert r.status_code == 200
        data = r.get_json()
        assert data["scope"] == "federation" and data["email"] == "eva@example.at"
        assert _subjects(data) == [("alpha", "Alpha visit", "2025-03-04"), ("beta", "Beta secret talk", "2025-05-06")]
    assert "attachment" in page.headers["Content-Disposition"]
    # in a cluster, even the federation admin's export is that cluster's
    inside = app.test_client(user=fed).get(f"/beta/crm/persons/{shared_person.id}/export.json").get_json()
    assert _subjects(inside) == [("beta", "Beta secret talk", "2025-05-06")]
    assert app.test_client(user=fed).get("/admin/crm/persons/999999/subject-access.json").status_code == 404


def test_a_cluster_admin_cannot_reach_the_subject_access_export(app, factory, cluster, other_cluster,
                                                                shared_person):
    admin = factory.user("admin.both@example.org", "admin", cluster)
    grant_role(admin, other_cluster, "admin")  # admin of both clusters is still not the federation's
    token = new_api_token(admin)
    db.session.commit()
    page = app.test_client(user=admin).get(f"/admin/crm/persons/{shared_person.id}/subject-access.json")
    api = app.test_client().get(f"/api/v1/crm/persons/{shared_person.id}/subject-access",
                                headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 403 and api.status_code == 403
    assert "Beta secret talk" not in page.get_data(as_text=True) + api.get_data(as_text=True)
    assert app.test_client().get(f"/api/v1/crm/persons/{shared_person.id}/subject-access").status_code == 401


def test_the_person_page_links_the_subject_access_export_for_federation_admins_only(app, factory, cluster,
                                                                                    shared_person):
    admin = factory.user("admin.alpha@example.org", "admin", cluster)
    fed = factory.user("fed@example.org", None, federation_admin=True)
    link = f"/admin/crm/persons/{shared_person.id}/subject-access.json"
    assert link not in app.test_client(user=admin).get(f"/alpha/crm/persons/{shared_person.id}").get_data(as_text=True)
    assert link in app.test_client(user=fed).get(f"/alpha/crm/persons/{shared_person.id}").get_data(as_text=True)
