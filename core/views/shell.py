"""What the layout of every page shows: the cluster's menu, the user's clusters and role."""

from __future__ import annotations

from flask import g
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import lazyload, selectinload

from .. import auth
from ..database import db
from ..models import ROLES, Cluster, RoleAssignment
from ..toolkit import cluster_hooks


def shell_context() -> dict:
    """The template context of the layout (the app's context processor)."""
    cluster = g.get("cluster")
    ctx: dict = {"current_cluster": cluster, "role_names": ROLES}
    if not current_user or not current_user.is_authenticated:
        return ctx
    ctx["my_clusters"] = my_clusters()
    if cluster is not None:
        items = [i for group in cluster_hooks().grappe_nav_items(cluster=cluster, user=current_user) for i in group]
        ctx["nav_items"] = sorted(
            (i for i in items if i.permission is None or auth.can(current_user, i.permission, cluster)),
            key=lambda i: (i.order, str(i.label)),
        )
        ctx["my_role"] = current_user.role_in(cluster.id)
    return ctx


def my_clusters(with_modules: bool = False) -> list[Cluster]:
    """The clusters the user works in (cached for the request); ``with_modules`` loads their modules."""
    if "my_clusters" not in g:
        stmt = select(Cluster).order_by(Cluster.name).options(
            selectinload(Cluster.modules) if with_modules else lazyload(Cluster.modules))
        if not current_user.is_federation_admin:
            stmt = stmt.join(RoleAssignment, RoleAssignment.cluster_id == Cluster.id).where(
                RoleAssignment.user_id == current_user.id)
        g.my_clusters = db.session.execute(stmt).scalars().all()
    return g.my_clusters
