"""Core business operations shared by the pages, the API and the CLI."""

from __future__ import annotations

import re

from sqlalchemy import select

from .database import db
from .models import ROLES, Cluster, RoleAssignment, User

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
# first URL segments the app's own routes take (sign-in, administration, the API, static files...)
RESERVED_SLUGS = frozenset({"login", "logout", "admin", "api", "static", "account", "healthz"})


class ClusterError(ValueError):
    """A cluster that cannot be created as asked; the message says why."""


def create_cluster(slug: str, name: str, **profile) -> Cluster:
    """Add a cluster (the caller commits)."""
    if not SLUG_PATTERN.match(slug or ""):
        raise ClusterError(f"invalid slug '{slug}': 3 to 40 lowercase letters, digits or dashes")
    if slug in RESERVED_SLUGS:
        raise ClusterError(f"the slug '{slug}' is reserved")
    if db.session.execute(select(Cluster.id).where(Cluster.slug == slug)).first():
        raise ClusterError(f"a cluster with the slug '{slug}' already exists")
    cluster = Cluster(slug=slug, name=name, **{k: v for k, v in profile.items() if v not in (None, "")})
    db.session.add(cluster)
    db.session.flush()
    return cluster


def grant_role(user: User, cluster: Cluster, role: str) -> RoleAssignment:
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(ROLES)})")
    assignment = db.session.get(RoleAssignment, (user.id, cluster.id))
    if assignment is None:
        assignment = RoleAssignment(user_id=user.id, cluster_id=cluster.id, role=role)
        db.session.add(assignment)
        user.roles.append(assignment)
    else:
        assignment.role = role
    return assignment
