"""The facade's helpers for the current cluster: hook callers and settings."""

from flask import g
from wtforms import IntegerField

from core import Setting, cluster_hooks, cluster_setting, db, hookimpl
from core.models import ClusterSetting
from core.testing import Factory, make_test_app, truncate_all

from .fakeplugins import make_plugin


def _settings_plugin():
    @hookimpl
    def grappe_cluster_settings():
        return [Setting("alpha.seats", "Default seats", lambda: IntegerField("Default seats"), default=12)]

    return make_plugin("alpha", hooks={"grappe_cluster_settings": grappe_cluster_settings})


def test_cluster_setting_falls_back_to_declared_default(_schema, instance_path):
    app = make_test_app(_schema, instance_path, plugins=[_settings_plugin()])
    with app.app_context():
        truncate_all()
        cluster = Factory(app).cluster("one", modules=("alpha",))
        assert cluster_setting("alpha.seats", cluster) == 12
        assert cluster_setting("alpha.unknown", cluster, default="x") == "x"
        db.session.add(ClusterSetting(cluster_id=cluster.id, key="alpha.seats", value=30))
        db.session.commit()
        assert cluster_setting("alpha.seats", cluster) == 30


def test_cluster_hooks_skip_disabled_plugins(_schema, instance_path):
    plugin = make_plugin("alpha")
    app = make_test_app(_schema, instance_path, plugins=[plugin])
    with app.app_context():
        truncate_all()
        cluster = Factory(app).cluster("one", modules=())
        with app.test_request_context():
            g.cluster, g.enabled_modules = cluster, frozenset()
            results = cluster_hooks().grappe_dashboard_widgets(cluster=cluster, user=None)
            assert all("Alpha" not in str(w.title) for group in results for w in group)
            g.enabled_modules = frozenset({"alpha"})
            results = cluster_hooks().grappe_dashboard_widgets(cluster=cluster, user=None)
            assert any("Alpha" in str(w.title) for group in results for w in group)
