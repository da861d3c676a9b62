"""Fixtures for the billing tests: two clusters running billing, users of each role, the CRM's
and billing's record factories (``plugins.crm.testing``, ``plugins.billing.testing``)."""

from __future__ import annotations

import pytest

from core import db
from core.testing import new_api_token
from plugins.billing.testing import billing  # noqa: F401  (the fixture: billing.service(...), billing.price(...))
from plugins.crm.testing import crm  # noqa: F401  (the fixture: crm.organization(...), crm.membership(...))


@pytest.fixture
def cluster(factory):
    return factory.cluster("alpha", modules=("crm", "billing"), name="Alpha Cluster")


@pytest.fixture
def other_cluster(factory):
    return factory.cluster("beta", modules=("crm", "billing"), name="Beta Cluster")


@pytest.fixture
def manager(factory, cluster):
    return factory.user("manager@example.org", "manager", cluster, name="Mia Manager")


@pytest.fixture
def staff(factory, cluster):
    return factory.user("staff@example.org", "staff", cluster, name="Sam Staff")


@pytest.fixture
def viewer(factory, cluster):
    return factory.user("viewer@example.org", "viewer", cluster, name="Val Viewer")


@pytest.fixture
def manager_client(app, manager):
    return app.test_client(user=manager)


@pytest.fixture
def api(app, manager):
    """The billing API of cluster alpha, as its manager: ``api.get("/services")``."""
    return api_client(app, manager)


def api_client(app, user, slug="alpha"):
    token = new_api_token(user)
    db.session.commit()
    client = app.test_client()

    class Api:
        def __getattr__(self, method):
            def call(path, **kwargs):
                kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {token}"
                return getattr(client, method)(f"/api/v1/{slug}/billing{path}", **kwargs)
            return call

    return Api()
