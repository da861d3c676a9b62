"""Purging is separate from disabling, explicit and confirmed."""

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from core import Base, ClusterScoped, Manifest, db, hookimpl
from core.models import AuditEntry
from core.modules import disable, enable
from core.purge import PurgeError, purge


class PurgeFakeItem(ClusterScoped, Base):
    __tablename__ = "purgefake_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))


class PurgeFakePlugin:
    manifest = Manifest(name="purgefake", version="1", label="Purge fake")

    @staticmethod
    @hookimpl
    def grappe_permissions():
        return []


@pytest.fixture
def purge_app(_schema, instance_path):
    import sys
    import types

    from core.testing import make_test_app, truncate_all

    mod = types.ModuleType("purgefake_plugin")
    mod.manifest = PurgeFakePlugin.manifest
    mod.grappe_permissions = PurgeFakePlugin.grappe_permissions
    sys.modules[mod.__name__] = mod
    app = make_test_app(_schema, instance_path, plugins=[mod])
    with app.app_context():
        truncate_all()
        PurgeFakeItem.__table__.create(db.engine, checkfirst=True)
        yield app
        db.session.rollback()
        PurgeFakeItem.__table__.drop(db.engine, checkfirst=True)
    del sys.modules[mod.__name__]


def _count(cluster_id):
    return db.session.execute(
        select(func.count()).select_from(PurgeFakeItem).where(PurgeFakeItem.cluster_id == cluster_id)
        .execution_options(all_clusters=True)
    ).scalar_one()


def test_purge_deletes_only_that_clusters_rows_after_disable_and_confirmation(purge_app):
    from core.testing import Factory

    f = Factory(purge_app)
    one = f.cluster("one", modules=("purgefake",))
    two = f.cluster("two", modules=("purgefake",))
    db.session.add_all([PurgeFakeItem(cluster_id=one.id, title="a"), PurgeFakeItem(cluster_id=one.id, title="b"),
                        PurgeFakeItem(cluster_id=two.id, title="c")])
    db.session.commit()
    with pytest.raises(PurgeError, match="disable"):
        purge(one, "purgefake", "one")
    disable(one, "purgefake")
    assert _count(one.id) == 2  # disabling deletes nothing
    with pytest.raises(PurgeError, match="slug"):
        purge(one, "purgefake", "wrong")
    assert _count(one.id) == 2
    counts = purge(one, "purgefake", "one")
    assert counts == {"purgefake_item": 2}
    assert _count(one.id) == 0 and _count(two.id) == 1
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "module_purge")).scalar_one()
    assert entry.cluster_id == one.id


def test_purge_unknown_module(app, factory):
    cluster = factory.cluster("one", modules=())
    with pytest.raises(PurgeError, match="unknown"):
        purge(cluster, "nope", "one")


def test_purge_page_needs_admin_and_confirmation(app, factory):
    cluster = factory.cluster("one", modules=())
    staff = factory.user("s@example.org", "staff", cluster)
    admin = factory.user("a@example.org", "admin", cluster)
    assert app.test_client(user=staff).post("/one/admin/purge", data={"module": "x", "confirm": "one"}).status_code == 403
    r = app.test_client(user=admin).post("/one/admin/purge", data={"module": "nope", "confirm": "one"}, follow_redirects=True)
    assert r.status_code == 200
    assert "unknown module" in r.get_data(as_text=True)
