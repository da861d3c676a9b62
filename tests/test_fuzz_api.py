"""Schemathesis against the served OpenAPI document: no input a client can send gets a 5xx.

Every operation of ``/api/v1/openapi.json`` is called with generated bodies, query strings
and path parameters, as a cluster admin with a real token, in a cluster with real records:
the cluster slug is always the real one, and about half of the generated ids are replaced
by the id of a real record, so the handlers run past their 404s. Bounded: a few examples
per operation (``GRAPPE_FUZZ_EXAMPLES``, default 60), no deadline. It runs in the ordinary
test suite, so CI runs it on SQLite and on PostgreSQL.  It fails on any 5xx and on any
response that does not match the schema the document gives it (declared with
``response=`` on the operation; see tests/test_api_responses.py).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from core import db
from core.auth import new_api_token

EXAMPLES = int(os.environ.get("GRAPPE_FUZZ_EXAMPLES", "60"))


@pytest.fixture
def fuzz_world(app, factory):
    """A cluster with the CRM and events, an admin's token, and one record of each kind."""
    from plugins.crm.models import Competence, Interaction, Membership, Organization, Person, PersonOrganization, Segment
    from plugins.events.models import Event, Registration

    cluster = factory.cluster("alpha", modules=("crm", "events"), name="Alpha Cluster", timezone="Europe/Paris")
    factory.cluster("beta", modules=("crm",), name="Beta Cluster")
    admin = factory.user("admin@example.org", "admin", cluster)
    token = new_api_token(admin)
    org = Organization(legal_name="Acme SAS", country="FR", siren="732829320")
    db.session.add(org)
    db.session.flush()
    person = Person(last_name="Martin", first_name="Claire", email="claire@example.org")
    person.links.append(PersonOrganization(organization_id=org.id, main=True))
    competence = Competence(name="Injection moulding", key="injection moulding")
    db.session.add_all([person, competence])
    db.session.flush()
    membership = Membership(organization_id=org.id, cluster_id=cluster.id, status="member", start_date=date(2020, 1, 1))
    interaction = Interaction(cluster_id=cluster.id, organization_id=org.id, kind="visit", date=date(2026, 3, 2),
                              subject="Visit", author_id=admin.id)
    segment = Segment(cluster_id=cluster.id, name="Members", filters={"membership": "member"})
    starts = datetime(2031, 3, 4, 8, 0, tzinfo=timezone.utc)
    event = Event(cluster_id=cluster.id, title="Plastics day", status="open", starts_at=starts,
                  ends_at=starts + timedelta(hours=3), venue="Lyon", capacity=20)
    db.session.add_all([membership, interaction, segment, event])
    db.session.flush()
    registration = Registration(cluster_id=cluster.id, event_id=event.id, person_id=person.id,
                                organization_id=org.id, status="registered", source="staff")
    db.session.add(registration)
    db.session.commit()
    ids = {"org_id": org.id, "person_id": person.id, "competence_id": competence.id,
           "membership_id": membership.id, "interaction_id": interaction.id, "segment_id": segment.id,
           "event_id": event.id, "registration_id": registration.id, "year": 2031}
    return {"app": app, "token": token, "ids": ids}


def test_no_generated_request_gets_a_server_error(fuzz_world):
    """Each operation in turn, through schemathesis' strategies (its Python API: its pytest
    integration does not follow pytest 9's nodes); every failure is reported at the end."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_world["app"])
    ids = fuzz_world["ids"]
    headers = {"Authorization": f"Bearer {fuzz_world['token']}"}
    failures: dict[str, str] = {}
    operations = 0
    calls: dict[int, int] = {}

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def check(case):
            params = case.path_parameters or {}
            if "cluster" in params:
                params["cluster"] = "alpha"
            for name, value in list(params.items()):
                if name in ids and isinstance(value, int) and value % 2 == 0:
                    params[name] = ids[name]
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])
            calls[response.status_code] = calls.get(response.status_code, 0) + 1

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
        finally:
            db.session.rollback()

    print(f"{operations} operations, responses by status: {dict(sorted(calls.items()))}")
    assert operations >= 20, operations  # the document lists every endpoint
    assert not failures, "\n\n".join(f"{label}\n{why}" for label, why in failures.items())
