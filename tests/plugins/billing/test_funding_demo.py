"""The demo's third-party payers: a region co-funding the energy diagnostic, and its sales."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from core import db
from plugins.billing.models import FundingScheme, Sale


def test_the_demo_has_a_regional_payer_and_sales(app, factory, crm):
    from plugins.billing.demo import create_demo_data
    from plugins.crm.competences import find_or_create_competence  # test code: the CRM's internals are allowed

    cluster = factory.cluster("automotive", modules=("crm", "billing"))
    region = crm.organization("Région Auvergne-Rhône-Alpes", kind="public_body", sector="84.13", postcode="69002")
    for i, (name, postcode) in enumerate([("Martin", "69001"), ("Bernard", "38000"), ("Dubois", "42000"),
                                          ("Thomas", "74000"), ("Petit", "75001"), ("Durand", "01100")]):
        org = crm.organization(f"Atelier {name} SAS", size_band="10-49", postcode=postcode, sector="29.10")
        crm.membership(org, cluster, start=date(2020, 1, 1))
        crm.person(name, "Claire", organization=org)
    for name in ("Energy efficiency", "Lean manufacturing"):
        find_or_create_competence(name)
    db.session.commit()
    create_demo_data([cluster], random.Random(5))
    scheme = db.session.execute(select(FundingScheme).execution_options(all_clusters=True)).scalar_one()
    assert scheme.payer_id == region.id and scheme.share_rate == Decimal("50.00") and scheme.regions == ["ARA"]
    assert scheme.cap_per_beneficiary and scheme.envelope and scheme.counterpart
    sales = db.session.execute(select(Sale).execution_options(all_clusters=True)).scalars().all()
    funded = [s for s in sales if s.scheme_id == scheme.id]
    assert len(funded) >= 3 and all(s.payer_amount == s.full_amount / 2 for s in funded)
    assert scheme.envelope_used == sum(s.payer_amount for s in funded)
    assert all(s.payer_amount + s.beneficiary_amount == s.full_amount for s in sales)
    client = app.test_client(user=factory.user("boss@example.org", "manager", cluster))
    page = client.get(f"/automotive/billing/funding/{scheme.id}").get_data(as_text=True)
    assert "Atelier" in page and "What its money bought" in page
    assert client.get("/automotive/billing/sales/").status_code == 200
