"""Helpers the facade offers plugins for the current request's cluster."""

from __future__ import annotations

from typing import Any

from flask import current_app, g


def cluster_hooks(cluster=None):
    """Hook callers for a cluster: plugins it has not enabled are skipped.

    The one way to call a hook for a cluster: ``cluster_hooks().grappe_timeline_entries(
    cluster=g.cluster, ...)`` in a request (the request's cluster), ``cluster_hooks(cluster)``
    in a job or a command.  (Hooks of the whole platform, called while the app is built,
    are the core's business.)
    """
    host = current_app.extensions["grappe.host"]
    if cluster is None or (g.get("cluster") is not None and g.cluster.id == cluster.id
                           and "enabled_modules" in g):
        return host.hook_for(g.get("enabled_modules", frozenset()))
    from .modules import enabled_modules

    return host.hook_for(enabled_modules(cluster))


def get_or_404(model, ident, message: str | None = None, **criteria):
    """The row of ``model`` with this primary key, as the current cluster may see it, or a 404.

    ``criteria`` (column=value) must hold too: ``get_or_404(Job, job_id, name="crm.import")``.

    A scoped ``SELECT`` (never the identity map, which may hold a row another query read
    across clusters): a cluster-owned row of another cluster is not found.  In the API the
    404 is ``{"errors": {"_": ["Not found."]}}`` (or ``message``); on a page, the error page.
    """
    from flask import abort
    from sqlalchemy import inspect as sa_inspect, select

    from .auth import is_api_request
    from .database import db

    (key,) = sa_inspect(model).primary_key
    obj = db.session.execute(select(model).where(key == ident).filter_by(**criteria)).scalar_one_or_none()
    if obj is None:
        if is_api_request():
            from .api import ApiError

            raise ApiError({"_": [message or "Not found."]}, 404)
        abort(404)
    return obj


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


def today():
    """Today's date for the current cluster (its time zone); outside a cluster, in UTC.

    What a plugin uses instead of ``date.today()``, which is the server's calendar."""
    cluster = g.get("cluster")
    if cluster is not None:
        return cluster.today()
    from .database import utcnow

    return utcnow().date()
