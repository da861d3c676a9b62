"""Fixtures for the CRM tests: a cluster with the CRM, users, and record factories."""

from __future__ import annotations

from datetime import date

import pytest

from core import db
from plugins.crm.models import Membership, Organization, Person, PersonOrganization


class CrmFactory:
    """Build CRM records directly (the tests of forms and pages go through the real paths)."""

    def organization(self, legal_name="Acme SAS", **fields) -> Organization:
        fields.setdefault("country", "FR")
        tags = fields.pop("tags", None)
        org = Organization(legal_name=legal_name, **fields)
        db.session.add(org)
        if tags:
            from plugins.crm.organizations import set_tags

            set_tags(org, tags)
        db.session.commit()
        return org

    def person(self, last_name="Martin", first_name="Claire", organization=None, role="", **fields) -> Person:
        person = Person(last_name=last_name, first_name=first_name, **fields)
        if organization is not None:
            person.links.append(PersonOrganization(organization_id=organization.id, role=role, main=True))
        db.session.add(person)
        db.session.commit()
        return person

    def membership(self, organization, cluster, status="member", start=date(2020, 1, 1), end=None, **fields):
        m = Membership(organization_id=organization.id, cluster_id=cluster.id, status=status,
                       start_date=start, end_date=end, **fields)
        db.session.add(m)
        db.session.commit()
        return m


@pytest.fixture
def crm(app) -> CrmFactory:
    return CrmFactory()


@pytest.fixture
def cluster(factory):
    return factory.cluster("alpha", modules=("crm",), name="Alpha Cluster")


@pytest.fixture
def other_cluster(factory):
    return factory.cluster("beta", modules=("crm",), name="Beta Cluster")


@pytest.fixture
def staff(factory, cluster):
    return factory.user("staff@example.org", "staff", cluster, name="Sam Staff")


@pytest.fixture
def staff_client(app, staff):
    return app.test_client(user=staff)
