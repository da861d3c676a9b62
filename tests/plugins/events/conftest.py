"""Fixtures for the events tests: a cluster with CRM and events, staff, persons, events.

CRM records are made through ``plugins.crm.api`` where it offers a way; memberships
and consent records (which the api does not write) through the CRM's models, in
this one place.

The events operations act for the current cluster and never commit, as in a request;
a test runs them ``with acting_as(cluster):``, which scopes the session to the cluster
and commits at the end (the mails they queue go out then), or rolls back on an error.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core import db
from plugins.crm import api as crm
from plugins.events.models import Event, Registration


@contextmanager
def acting_as(cluster):
    """Run events operations as a request of ``cluster`` runs them: scoped to it, committed at
    the end of the block (mails queued after the commit go out then), rolled back on an error."""
    try:
        with db.for_cluster(cluster.id):
            yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def aware(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def ten_days_ahead(hour: int = 9, zone: str = "Europe/Paris") -> datetime:
    """09:00 in the cluster's zone, ten days from now: a future event that starts and ends
    on one day whatever the date, hour and time zone of the machine running the tests."""
    local = datetime.now(ZoneInfo(zone)) + timedelta(days=10)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


class EventsFactory:
    """Build events, persons and memberships for tests."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.n = 0

    def person(self, first_name="Claire", last_name="Martin", email=None, organization="Acme SAS", language=None) -> int:
        self.n += 1
        email = email or f"person{self.n}@example.org"
        person_id, _ = crm.find_or_create_person(email=email, first_name=first_name, last_name=last_name,
                                                 organization_name=organization, language=language, source="test")
        db.session.commit()
        return person_id

    def persons(self, count: int, organization="Acme SAS") -> list[int]:
        return [self.person(first_name=f"P{i}", last_name=f"Person{i:03d}", organization=organization)
                for i in range(count)]

    def event(self, title="Plastics day", *, cluster=None, status="open", capacity=None, starts_at=None,
              hours=3, member_price="0", non_member_price="0", **fields) -> Event:
        starts_at = starts_at or ten_days_ahead()
        event = Event(cluster_id=(cluster or self.cluster).id, title=title, status=status, capacity=capacity,
                      starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours), venue="Lyon",
                      member_price=Decimal(member_price), non_member_price=Decimal(non_member_price), **fields)
        db.session.add(event)
        db.session.commit()
        return event

    def membership(self, organization_id: int, cluster=None, start=date(2020, 1, 1), end=None):
        from plugins.crm.models import Membership

        db.session.add(Membership(organization_id=organization_id, cluster_id=(cluster or self.cluster).id,
                                  status="member", start_date=start, end_date=end))
        db.session.commit()

    def consent(self, person_id: int, purpose: str, status: str):
        from plugins.crm.models import ConsentRecord

        db.session.add(ConsentRecord(person_id=person_id, purpose=purpose, status=status))
        db.session.commit()

    def erase(self, person_id: int):
        from plugins.crm.models import Person

        person = db.session.get(Person, person_id)
        person.erased_at = datetime.now(timezone.utc)
        db.session.commit()


def statuses(event_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    rows = db.session.execute(
        select(Registration.status, func.count()).where(Registration.event_id == event_id)
        .group_by(Registration.status).execution_options(all_clusters=True, populate_existing=True)
    ).all()
    return dict(rows)


@pytest.fixture
def cluster(factory):
    return factory.cluster("alpha", modules=("crm", "events"), name="Alpha Cluster", timezone="Europe/Paris")


@pytest.fixture
def other_cluster(factory):
    return factory.cluster("beta", modules=("crm", "events"), name="Beta Cluster")


@pytest.fixture
def ev(cluster) -> EventsFactory:
    return EventsFactory(cluster)


@pytest.fixture
def staff(factory, cluster):
    return factory.user("staff@example.org", "staff", cluster, name="Sam Staff")


@pytest.fixture
def viewer(factory, cluster):
    return factory.user("viewer@example.org", "viewer", cluster, name="Val Viewer")


@pytest.fixture
def staff_client(app, staff):
    return app.test_client(user=staff)
