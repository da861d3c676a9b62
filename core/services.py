"""Core business operations shared by the pages, the API and the CLI: clusters and accounts.

Operations flush at most; the caller (the request, the command) commits.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from .audit import record
from .auth import hash_password, validate_new_password
from .database import db
from .lookups import user_by_email
from .models import ROLES, ApiToken, Cluster, RoleAssignment, User

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
# first URL segments the app's own routes take (sign-in, administration, the API, static files...)
RESERVED_SLUGS = frozenset({"login", "logout", "admin", "api", "static", "account", "healthz"})


# -- clusters --------------------------------------------------------------------
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


# -- accounts --------------------------------------------------------------------
class AccountError(ValueError):
    """An account operation refused; the message says why."""


def new_account_email(email: str) -> str:
    """``email`` normalized (lowercase) for a new account; AccountError when invalid or taken."""
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"invalid e-mail: {exc}") from None
    if user_by_email(email) is not None:
        raise AccountError(f"an account with {email} exists already")
    return email


def create_user(email: str, password: str, *, name: str = "", federation_admin: bool = False,
                language: str = "") -> User:
    """Add an account (flushed: it has its id); AccountError when the e-mail or password is refused."""
    email = new_account_email(email)
    why = validate_new_password(password, email)
    if why:
        raise AccountError(f"password refused: {why}")
    user = User(email=email, name=name, password_hash=hash_password(password),
                is_federation_admin=federation_admin, language=language)
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Give ``user`` a new password (checked by the caller's form), audited."""
    user.password_hash = hash_password(password)
    record("password_change", object_type="core.user", object_id=user.id, summary=user.email)


def grant_role(user: User, cluster: Cluster, role: str) -> RoleAssignment:
    """Give ``user`` this role in ``cluster`` (replacing the role they had there)."""
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


def remove_role(user: User, cluster: Cluster) -> None:
    """Take away ``user``'s access to ``cluster`` (nothing to do without one)."""
    assignment = db.session.get(RoleAssignment, (user.id, cluster.id))
    if assignment is not None:
        if assignment in user.roles:
            user.roles.remove(assignment)
        db.session.delete(assignment)


def set_active(user: User, active: bool) -> None:
    """Close (``active=False``) or reopen an account: a closed one cannot sign in and its tokens
    stop working; nothing is deleted."""
    user.active = active


def revoke_tokens(user: User, token_id: int | None = None) -> int:
    """Revoke ``user``'s active API tokens (or only ``token_id``), audited; how many were revoked.

    AccountError when ``token_id`` is not an active token of ``user``.
    """
    stmt = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
    if token_id is not None:
        stmt = stmt.where(ApiToken.id == token_id)
    tokens = db.session.execute(stmt).scalars().all()
    if token_id is not None and not tokens:
        raise AccountError(f"{user.email} has no active token {token_id}")
    for token in tokens:
        token.revoked = True
    record("token_revoke", object_type="core.user", object_id=user.id,
           summary=f"{len(tokens)} API token(s) of {user.email} revoked")
    return len(tokens)
