"""Purging a module's data for one cluster: separate from disabling, explicit, confirmed.

Disabling a module never deletes anything.  Purging deletes the cluster's rows in
the module's cluster-owned tables (those named ``<module>_...`` with a ``cluster_id``
column), children first, in one transaction; federation-wide rows are never touched.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import delete

from .audit import record
from .database import Base, db
from .models import Cluster


class PurgeError(Exception):
    """A purge the rules refuse; the message says why."""


def purgeable_tables(module: str):
    """The module's cluster-owned tables, children before parents."""
    return [t for t in reversed(Base.metadata.sorted_tables)
            if t.name.startswith(f"{module}_") and "cluster_id" in t.c]


def purge(cluster: Cluster, module: str, confirm: str) -> dict[str, int]:
    """Delete a disabled module's data for a cluster; ``confirm`` must be the cluster's slug."""
    host = current_app.extensions["grappe.host"]
    if host.plugins.get(module) is None:
        raise PurgeError(f"unknown module '{module}'")
    if cluster.has_module(module):
        raise PurgeError(f"disable {module} for {cluster.slug} before purging its data")
    if confirm != cluster.slug:
        raise PurgeError(f"type the cluster's slug '{cluster.slug}' to confirm the purge")
    counts: dict[str, int] = {}
    session = db.session
    for table in purgeable_tables(module):
        result = session.execute(delete(table).where(table.c.cluster_id == cluster.id))
        counts[table.name] = result.rowcount or 0
    record("module_purge", cluster_id=cluster.id, object_type="core.cluster", object_id=cluster.id,
           summary=f"{module} data purged for {cluster.slug}: {sum(counts.values())} rows",
           changes={name: [n, 0] for name, n in counts.items() if n})
    session.commit()
    return counts
