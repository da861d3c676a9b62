"""Which modules each cluster has enabled, seen at once by every process.

The table ``core_cluster_module`` is the truth.  Every change bumps the counter
``modules`` in ``core_counter``; each process keeps a map ``cluster_id -> modules``
and re-reads it when, at the start of a request, the counter differs from the one
it cached (one primary-key read per request).
"""

from __future__ import annotations

import threading

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from .database import db
from .models import Cluster, ClusterModule, Counter

COUNTER = "modules"


class ModuleError(Exception):
    """An enable/disable request that the rules refuse; the message says why."""


class ModuleCache:
    """Per-process cache of enabled modules, invalidated by the database counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._enabled: dict[int, frozenset[str]] = {}

    def enabled(self, cluster_id: int, version: int | None = None) -> frozenset[str]:
        """The modules of a cluster; ``version`` is the counter if the caller read it already."""
        if version is None:
            version = db.session.execute(
                select(Counter.value).where(Counter.name == COUNTER)
            ).scalar_one_or_none() or 0
        if version != self._version:
            rows = db.session.execute(select(ClusterModule.cluster_id, ClusterModule.module)).all()
            enabled: dict[int, set[str]] = {}
            for cid, module in rows:
                enabled.setdefault(cid, set()).add(module)
            with self._lock:
                self._enabled = {cid: frozenset(mods) for cid, mods in enabled.items()}
                self._version = version
        return self._enabled.get(cluster_id, frozenset())


def _host():
    return current_app.extensions["grappe.host"]


def bump_version(session) -> None:
    """Tell every process the module table changed (in the caller's transaction)."""
    updated = session.execute(
        update(Counter).where(Counter.name == COUNTER).values(value=Counter.value + 1)
    ).rowcount
    if not updated:
        session.add(Counter(name=COUNTER, value=1))


def modules_version_subquery():
    """The module-table version as a scalar subquery (to read it with another query)."""
    return select(Counter.value).where(Counter.name == COUNTER).scalar_subquery()


def enabled_modules(cluster: Cluster, version: int | None = None) -> frozenset[str]:
    """The modules enabled for a cluster that are also loaded (not broken).

    :param version: the module counter, when the caller read it in its own query.
    """
    host = _host()
    return frozenset(m for m in current_app.extensions["grappe.modules"].enabled(cluster.id, version) if host.get(m))


def enable(cluster: Cluster, names: list[str], *, with_dependencies: bool = True) -> list[str]:
    """Enable modules (and what they depend on); return the modules newly enabled."""
    from .audit import record

    host = _host()
    wanted: list[str] = []
    for name in names:
        info = host.plugins.get(name)
        if info is None:
            raise ModuleError(_("Unknown module '%(name)s'.", name=name))
        if info.broken:
            raise ModuleError(_("Module '%(name)s' is broken: %(why)s", name=name, why=info.error))
        for needed in host.requirements(name):
            if needed not in wanted:
                wanted.append(needed)
    current = {m.module for m in cluster.modules}
    missing = [n for n in wanted if n not in current]
    implicit = [n for n in missing if n not in names]
    if implicit and not with_dependencies:
        raise ModuleError(
            _("Enabling %(names)s needs %(deps)s first.", names=", ".join(names), deps=", ".join(implicit))
        )
    for name in missing:
        cluster.modules.append(ClusterModule(module=name))
        record("module_enable", cluster_id=cluster.id, object_type="core.cluster",
               object_id=cluster.id, summary=f"{name} enabled for {cluster.slug}")
    if missing:
        bump_version(db.session)
    db.session.commit()
    for name in missing:
        host.hook.grappe_module_toggled(cluster=cluster, module=name, enabled=True)
    return missing


def disable(cluster: Cluster, name: str) -> None:
    """Disable a module for a cluster; refused while an enabled module depends on it.

    Nothing is deleted: the module's data reappears when it is enabled again.
    """
    from .audit import record

    host = _host()
    row = next((m for m in cluster.modules if m.module == name), None)
    if row is None:
        raise ModuleError(_("Module '%(name)s' is not enabled for %(cluster)s.", name=name, cluster=cluster.slug))
    current = {m.module for m in cluster.modules}
    blockers = [d for d in host.dependents(name) if d in current]
    if blockers:
        raise ModuleError(
            _("Cannot disable %(name)s: %(blockers)s depend on it and are enabled; disable them first.",
              name=name, blockers=", ".join(blockers))
        )
    cluster.modules.remove(row)
    record("module_disable", cluster_id=cluster.id, object_type="core.cluster",
           object_id=cluster.id, summary=f"{name} disabled for {cluster.slug}")
    bump_version(db.session)
    db.session.commit()
    host.hook.grappe_module_toggled(cluster=cluster, module=name, enabled=False)
