"""A small world for the funding and sales tests: a cluster selling an energy diagnostic and a
training, a regional payer, members and non-members in and out of the region.

Import the fixture in a test module: ``from .funding_world import world  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from core import db
from core.models import Cluster
from plugins.billing.models import FundingScheme, Sale

ON = date(2026, 3, 2)


@dataclass
class World:
    cluster: object
    diagnostic: object  # flat fee 1500 members, 2400 non-members
    training: object  # catalogue 650 / 950 a trainee
    region: object  # the payer
    member: object  # a member SME in Lyon (69)
    guest: object  # a non-member in Grenoble (38)
    linz: object  # an Austrian member
    billing: object
    crm: object

    def scheme(self, **fields) -> FundingScheme:
        fields.setdefault("services", [self.diagnostic])
        services = fields.pop("services")
        return self.billing.funding_scheme(self.cluster, self.region, services, **fields)

    def sale(self, organization=None, **arguments) -> Sale:
        arguments.setdefault("service", self.diagnostic)
        service = arguments.pop("service")
        return self.billing.sale(service, organization or self.member, **arguments)


@pytest.fixture
def world(app, cluster, billing, crm) -> World:
    diagnostic = billing.service(cluster, "Energy diagnostic", status="on_sale", code="DIAG", planned_volume=20)
    billing.step(diagnostic, "Site visit", staff_hours="10", external_fees="600")  # 1200 a unit
    billing.price(diagnostic, "flat_fee", member_amount="1500", non_member_amount="2400", label="Diagnostic")
    training = billing.service(cluster, "Lean training", status="on_sale", code="LEAN")
    billing.price(training, "catalogue", unit="trainee", member_amount="650", non_member_amount="950")
    region = crm.organization("Région Auvergne-Rhône-Alpes", kind="public_body", sector="84.13", postcode="69002",
                              city="Lyon")
    member = crm.organization("Plastiques du Rhône", sector="22.29", size_band="10-49", postcode="69100",
                              city="Villeurbanne")
    crm.membership(member, cluster, start=date(2020, 1, 1))
    guest = crm.organization("Alpes Mécanique", sector="29.10", size_band="50-249", postcode="38000", city="Grenoble")
    linz = crm.organization("Linzer Kunststoff GmbH", sector="22.29", size_band="10-49", postcode="4020", city="Linz",
                            country="AT")
    crm.membership(linz, cluster, start=date(2020, 1, 1))
    return World(cluster=cluster, diagnostic=diagnostic, training=training, region=region, member=member,
                 guest=guest, linz=linz, billing=billing, crm=crm)


@contextlib.contextmanager
def acting_as(cluster_id: int):
    """Run operations as a request of the cluster runs them: scoped, committed at the end, rolled
    back on an error."""
    try:
        with db.for_cluster(cluster_id):
            yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def concurrent(app, cluster_id: int, jobs: list, fn) -> tuple[list, list]:
    """``fn(job)`` in one thread per job, all at once, each as a request of the cluster (its own
    app context and session, scoped, committed at the end)."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [], []
    lock = threading.Lock()

    def worker(job):
        with app.app_context():
            db.session.get(Cluster, cluster_id)
            db.session.commit()  # give the connection back while waiting at the barrier
            try:
                barrier.wait(timeout=30)
                with acting_as(cluster_id):
                    out = fn(job)
            except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    results.append(out)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return results, errors


def all_sales() -> list[Sale]:
    db.session.expire_all()
    return list(db.session.execute(select(Sale).order_by(Sale.id).execution_options(all_clusters=True)).scalars())


def count_sales() -> int:
    return db.session.execute(select(func.count()).select_from(Sale).execution_options(all_clusters=True)).scalar_one()


def fresh_scheme(scheme_id: int) -> FundingScheme:
    db.session.expire_all()
    return db.session.execute(select(FundingScheme).where(FundingScheme.id == scheme_id)
                              .execution_options(all_clusters=True)).scalar_one()
