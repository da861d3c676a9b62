"""Search insensitive to case and accents, on SQLite and PostgreSQL; filters and segments."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from core import db
from plugins.crm import queries
from plugins.crm.competences import add_organization_competence, find_or_create_competence
from plugins.crm.models import Segment
from plugins.crm.text import normalize


def names(page) -> list[str]:
    return [o.legal_name for o in page.items]


def organization_list(filters: dict, cluster_id: int, **kwargs):
    """The list as the cluster's page has it (its memberships)."""
    with db.for_cluster(cluster_id):
        return queries.organization_list(filters, **kwargs)


def test_normalize_folds_case_and_accents():
    assert normalize("Orléans") == "orleans"
    assert normalize("KÖLN", "Straße") == "koln strasse"
    assert normalize("  Saint-Étienne   Loire ") == "saint-etienne loire"


@pytest.mark.parametrize("query, expected", [
    ("orleans", ["Fonderie d'Orléans"]),
    ("ORLÉANS", ["Fonderie d'Orléans"]),
    ("köln", ["Kölner Kunststoff GmbH"]),
    ("KOLN", ["Kölner Kunststoff GmbH"]),
    ("732829320", ["Fonderie d'Orléans"]),
    ("73282932000074", ["Fonderie d'Orléans"]),
    ("atu13585627", ["Linzer Holz AG"]),
    ("holz linz", ["Linzer Holz AG"]),
    ("injection", ["Fonderie d'Orléans"]),       # a tag
    ("45000", ["Fonderie d'Orléans"]),           # a postcode
    ("ag", ["Linzer Holz AG"]),                   # a short word (no trigram): still found
    ("50%", []),                                  # LIKE wildcards are plain characters
    ("nothing-like-this", []),
])
def test_organization_search(crm, cluster, query, expected):
    crm.organization("Fonderie d'Orléans", siret="73282932000074", siren="732829320", postcode="45000",
                     city="Orléans", tags=["Injection"])
    crm.organization("Kölner Kunststoff GmbH", city="Köln", street="Hauptstraße 1", country="DE")
    crm.organization("Linzer Holz AG", vat_number="ATU13585627", city="Linz", country="AT")
    crm.organization("Société 5 pour cent", city="Paris")
    page = organization_list({"q": query}, cluster.id)
    assert names(page) == expected and page.total == len(expected)


def test_search_follows_changes_and_deletions(crm, cluster):
    org = crm.organization("Old Name SARL", city="Lyon")
    assert names(organization_list({"q": "old name"}, cluster.id)) == ["Old Name SARL"]
    org.legal_name = "Nouvelle Dénomination"
    db.session.commit()
    assert names(organization_list({"q": "old name"}, cluster.id)) == []
    assert names(organization_list({"q": "denomination"}, cluster.id)) == ["Nouvelle Dénomination"]
    db.session.delete(org)
    db.session.commit()
    assert names(organization_list({"q": "denomination"}, cluster.id)) == []


def test_many_matches_and_pagination(crm, cluster):
    for i in range(120):
        crm.organization(f"Tech Company {i:03d}", city="Grenoble")
    crm.organization("Unrelated", city="Nice")
    queries.DENSE_MATCHES, saved = 50, queries.DENSE_MATCHES  # take the "walk the name order" path too
    try:
        for dense in (50, 100000):
            queries.DENSE_MATCHES = dense
            first = organization_list({"q": "tech grenoble"}, cluster.id, page=1)
            third = organization_list({"q": "tech grenoble"}, cluster.id, page=3)
            assert first.total == third.total == 120
            assert names(first)[0] == "Tech Company 000" and names(third) == [f"Tech Company {i:03d}"
                                                                               for i in range(100, 120)]
    finally:
        queries.DENSE_MATCHES = saved
    by_city = organization_list({"q": "company"}, cluster.id, sort="-city")
    assert by_city.total == 120


def test_filters(crm, cluster, other_cluster):
    a = crm.organization("A Plast", kind="company", sector="22.29", size_band="10-49", country="FR", tags=["Plasturgie"])
    b = crm.organization("B School", kind="school", sector="85.42", country="AT")
    c = crm.organization("C Former", kind="company", sector="22.21")
    crm.membership(a, cluster, "member", start=date(2020, 1, 1))
    crm.membership(b, cluster, "prospect", start=date(2024, 1, 1))
    crm.membership(c, cluster, "member", start=date(2015, 1, 1), end=date(2019, 12, 31))
    crm.membership(b, other_cluster, "member", start=date(2020, 1, 1))
    competence = find_or_create_competence("Injection moulding")
    add_organization_competence(a.id, competence.id, "has")
    add_organization_competence(b.id, competence.id, "needs")
    db.session.commit()

    def run(**f):
        return sorted(o.legal_name for o in organization_list(f, cluster.id).items)

    assert run(kind="school") == ["B School"]
    assert run(sector="22") == ["A Plast", "C Former"]
    assert run(sector="22.29") == ["A Plast"]
    assert run(size="10-49") == ["A Plast"]
    assert run(country="at") == ["B School"]
    assert run(tag="plasturgie") == ["A Plast"]
    assert run(competence=str(competence.id)) == ["A Plast"]
    assert run(need=str(competence.id)) == ["B School"]
    assert run(membership="member") == ["A Plast"]
    assert run(membership="prospect") == ["B School"]
    assert run(membership="former") == ["C Former"]
    assert run(membership="none") == []
    assert sorted(o.legal_name for o in organization_list({"membership": "member"}, other_cluster.id).items) \
        == ["B School"]


def test_filter_page_saves_a_segment(staff_client, crm, cluster):
    crm.organization("Holz A", kind="company", tags=["wood"])
    crm.organization("Holz B", kind="school", tags=["wood"])
    page = staff_client.get("/alpha/crm/organizations/?tag=wood&kind=company").get_data(as_text=True)
    assert "Holz A" in page and "Holz B" not in page and "Save segment" in page
    r = staff_client.post("/alpha/crm/segments/", data={"name": "Wood companies", "tag": "wood", "kind": "company"})
    assert r.status_code == 302
    segment = db.session.execute(select(Segment)).scalar_one()
    assert segment.filters == {"tag": "wood", "kind": "company"} and segment.cluster_id == cluster.id
    listing = staff_client.get("/alpha/crm/segments/").get_data(as_text=True)
    assert "Wood companies" in listing
    assert staff_client.post("/alpha/crm/segments/", data={"name": "Wood companies"}).status_code == 400
    assert staff_client.get("/alpha/crm/organizations/?kind=castle").status_code == 400


def test_exports_of_a_filtered_list(staff_client, crm):
    from openpyxl import load_workbook
    import io

    crm.organization("Export Ä GmbH", city="Wien", tags=["x"])
    crm.organization("Other", city="Paris")
    r = staff_client.get("/alpha/crm/organizations/export.csv?q=wien")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id,legal_name") and "Export Ä GmbH" in text and "Paris" not in text
    r = staff_client.get("/alpha/crm/organizations/export.xlsx")
    rows = list(load_workbook(io.BytesIO(r.get_data())).active.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[0][1] == "legal_name"
    assert staff_client.get("/alpha/crm/organizations/export.pdf").status_code == 404
    r = staff_client.get("/alpha/crm/persons/export.csv")
    assert r.status_code == 200


def test_an_export_imports_back(staff_client, crm, app):
    from plugins.crm.importing import import_file

    crm.organization("Round Trip SAS", siren="732829320", city="Lyon", tags=["a", "b"])
    data = staff_client.get("/alpha/crm/organizations/export.csv").get_data()
    report = import_file(data, "organizations", dry_run=True)
    assert report.ok, report.errors
    assert (report.created, report.updated) == (0, 1)


def test_person_search_index_follows_changes_and_erasure(crm):
    from plugins.crm.persons import erase_person
    from plugins.crm.queries import person_list

    p = crm.person("Weißenböck", "Jürgen", email="j.weissenbock@example.at")
    crm.person("Other", "Anna")
    assert [x.id for x in person_list("weissenbock jurgen").items] == [p.id]
    assert [x.id for x in person_list("EXAMPLE.AT").items] == [p.id]
    p.last_name = "Huber"
    db.session.commit()
    assert person_list("huber jurgen").total == 1 and person_list("weissenbock huber").total == 1  # e-mail kept
    erase_person(p)
    db.session.commit()
    assert person_list("huber").total == 0 and person_list("jurgen").total == 0
