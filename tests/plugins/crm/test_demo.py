"""The CRM's demo data: valid records through the import, per-cluster memberships and visits."""

from __future__ import annotations

import random

from sqlalchemy import func, select

from core import db
from plugins.crm.demo import create_demo_data
from plugins.crm.models import Interaction, Membership, Organization, Person, Segment


def test_demo_data_for_the_clusters_running_the_crm(factory):
    with_crm = factory.cluster("plastics", modules=("crm",))
    without = factory.cluster("other", modules=())
    factory.user("manager@example.org", "manager", with_crm)
    create_demo_data([with_crm, without], random.Random(3), n_organizations=40, n_persons=70)

    def count(model, **where):
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return db.session.execute(stmt.execution_options(all_clusters=True)).scalar_one()

    assert count(Organization) == 40 and count(Person) == 70
    assert count(Membership, cluster_id=with_crm.id) > 10 and count(Membership, cluster_id=without.id) == 0
    assert count(Interaction, cluster_id=with_crm.id) == 90 and count(Interaction, cluster_id=without.id) == 0
    assert count(Segment, cluster_id=with_crm.id) == 2
    countries = set(db.session.execute(select(Organization.country)).scalars())
    assert countries == {"FR", "AT"}
