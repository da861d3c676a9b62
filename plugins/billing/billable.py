"""What the cluster's other modules have to invoice: billing's hook ``billing_billable_items``
asked for one cluster (the plugins it has not enabled are skipped), one flat list."""

from __future__ import annotations

from datetime import date, datetime

from core import cluster_hooks


def billable_items(cluster, since: date | datetime, until: date | datetime) -> list[dict]:
    """Every enabled plugin's items to invoice over the period (see :mod:`.hookspecs` for their keys),
    by date then source and ``source_id``."""
    groups = cluster_hooks(cluster).billing_billable_items(cluster=cluster, since=since, until=until)
    items = [item for group in groups if group for item in group]
    return sorted(items, key=lambda i: (i["date"], i["source"], i["source_id"]))
