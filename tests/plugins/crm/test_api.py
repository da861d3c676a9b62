"""The CRM's public functions (plugins/crm/api.py), as other plugins use them."""

from __future__ import annotations

from datetime import date

import pytest
from core import db
from plugins.crm import api
from plugins.crm.models import Person, Segment
from plugins.crm.persons import erase_person, record_consent


def test_is_member_follows_status_and_dates(crm, cluster, other_cluster):
    org = crm.organization("Bosch Linz GmbH")
    crm.membership(org, cluster, "member", start=date(2021, 1, 1), end=date(2022, 12, 31))
    crm.membership(org, other_cluster, "prospect", start=date(2021, 1, 1))
    assert api.is_member(org.id, cluster.id, date(2021, 6, 1))
    assert not api.is_member(org.id, cluster.id, date(2020, 12, 31))
    assert not api.is_member(org.id, cluster.id, date(2023, 1, 1))
    assert not api.is_member(org.id, other_cluster.id, date(2021, 6, 1))  # a prospect pays the full price
    assert not api.is_member(None, cluster.id, date(2021, 6, 1))
    other = crm.organization("Voestalpine AG")
    crm.membership(other, cluster, "member", start=date(2019, 1, 1))
    assert api.member_ids([org.id, other.id, None], cluster.id, date(2021, 6, 1)) == {org.id, other.id}
    assert api.member_ids([org.id, other.id], cluster.id, date(2024, 1, 1)) == {other.id}


def test_persons_and_organization_names(crm):
    org = crm.organization("Société Générale d'Usinage", trade_name="SGU")
    p = crm.person("Dupont", "Émilie", organization=org, role="CEO", email="emilie@sgu.fr", language="fr")
    lonely = crm.person("Huber", "Franz")
    infos = api.get_persons([p.id, lonely.id, 999999])
    assert set(infos) == {p.id, lonely.id}
    assert infos[p.id].full_name == "Émilie Dupont"
    assert infos[p.id].organization_id == org.id and infos[p.id].organization_name == "SGU"
    assert infos[lonely.id].organization_id is None and infos[lonely.id].email == ""
    assert api.get_person(p.id).language == "fr"
    assert api.get_person(424242) is None
    assert api.organization_names([org.id, None]) == {org.id: "SGU"}


def test_find_or_create_person_matches_email_case_insensitively(crm):
    org = crm.organization("Plastiques du Rhône")
    pid, created = api.find_or_create_person(email="Anna.Berger@Example.AT", first_name="Anna", last_name="Berger",
                                             organization_name="PLASTIQUES DU RHONE", language="en", source="events")
    db.session.commit()
    assert created
    person = db.session.get(Person, pid)
    assert person.email == "anna.berger@example.at"
    assert [ln.organization_id for ln in person.links] == [org.id]  # matched by name, accents aside
    again, created = api.find_or_create_person(email="anna.berger@example.at ", first_name="X", last_name="Y")
    assert (again, created) == (pid, False)
    new_pid, created = api.find_or_create_person(email="kurt@example.at", first_name="Kurt", last_name="Maier",
                                                 organization_name="Neue Firma GmbH")
    db.session.commit()
    assert created
    assert api.get_person(new_pid).organization_name == "Neue Firma GmbH"
    with pytest.raises(ValueError):
        api.find_or_create_person(email="not-an-email", first_name="A", last_name="B")


def test_consent_rules(crm):
    a = crm.person("A", email="a@example.org")
    b = crm.person("B", email="b@example.org")
    c = crm.person("C", email="c@example.org")
    record_consent(a, "newsletter", "granted", method="web form")
    record_consent(b, "newsletter", "granted", method="web form")
    record_consent(b, "newsletter", "withdrawn", method="unsubscribe link")
    record_consent(c, "event_invitations", "withdrawn", method="phone")
    db.session.commit()
    ids = [a.id, b.id, c.id]
    assert api.consenting_person_ids(ids, "newsletter") == {a.id}
    assert api.consenting_person_ids(ids, "event_invitations") == {a.id, b.id}
    erase_person(a)
    db.session.commit()
    assert api.consenting_person_ids(ids, "newsletter") == set()
    assert api.consenting_person_ids(ids, "event_invitations") == {b.id}
    with pytest.raises(ValueError):
        api.consenting_person_ids(ids, "spam")


def test_search_persons_ignores_case_and_accents(crm):
    crm.person("Müller", "Jürgen", email="jm@example.at")
    crm.person("Lefèvre", "Hélène", email="helene@example.fr")
    assert [p.last_name for p in api.search_persons("MULLER")] == ["Müller"]
    assert [p.last_name for p in api.search_persons("helene lefevre")] == ["Lefèvre"]
    assert api.search_persons("   ") == []


def test_segments_resolve_to_persons_of_matching_organizations(crm, cluster, other_cluster):
    member = crm.organization("Member SA", kind="company")
    prospect = crm.organization("Prospect SARL", kind="company")
    crm.membership(member, cluster, "member")
    crm.membership(prospect, cluster, "prospect")
    crm.membership(prospect, other_cluster, "member")
    p1 = crm.person("One", organization=member)
    crm.person("Two", organization=prospect)
    gone = crm.person("Gone", organization=member)
    erase_person(gone)
    seg = Segment(name="Members", filters={"membership": "member"}, cluster_id=cluster.id)
    db.session.add(seg)
    db.session.commit()
    assert api.list_segments(cluster.id) == [(seg.id, "Members")]
    assert api.list_segments(other_cluster.id) == []
    assert api.segment_person_ids(seg.id, cluster.id) == [p1.id]
    assert api.segment_organization_ids(seg.id, cluster.id) == [member.id]
    with pytest.raises(LookupError):
        api.segment_person_ids(seg.id, other_cluster.id)
