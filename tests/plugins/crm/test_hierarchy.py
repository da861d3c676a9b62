"""The organization hierarchy stays a tree: pages, the API and imports refuse self-parents and
loops, two concurrent moves cannot together make a loop, and an organization caught in a loop
written before stays editable."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from core import db
from core.testing import new_api_token
from plugins.crm.importing import import_file
from plugins.crm.models import Organization
from plugins.crm.hierarchy import hierarchy_loops

from .test_import import csv_bytes


@pytest.fixture
def api(app, staff):
    token = new_api_token(staff)
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def patch(org_id, body, client=client):
        return client.patch(f"/api/v1/alpha/crm/organizations/{org_id}", json=body, headers=headers)

    patch.headers = headers
    patch.client = client
    return patch


def parents() -> dict[int, int | None]:
    db.session.commit()  # see what the requests committed
    return dict(db.session.execute(select(Organization.id, Organization.parent_id)).all())


def raw_parent(org, parent) -> None:
    """Write a parent as data from before the check could (no check at all)."""
    db.session.execute(text("UPDATE crm_organization SET parent_id = :p WHERE id = :o"),
                       {"p": parent.id if parent else None, "o": org.id})
    db.session.commit()
    db.session.expire_all()


def edit_form(org, **fields) -> dict:
    return {"legal_name": org.legal_name, "kind": org.kind, "country": org.country or "FR",
            "parent_id": org.parent_id or "", **fields}


# -- self-parent -----------------------------------------------------------------------------
def test_the_form_refuses_an_organization_as_its_own_parent(crm, staff_client):
    org = crm.organization("Groupe Rhône")
    r = staff_client.post(f"/alpha/crm/organizations/{org.id}/edit", data=edit_form(org, parent_id=org.id))
    assert r.status_code == 400
    assert "An organization cannot be its own parent." in r.get_data(as_text=True)
    assert parents()[org.id] is None


def test_the_api_refuses_an_organization_as_its_own_parent_with_a_field_error(crm, api):
    org = crm.organization("Groupe Rhône")
    r = api(org.id, {"parent_id": org.id})
    assert r.status_code == 422
    assert r.get_json() == {"errors": {"parent_id": ["An organization cannot be its own parent."]}}
    assert parents()[org.id] is None


def test_the_import_refuses_an_organization_as_its_own_parent_and_writes_nothing(crm):
    org = crm.organization("Groupe Rhône")
    report = import_file(csv_bytes(["id,legal_name,parent_id", f"{org.id},Groupe Rhône Renamed,{org.id}",
                                    ",Filiale Neuve,"]), "organizations")
    assert not report.ok and not report.written
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (2, "parent_id", "An organization cannot be its own parent.")]
    assert parents() == {org.id: None}  # the good row is not written either
    assert db.session.get(Organization, org.id).legal_name == "Groupe Rhône"


# -- loops -----------------------------------------------------------------------------------
def test_a_two_way_loop_is_refused_by_the_api_and_the_form(crm, api, staff_client):
    p, q = crm.organization("P"), crm.organization("Q")
    assert api(p.id, {"parent_id": q.id}).status_code == 200
    r = api(q.id, {"parent_id": p.id})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"parent_id": ["This would make Q its own ancestor."]}
    db.session.expire_all()
    r = staff_client.post(f"/alpha/crm/organizations/{q.id}/edit", data=edit_form(q, parent_id=p.id))
    assert r.status_code == 400 and "This would make Q its own ancestor." in r.get_data(as_text=True)
    assert parents() == {p.id: q.id, q.id: None}


def test_a_three_way_loop_is_refused(crm, api):
    a, b, c = crm.organization("A"), crm.organization("B"), crm.organization("C")
    assert api(a.id, {"parent_id": b.id}).status_code == 200
    assert api(b.id, {"parent_id": c.id}).status_code == 200
    r = api(c.id, {"parent_id": a.id})
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["parent_id"]
    assert parents() == {a.id: b.id, b.id: c.id, c.id: None}
    assert api(c.id, {"parent_id": None}).status_code == 200  # a root stays possible


def test_the_check_under_the_lock_refuses_a_loop_the_form_could_not_see(app, crm):
    """What another transaction committed after the form's check: set_parent sees it."""
    from plugins.crm.hierarchy import HierarchyError, set_parent

    p, q = crm.organization("P"), crm.organization("Q")
    other = db.new_session()
    try:
        other.execute(text("UPDATE crm_organization SET parent_id = :q WHERE id = :p"), {"p": p.id, "q": q.id})
        other.commit()
    finally:
        other.close()
    q = db.session.get(Organization, q.id)
    with pytest.raises(HierarchyError, match="its own ancestor"):
        set_parent(q, p.id)
    db.session.rollback()
    assert parents() == {p.id: q.id, q.id: None}


def test_two_concurrent_moves_cannot_make_a_loop(app, crm, api):
    for _round in range(3):
        p, q = crm.organization("P"), crm.organization("Q")
        barrier = threading.Barrier(2)
        statuses, bodies = [], []

        def move(org_id, parent_id):
            client = app.test_client()
            barrier.wait()
            r = api(org_id, {"parent_id": parent_id}, client=client)
            statuses.append(r.status_code)
            bodies.append(r.get_json())

        threads = [threading.Thread(target=move, args=(p.id, q.id)), threading.Thread(target=move, args=(q.id, p.id))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(statuses) == [200, 422], (statuses, bodies)
        refused = next(b for s, b in zip(statuses, bodies) if s == 422)
        assert list(refused["errors"]) == ["parent_id"] and "its own ancestor" in refused["errors"]["parent_id"][0]
        state = parents()
        assert (state[p.id], state[q.id]) in ((q.id, None), (None, p.id))
        assert hierarchy_loops([p.id, q.id]) == {}


# -- imports ---------------------------------------------------------------------------------
def test_an_import_with_a_loop_across_rows_writes_nothing(crm):
    p, q = crm.organization("P"), crm.organization("Q")
    report = import_file(csv_bytes(["id,legal_name,parent_id", f"{p.id},P,{q.id}", ",Filiale,", f"{q.id},Q,{p.id}"]),
                         "organizations")
    assert not report.ok and not report.written
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (2, "parent_id", "This would make P its own ancestor."),
        (4, "parent_id", "This would make Q its own ancestor.")]
    assert parents() == {p.id: None, q.id: None}


def test_an_import_loop_through_the_database_is_refused(crm):
    """The file moves P under Q and Q under R; the database has R under P already."""
    p, q, r = crm.organization("P"), crm.organization("Q"), crm.organization("R")
    raw_parent(r, p)
    data = csv_bytes(["id,legal_name,parent_id", f"{p.id},P,{q.id}", f"{q.id},Q,{r.id}"])
    report = import_file(data, "organizations", dry_run=True)
    assert [e.line for e in report.errors] == [2, 3] and {e.column for e in report.errors} == {"parent_id"}
    assert not import_file(data, "organizations").written
    assert parents() == {p.id: None, q.id: None, r.id: p.id}
    ok = import_file(csv_bytes(["id,legal_name,parent_id", f"{q.id},Q,{r.id}", f"{p.id},P,"]), "organizations")
    assert ok.ok and ok.written, ok.errors
    assert parents() == {p.id: None, q.id: r.id, r.id: p.id}


def test_an_import_checks_again_under_the_lock_once_written(app, crm):
    """Between the check of the file and its write, another writer moves Q under P."""
    p, q = crm.organization("P"), crm.organization("Q")

    def meanwhile(done, total):
        if done == total:  # the check is over, the write comes next
            other = db.new_session()
            try:
                other.execute(text("UPDATE crm_organization SET parent_id = :p WHERE id = :q"), {"p": p.id, "q": q.id})
                other.commit()
            finally:
                other.close()

    report = import_file(csv_bytes(["id,legal_name,parent_id", f"{p.id},P,{q.id}"]), "organizations",
                         progress=meanwhile)
    assert not report.written
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (2, "parent_id", "This would make P its own ancestor.")]
    assert parents() == {p.id: None, q.id: p.id}


# -- data written before the check -------------------------------------------------------------
def test_an_organization_caught_in_a_loop_stays_editable(crm, api, staff_client):
    p, q, root = crm.organization("P"), crm.organization("Q"), crm.organization("Root")
    raw_parent(p, q)
    raw_parent(q, p)
    assert hierarchy_loops([p.id, q.id]) == {p.id: "loop", q.id: "loop"}
    # other fields, the parent as it is: the page, the API and an import take them
    r = staff_client.post(f"/alpha/crm/organizations/{p.id}/edit", data=edit_form(p, city="Lyon"))
    assert r.status_code == 302, r.get_data(as_text=True)
    r = api(q.id, {"city": "Grenoble"})
    assert r.status_code == 200 and r.get_json()["parent_id"] == p.id
    r = api(q.id, {"city": "Grenoble", "parent_id": p.id})
    assert r.status_code == 200
    report = import_file(csv_bytes(["id,legal_name,city,parent_id", f"{p.id},P,Vienne,{q.id}"]), "organizations")
    assert report.ok and report.written, report.errors
    db.session.expire_all()
    assert (db.session.get(Organization, p.id).city, db.session.get(Organization, q.id).city) == ("Vienne", "Grenoble")
    # nothing new goes under the loop, and the walk above it ends
    r = api.client.post("/api/v1/alpha/crm/organizations", json={"legal_name": "Under", "parent_id": p.id},
                        headers=api.headers)
    assert r.status_code == 422 and "loops" in r.get_json()["errors"]["parent_id"][0]
    # a parent that breaks the loop is taken
    r = api(p.id, {"parent_id": root.id})
    assert r.status_code == 200, r.get_json()
    assert parents() == {p.id: root.id, q.id: p.id, root.id: None}
    assert hierarchy_loops([p.id, q.id, root.id]) == {}
