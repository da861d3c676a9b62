"""Fixtures for the CRM tests: a cluster with the CRM, users, and record factories.

The record factories are the ones every plugin depending on the CRM uses:
``plugins.crm.testing`` (the ``crm`` fixture), documented in docs/reference.md.
"""

from __future__ import annotations

import pytest

from plugins.crm.testing import crm  # noqa: F401  (the fixture: crm.organization(...), crm.person(...)...)


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
