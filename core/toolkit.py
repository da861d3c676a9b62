"""Helpers the facade offers plugins for the current request's cluster."""

from __future__ import annotations

from typing import Any

from flask import current_app, g


def cluster_hooks():
    """Hook callers for the current cluster: plugins it has not enabled are skipped.

    ``cluster_hooks().grappe_timeline_entries(cluster=g.cluster, ...)``
    """
    host = current_app.extensions["grappe.host"]
    return host.hook_for(g.get("enabled_modules", frozenset()))


def cluster_setting(key: str, cluster=None, default: Any = None) -> Any:
    """A plugin's per-cluster setting (declared with ``grappe_cluster_settings``).

    Falls back to the declared default, then to ``default``.
    """
    from .database import db
    from .models import ClusterSetting

    cluster = cluster if cluster is not None else g.cluster
    row = db.session.get(ClusterSetting, (cluster.id, key))
    if row is not None:
        return row.value
    host = current_app.extensions["grappe.host"]
    for _, settings in host.call_each("grappe_cluster_settings"):
        for setting in settings:
            if setting.key == key:
                return setting.default
    return default
