"""A small world for the quotes and subscriptions tests: a cluster selling an energy diagnostic
(flat fee), a training (catalogue price per trainee) and an online listing (subscription), a
regional payer co-funding the diagnostic, a member company with a contact, a non-member.

Import the fixtures in a test module: ``from .quote_world import shop, acting_as  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from core import db

D_MEMBER = "1500.00"


@contextlib.contextmanager
def acting_as(cluster):
    """Run billing operations as a request of ``cluster`` runs them: scoped, committed at the end."""
    try:
        with db.for_cluster(cluster.id):
            yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model).execution_options(all_clusters=True)).scalar_one()


def committed(model) -> int:
    """Rows of a table as other connections see them (committed)."""
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


@dataclass
class Shop:
    cluster: object
    diagnostic: object  # flat fee 1500 members, 2400 non-members
    training: object  # catalogue 650 / 950 a trainee
    listing: object  # subscription 20 a month (members), 40 (non-members); 200 a year (members)
    monthly: object  # the listing's monthly price
    yearly: object  # the listing's yearly price
    region: object  # the payer of the scheme
    scheme: object  # 50 % of the diagnostic, envelope 10,000
    member: object  # a member SME in Lyon
    contact: object  # its contact, with an e-mail address
    guest: object  # a non-member


@pytest.fixture
def shop(app, cluster, billing, crm) -> Shop:
    diagnostic = billing.service(cluster, "Energy diagnostic", status="on_sale", code="DIAG")
    billing.price(diagnostic, "flat_fee", member_amount="1500", non_member_amount="2400", label="Diagnostic")
    training = billing.service(cluster, "Lean training", status="on_sale", code="LEAN")
    billing.price(training, "catalogue", unit="trainee", member_amount="650", non_member_amount="950", label="Seat")
    listing = billing.service(cluster, "Online directory listing", status="on_sale", code="LIST")
    monthly = billing.price(listing, "subscription", member_amount="20", non_member_amount="40", period="month",
                            renewal="automatic", label="Monthly")
    yearly = billing.price(listing, "subscription", member_amount="200", period="year", renewal="automatic",
                           label="Yearly")
    region = crm.organization("Région Auvergne-Rhône-Alpes", kind="public_body", postcode="69002", city="Lyon")
    scheme = billing.funding_scheme(cluster, region, [diagnostic], name="Regional energy scheme", share_rate="50",
                                    envelope="10000", reference="AURA-2026-17")
    member = crm.organization("Plastiques du Rhône", sector="22.29", size_band="10-49", postcode="69100",
                              city="Villeurbanne")
    crm.membership(member, cluster, start=date(2020, 1, 1))
    contact = crm.person("Martin", "Claire", organization=member, email="claire@plastiques.example")
    guest = crm.organization("Alpes Mécanique", sector="29.10", size_band="50-249", postcode="38000")
    db.session.commit()
    return Shop(cluster=cluster, diagnostic=diagnostic, training=training, listing=listing, monthly=monthly,
                yearly=yearly, region=region, scheme=scheme, member=member, contact=contact, guest=guest)
