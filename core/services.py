"""Core business operations shared by the pages, the API and the CLI: clusters and accounts.

Operations flush at most; the caller (the request, the command) commits.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from .audit import record
from .auth import GRANT_MIN_ROLE, Permission, forget_grants, hash_password, validate_new_password
from .database import db
from .lookups import user_by_email
from .models import ROLE_RANK, ROLES, ApiToken, Cluster, PermissionGrant, RoleAssignment, User

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
    """Take away ``user``'s access to ``cluster`` (nothing to do without one), and the
    permissions granted to them there (each revocation audited): a grant adds to a
    membership, so someone given access again later starts without forgotten extra rights."""
    assignment = db.session.get(RoleAssignment, (user.id, cluster.id))
    if assignment is not None:
        if assignment in user.roles:
            user.roles.remove(assignment)
        db.session.delete(assignment)
    for grant in permission_grants(cluster, user):
        _delete_grant(grant, user, cluster, "access to the cluster removed")


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


# -- permissions granted one by one --------------------------------------------------------
class GrantError(ValueError):
    """A grant or a revocation refused; the message says why, ``field`` which input is wrong
    (``"email"``: the user, ``"permission"``)."""

    def __init__(self, message: str, field: str = "permission"):
        super().__init__(message)
        self.field = field


def grantable_permissions(cluster: Cluster) -> list[Permission]:
    """The permissions a cluster admin may grant in ``cluster``: declared ``grantable``, held
    by a role above staff (staff hold the others already), of the core or of a module
    enabled for the cluster; sorted by name."""
    from .modules import enabled_modules

    enabled = enabled_modules(cluster)
    return sorted((p for p in current_app.extensions["grappe.permissions"].values()
                   if p.grantable and ROLE_RANK[p.role] > ROLE_RANK[GRANT_MIN_ROLE]
                   and (p.name.partition(".")[0] == "core" or p.name.partition(".")[0] in enabled)),
                  key=lambda p: p.name)


def permission_grants(cluster: Cluster, user: User | None = None) -> list[PermissionGrant]:
    """The grants of a cluster (or of one user there), in force or not, by user then permission."""
    stmt = select(PermissionGrant).where(PermissionGrant.cluster_id == cluster.id)
    if user is not None:
        stmt = stmt.where(PermissionGrant.user_id == user.id)
    stmt = stmt.order_by(PermissionGrant.user_id, PermissionGrant.permission)
    return list(db.session.execute(stmt.execution_options(all_clusters=True)).scalars())


def _grant_of(user: User, cluster: Cluster, permission: str) -> PermissionGrant | None:
    return db.session.execute(
        select(PermissionGrant).where(PermissionGrant.cluster_id == cluster.id, PermissionGrant.user_id == user.id,
                                      PermissionGrant.permission == permission)
        .execution_options(all_clusters=True)
    ).scalar_one_or_none()


def grant_permission(user: User, cluster: Cluster, permission: str, *,
                     granted_by: User | None = None) -> PermissionGrant:
    """Grant ``permission`` to ``user`` in ``cluster`` on top of their role, audited
    (``permission_grant``).  Flushed; the caller commits.

    GrantError (its ``field`` says which input) when the permission is unknown, not
    grantable or of a module not enabled for the cluster, when the user has no role of at
    least staff there, already holds the permission through their role, or has this grant.
    Who may grant is the caller's check (the pages: cluster admins; the CLI: the operator).
    """
    declared = current_app.extensions["grappe.permissions"].get(permission)
    if declared is None:
        raise GrantError(_("Unknown permission '%(name)s': no installed module declares it.", name=permission))
    if not declared.grantable:
        raise GrantError(_("The permission '%(name)s' cannot be granted on its own: it comes with the %(role)s "
                           "role only.", name=permission, role=declared.role))
    if permission not in {p.name for p in grantable_permissions(cluster)}:
        if ROLE_RANK[declared.role] <= ROLE_RANK[GRANT_MIN_ROLE]:
            raise GrantError(_("Every staff member holds '%(name)s' already: there is nothing to grant.",
                               name=permission))
        raise GrantError(_("The module of '%(name)s' is not enabled for this cluster.", name=permission))
    role = user.role_in(cluster.id)
    if role is None or ROLE_RANK[role] < ROLE_RANK[GRANT_MIN_ROLE]:
        raise GrantError(_("%(email)s needs at least the staff role in this cluster to receive an extra right "
                           "(their role: %(role)s).", email=user.email, role=role or _("no access")), "email")
    if ROLE_RANK[role] >= ROLE_RANK[declared.role]:
        raise GrantError(_("%(email)s holds '%(name)s' already through their role (%(role)s).",
                           email=user.email, name=permission, role=role))
    if _grant_of(user, cluster, permission) is not None:
        raise GrantError(_("%(email)s has the extra right '%(name)s' already.", email=user.email, name=permission))
    grant = PermissionGrant(cluster_id=cluster.id, user_id=user.id, permission=permission,
                            granted_by_id=granted_by.id if granted_by is not None else None)
    db.session.add(grant)
    db.session.flush()
    record("permission_grant", cluster_id=cluster.id, object_type="core.user", object_id=user.id,
           summary=f"{user.email}: {permission} granted in {cluster.slug} (role {role})",
           changes={"permission": [None, permission]})
    forget_grants()
    return grant


def _delete_grant(grant: PermissionGrant, user: User, cluster: Cluster, why: str = "") -> None:
    db.session.delete(grant)
    record("permission_revoke", cluster_id=cluster.id, object_type="core.user", object_id=user.id,
           summary=f"{user.email}: {grant.permission} revoked in {cluster.slug}" + (f" ({why})" if why else ""),
           changes={"permission": [grant.permission, None]})
    forget_grants()


def revoke_permission(user: User, cluster: Cluster, permission: str) -> None:
    """Take back a permission granted to ``user`` in ``cluster``, audited (``permission_revoke``).

    Works on any grant, in force or inert (a module disabled or uninstalled since).
    GrantError when the user has no such grant there.
    """
    grant = _grant_of(user, cluster, permission)
    if grant is None:
        raise GrantError(_("%(email)s has no extra right '%(name)s' in this cluster.",
                           email=user.email, name=permission))
    _delete_grant(grant, user, cluster)
    db.session.flush()
