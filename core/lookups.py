"""The core's records as plugins read them: clusters, users, jobs.

Plugins call these instead of querying the core's models (``Cluster``, ``User``,
``RoleAssignment``, ``Job``), so the core's tables can change behind the facade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from .database import db
from .models import Cluster, Job, RoleAssignment, User
from .toolkit import get_or_404

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session


def cluster_by_id(cluster_id: int, *, session: Session | None = None) -> Cluster | None:
    """The cluster with this id, or None (``session``: a job's own session, default ``db.session``)."""
    return (session or db.session).get(Cluster, cluster_id)


def cluster_by_slug(slug: str) -> Cluster | None:
    """The cluster with this slug, or None."""
    return db.session.execute(select(Cluster).where(Cluster.slug == slug)).scalar_one_or_none()


def clusters_with(module: str) -> list[Cluster]:
    """The clusters that have enabled ``module``, by slug."""
    clusters = db.session.execute(select(Cluster).order_by(Cluster.slug)).scalars()
    return [c for c in clusters if c.has_module(module)]


def cluster_slugs() -> dict[int, str]:
    """``{cluster id: slug}`` of every cluster (to show where cluster-owned rows belong)."""
    return dict(db.session.execute(select(Cluster.id, Cluster.slug)).all())


def user_by_email(email: str) -> User | None:
    """The account with this e-mail (any case), or None."""
    return db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()


def user_name(user_id: int | None) -> str | None:
    """What to show for a user: their name, else their e-mail; None without such a user."""
    user = db.session.get(User, user_id) if user_id is not None else None
    return user.display_name if user is not None else None


def federation_admin_ids() -> list[int]:
    """The ids of the active federation admins, in account order."""
    return list(db.session.execute(select(User.id).where(User.is_federation_admin.is_(True), User.active.is_(True))
                                   .order_by(User.id)).scalars())


@dataclass(frozen=True)
class ClusterUser:
    """An active account with a role in a cluster."""

    id: int
    name: str
    email: str
    role: str

    @property
    def label(self) -> str:
        return self.name or self.email


def cluster_users(cluster_id: int, roles: Iterable[str] | None = None) -> list[ClusterUser]:
    """The active accounts with a role in the cluster (only these ``roles``, if given), by name."""
    stmt = (select(User.id, User.name, User.email, RoleAssignment.role)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(RoleAssignment.cluster_id == cluster_id, User.active.is_(True))
            .order_by(User.name, User.email))
    if roles is not None:
        stmt = stmt.where(RoleAssignment.role.in_(list(roles)))
    return [ClusterUser(*row) for row in db.session.execute(stmt)]


def job_or_404(job_id: int, name: str | None = None) -> Job:
    """The current cluster's job with this id (and this job name, when given), or a 404
    (a job of another cluster, or another kind of job, is not found)."""
    return get_or_404(Job, job_id, **({"name": name} if name else {}))
