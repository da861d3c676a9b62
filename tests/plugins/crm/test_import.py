"""Import of organizations and persons: detection, dry run, all or nothing, duplicates, CLI."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core import db
from plugins.crm.importing import MAX_IMPORT_BYTES, ImportRefused, import_file
from plugins.crm.models import Organization, OrganizationTag, Person, PersonOrganization

VALID_SIRENS = ["732829320", "552100554", "542051180", "380129866", "775670417"]


def count(model) -> int:
    db.session.commit()  # see what another session (the CLI's, a job's) committed
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def csv_bytes(lines: list[str], encoding="utf-8", delimiter=",") -> bytes:
    return "\n".join(line.replace(",", delimiter) for line in lines).encode(encoding)


def test_organizations_in_latin1_with_semicolons(app):
    data = "\r\n".join(["Raison sociale;SIREN;Ville;Pays;Effectif;Type;Tags",
                         "Métallerie d'Orléans;732 829 320;Orléans;FR;35;entreprise;\"métal; Loiret\"",
                         "Boulangerie Frère;;Besançon;fr;;;"]).encode("latin-1")
    report = import_file(data, "organizations", filename="orgs.csv")
    assert report.ok, report.errors
    assert (report.encoding, report.delimiter, report.created, report.written) == ("windows-1252", ";", 2, True)
    assert report.columns["Raison sociale"] == "legal_name" and report.columns["Effectif"] == "size_band"
    org = db.session.execute(select(Organization).where(Organization.siren == "732829320")).scalar_one()
    assert (org.legal_name, org.city, org.size_band, org.kind) == ("Métallerie d'Orléans", "Orléans", "10-49", "company")
    assert sorted(t.name for t in org.tags) == ["Loiret", "métal"]
    assert "orleans" in org.search and "metal" in org.search  # searchable without accents
    assert count(OrganizationTag) == 2
    from plugins.crm.queries import organization_list

    assert [o.id for o in organization_list({"q": "ORLEANS metal"}).items] == [org.id]  # indexed


def test_utf8_bom_and_xlsx(app):
    from openpyxl import Workbook

    report = import_file("\ufefflegal_name,city\nKöln Kunststoff GmbH,Köln\n".encode("utf-8"), "organizations")
    assert report.ok and report.encoding == "utf-8-sig" and report.created == 1
    wb = Workbook()
    ws = wb.active
    ws.append(["Nom", "SIREN", "Code postal"])
    ws.append(["Scierie du Jura", 552100554, 39000])
    out = io.BytesIO()
    wb.save(out)
    report = import_file(out.getvalue(), "organizations", filename="orgs.xlsx")
    assert report.ok, report.errors
    org = db.session.execute(select(Organization).where(Organization.siren == "552100554")).scalar_one()
    assert (org.legal_name, org.postcode) == ("Scierie du Jura", "39000")


def test_dry_run_lists_every_bad_row_and_writes_nothing(app):
    data = csv_bytes([
        "legal_name,siren,vat_number,kind,website,country",
        "Good One,732829320,,company,,FR",
        ",552100554,,company,,FR",                        # line 3: no name
        "Bad SIREN,123456789,,company,,FR",                # line 4
        "Bad VAT,,FR12345678901,company,,FR",              # line 5
        "Bad kind,,,spaceship,,FR",                        # line 6
        "Twice,732829320,,company,,FR",                    # line 7: same SIREN as line 2
        "Bad country,,,company,,France",                   # line 8
    ])
    report = import_file(data, "organizations", dry_run=True)
    assert not report.ok and not report.written
    found = {(e.line, e.column) for e in report.errors}
    assert found == {(3, "legal_name"), (4, "siren"), (5, "vat_number"), (6, "kind"), (7, "siren"),
                     (8, "country")}, report.errors
    assert any("Same value as line 2" in e.message for e in report.errors)
    assert count(Organization) == 0
    # the real run refuses the same file as a whole
    report = import_file(data, "organizations")
    assert not report.ok and not report.written and count(Organization) == 0


def test_an_error_on_the_last_of_40000_rows_writes_nothing(app):
    lines = ["legal_name,postcode"] + [f"Company {i},{i % 90000:05d}" for i in range(39999)] + [",00000"]
    report = import_file(csv_bytes(lines), "organizations")
    assert report.rows == 40000 and report.error_count == 1
    assert (report.errors[0].line, report.errors[0].column) == (40001, "legal_name")  # row 40,000 of data
    assert count(Organization) == 0


def test_duplicates_are_updated_or_skipped(app, crm):
    existing = crm.organization("Old Name", siren="732829320", city="Lyon", tags=["keep"])
    data = csv_bytes(["legal_name,siret,city", "New Name,73282932000074,Villeurbanne"])
    report = import_file(data, "organizations", on_duplicate="skip")
    assert report.ok and (report.created, report.updated, report.skipped) == (0, 0, 1)
    db.session.expire_all()
    assert db.session.get(Organization, existing.id).legal_name == "Old Name"
    report = import_file(data, "organizations", on_duplicate="update")
    assert report.ok and (report.created, report.updated) == (0, 1)
    db.session.expire_all()
    org = db.session.get(Organization, existing.id)
    assert (org.legal_name, org.siret, org.city, org.siren) == ("New Name", "73282932000074", "Villeurbanne",
                                                                "732829320")
    assert [t.name for t in org.tags] == ["keep"] and "villeurbanne" in org.search and "keep" in org.search
    # a row that matches two different records is refused
    crm.organization("Other", vat_number="FR40303265045")
    report = import_file(csv_bytes(["legal_name,siren,vat_number", "X,732829320,FR40303265045"]), "organizations")
    assert not report.ok and "several records" in report.errors[0].message


def test_persons_match_by_email_and_link_organizations(app, crm):
    org = crm.organization("Plasturgie Ain", siren="552100554")
    crm.person("Ancien", "Paul", email="paul@ain.fr")
    data = csv_bytes([
        "Prénom,Nom,E-mail,Téléphone,Fonction,Entreprise,organization_siren,Rôle,Langue",
        "Paul,Nouveau,PAUL@ain.fr,,Achats,,552100554,Buyer,français",
        "Zoé,Lefèvre,zoe@example.fr,+33 4 74 00 00 00,R&D,Nouvelle Société SARL,,CTO,fr",
        "Lukas,Huber,lukas@example.at,,management,NOUVELLE SOCIETE SARL,,CEO,en",
        "Eve,NoMail,,,,,,,",
    ])
    report = import_file(data, "persons", dry_run=True)
    assert report.ok, report.errors
    assert (report.created, report.updated, report.organizations_created) == (3, 1, 1)
    assert count(Person) == 1
    report = import_file(data, "persons")
    assert report.ok and report.written, report.errors
    paul = db.session.execute(select(Person).where(Person.email == "paul@ain.fr")).scalar_one()
    assert (paul.last_name, paul.function, paul.language) == ("Nouveau", "purchasing", "fr")
    assert [(ln.organization_id, ln.role) for ln in paul.links] == [(org.id, "Buyer")]
    new_org = db.session.execute(select(Organization).where(Organization.legal_name == "Nouvelle Société SARL")
                                 ).scalar_one()
    zoe = db.session.execute(select(Person).where(Person.email == "zoe@example.fr")).scalar_one()
    lukas = db.session.execute(select(Person).where(Person.email == "lukas@example.at")).scalar_one()
    assert zoe.links[0].organization_id == lukas.links[0].organization_id == new_org.id  # one organization
    assert zoe.function == "rnd" and "lefevre" in zoe.search
    from plugins.crm.queries import organization_list

    assert [o.id for o in organization_list({"q": "nouvelle societe"}).items] == [new_org.id]
    assert count(PersonOrganization) == 3


def test_person_rows_with_bad_values(app):
    data = csv_bytes(["last_name,email,organization_siren,language,function",
                      "A,not-an-email,,,",
                      "B,b@example.org,732829320,,",
                      "C,c@example.org,,klingon,",
                      "D,d@example.org,,,astronaut",
                      "E,b@example.org,,,"])
    report = import_file(data, "persons", dry_run=True)
    assert {(e.line, e.column) for e in report.errors} == {
        (2, "email"), (3, "organization_siren"), (4, "language"), (5, "function"), (6, "email")}


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"   \n  \n", "empty"),
    (b"city,postcode\nLyon,69001\n", "No column for legal_name"),
    (b"legal_name\n\"unterminated,quote\n", "malformed"),
    (b"\x00\x01\x02binary", "binary"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel", ".xls"),
    (b"PK\x03\x04not really a zip", "cannot be read"),
])
def test_unreadable_files_are_refused_clearly(app, data, message):
    with pytest.raises(ImportRefused, match=message):
        import_file(data, "organizations")


def test_too_large_and_wrong_width(app, tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:
        fh.write(b"legal_name\n")
        fh.truncate(MAX_IMPORT_BYTES + 1)
    with pytest.raises(ImportRefused, match="at most 50 MB"):
        import_file(big, "organizations")
    report = import_file(b"legal_name,city\nA,Lyon,extra,cells\n", "organizations", dry_run=True)
    assert not report.ok and "4 values" in report.errors[0].message


def test_cli_import_with_progress_and_errors(app, tmp_path):
    from plugins.crm.cli import import_group

    path = tmp_path / "orgs.csv"
    path.write_text("legal_name;siren\nAlpha;732829320\nBeta;552100554\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(import_group, ["crm", str(path), "--kind", "organizations", "--dry-run"], obj={"app": app})
    assert result.exit_code == 0, result.output
    assert "2 would be created" in result.output and count(Organization) == 0
    result = runner.invoke(import_group, ["crm", str(path), "--kind", "organizations"], obj={"app": app})
    assert result.exit_code == 0, result.output
    assert count(Organization) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("legal_name,siren\nGamma,123\n", encoding="utf-8")
    result = runner.invoke(import_group, ["crm", str(bad), "--kind", "organizations"], obj={"app": app})
    assert result.exit_code == 1 and "line 2, column siren" in result.output and "nothing was written" in result.output
    result = runner.invoke(import_group, ["crm", str(path), "--kind", "persons"], obj={"app": app})
    assert result.exit_code == 1 and "No column for last_name" in result.output


def test_web_import_checks_then_imports(app, factory, cluster):
    manager = factory.user("m@example.org", "manager", cluster)
    client = app.test_client(user=manager)
    data = {"kind": "organizations", "on_duplicate": "update", "delimiter": "", "encoding": "",
            "file": (io.BytesIO(b"legal_name,siren\nWeb Import SA,732829320\n"), "orgs.csv")}
    r = client.post("/alpha/crm/import", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    report_page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "The file is correct" in report_page and "Import now" in report_page
    assert count(Organization) == 0
    job_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    r = client.post(f"/alpha/crm/import/{job_id}/run")
    assert r.status_code == 302
    assert "Imported." in client.get(r.headers["Location"]).get_data(as_text=True)
    assert count(Organization) == 1
    bad = {"kind": "organizations", "on_duplicate": "update", "delimiter": "", "encoding": "",
           "file": (io.BytesIO(b"legal_name,siren\nX,123\n"), "bad.csv")}
    r = client.post("/alpha/crm/import", data=bad, content_type="multipart/form-data")
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "nothing was written" in page and "Not a valid SIREN" in page and "Import now" not in page
    staff = factory.user("s@example.org", "staff", cluster)
    assert app.test_client(user=staff).get("/alpha/crm/import").status_code == 403


def test_import_through_the_api_with_a_mapping(app, factory, cluster):
    from core.testing import new_api_token

    manager = factory.user("api@example.org", "manager", cluster)
    token = new_api_token(manager)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    body = "Dénomination;Numéro SIREN\nAPI Import SAS;732829320\n".encode("utf-8")
    data = {"kind": "organizations", "on_duplicate": "update", "mapping": "Dénomination = legal_name\n"
            "Numéro SIREN = siren", "file": (io.BytesIO(body), "orgs.csv")}
    r = client.post("/api/v1/alpha/crm/import", data=data, headers=headers, content_type="multipart/form-data")
    assert r.status_code == 202, r.get_json()
    check = r.get_json()
    assert check["status"] == "done" and check["report"]["ok"] and check["report"]["created"] == 1
    assert count(Organization) == 0
    r = client.post(f"/api/v1/alpha/crm/import/{check['job_id']}/run", headers=headers)
    assert r.status_code == 202 and r.get_json()["report"]["written"]
    assert count(Organization) == 1
    again = client.post(f"/api/v1/alpha/crm/import/{check['job_id']}/run", headers=headers)
    assert again.status_code == 200 and again.get_json()["job_id"] == r.get_json()["job_id"]  # the same import
    bad = {"kind": "organizations", "on_duplicate": "update", "mapping": "Dénomination = colour",
           "file": (io.BytesIO(body), "orgs.csv")}
    r = client.post("/api/v1/alpha/crm/import", data=bad, headers=headers, content_type="multipart/form-data")
    assert r.status_code == 422 and "mapping" in r.get_json()["errors"]
    r = client.post("/api/v1/alpha/crm/import", data={"kind": "organizations"}, headers=headers,
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]


def test_parent_ids_are_checked_for_the_whole_file(app, crm):
    group = crm.organization("Groupe Plasturgie SA")
    data = csv_bytes(["legal_name,parent_id", f"Filiale Ain,{group.id}", "Filiale Perdue,999999"])
    report = import_file(data, "organizations", dry_run=True)
    assert [(e.line, e.column) for e in report.errors] == [(3, "parent_id")]
    report = import_file(csv_bytes(["legal_name,parent_id", f"Filiale Ain,{group.id}"]), "organizations")
    assert report.ok
    child = db.session.execute(select(Organization).where(Organization.legal_name == "Filiale Ain")).scalar_one()
    assert child.parent_id == group.id
