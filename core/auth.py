"""Accounts, passwords, tokens, login throttling and the one authorization gate."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, jsonify, make_response, redirect, request, url_for
from flask_login import LoginManager, current_user
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm import selectinload

from .database import db, utcnow
from .models import ROLE_RANK, ROLES, ApiToken, RoleAssignment, User

_hasher = PasswordHasher()
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only


def _current_hasher() -> PasswordHasher:
    from flask import has_app_context

    if has_app_context() and current_app.config.get("FAST_PASSWORD_HASHING"):
        return _fast_hasher
    return _hasher

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)
MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class Permission:
    """A permission a plugin checks: ``name`` (``<plugin>.<action>``) and the lowest role holding it."""

    name: str
    label: str
    role: str = "staff"

    def __post_init__(self):
        if self.role not in ROLE_RANK:
            raise ValueError(f"unknown role {self.role!r} for permission {self.name}")


def hash_password(password: str) -> str:
    return _current_hasher().hash(password)


_dummy_hashes: dict[int, str] = {}


def check_password(user: User | None, password: str) -> bool:
    """Verify a password; with ``user=None``, do the same work and return False."""
    if user is None:
        hasher = _current_hasher()
        if id(hasher) not in _dummy_hashes:
            _dummy_hashes[id(hasher)] = hasher.hash(secrets.token_hex(8))
        stored = _dummy_hashes[id(hasher)]
    else:
        stored = user.password_hash
    try:
        return _hasher.verify(stored, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def validate_new_password(password: str, email: str = "") -> str | None:
    """Return why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"at least {MIN_PASSWORD_LENGTH} characters"
    if email and password.lower() == email.lower():
        return "must differ from the e-mail address"
    return None


def create_user(email: str, password: str, *, name: str = "", federation_admin: bool = False,
                language: str = "") -> User:
    why = validate_new_password(password, email)
    if why:
        raise ValueError(f"password refused: {why}")
    user = User(email=email.strip().lower(), name=name, password_hash=hash_password(password),
                is_federation_admin=federation_admin, language=language)
    db.session.add(user)
    return user


def new_api_token(user: User, label: str = "") -> str:
    """Create a token; the clear value is returned once and never stored."""
    token = "grp_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), label=label))
    return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(token: str) -> User | None:
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked.is_(False))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    return row.user


# -- login throttling ---------------------------------------------------------
def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def register_failure(user: User) -> bool:
    """Count a failed attempt (atomically: several workers share the count); True when it locks."""
    db.session.execute(
        update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
        .execution_options(synchronize_session=False)
    )
    failures = db.session.execute(select(User.failed_logins).where(User.id == user.id)).scalar_one()
    set_committed_value(user, "failed_logins", failures)
    if failures < MAX_FAILED_LOGINS:
        return False
    user.locked_until = utcnow() + LOCKOUT
    user.failed_logins = 0
    return True


def register_success(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()


def login_test_client(client, user) -> None:
    """Sign a Flask test client in as ``user`` without a password (tests, the benchmark).

    Writes the session keys Flask-Login's "strong" protection checks, for the
    client's own address and user agent.
    """
    from flask_login.utils import _create_identifier

    with client.application.test_request_context(environ_base=client.environ_base):
        ident = _create_identifier()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
        sess["_id"] = ident


# -- Flask-Login ----------------------------------------------------------------
login_manager = LoginManager()
login_manager.login_view = "core.login"
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load_user(user_id: str):
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id), options=[selectinload(User.roles).lazyload(RoleAssignment.cluster)])
    return user if user and user.active else None


@login_manager.request_loader
def _load_user_from_token(req):
    header = req.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return user_for_token(header[7:].strip())
    return None


@login_manager.unauthorized_handler
def _unauthorized():
    if is_api_request():
        response = jsonify({"errors": {"_auth": ["Authentication required: send 'Authorization: Bearer <token>'."]}})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="grappe"'
        return response
    return redirect(url_for("core.login", next=request.full_path if request.query_string else request.path))


def is_api_request() -> bool:
    return request.path.startswith("/api/")


# -- view markers -------------------------------------------------------------------
def public(view):
    """Mark a view as open to anonymous visitors (a public registration page)."""
    view._grappe_public = True
    return view


def requires(permission: str):
    """Mark a view as needing a permission (``<plugin>.<action>``) in the current cluster."""

    def mark(view):
        view._grappe_permission = permission
        return view

    return mark


def role_for_permission(name: str) -> str:
    perms = current_app.extensions["grappe.permissions"]
    if name not in perms:
        raise LookupError(f"unknown permission {name!r}: no plugin declares it")
    return perms[name].role


def can(user, permission: str, cluster=None) -> bool:
    """Does ``user`` hold ``permission`` in ``cluster`` (default: the current one)?"""
    cluster = cluster or g.get("cluster")
    if user is None or not user.is_authenticated or cluster is None:
        return False
    return user.has_role(cluster.id, role_for_permission(permission))


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_request_access(view, cluster) -> None:
    """The authorization gate, run before every view; aborts with 401/403.

    Pages and API alike: public views pass; everyone else must be logged in; in a
    cluster, the user needs a role there: at least *viewer* for reading and *staff* for
    writing, or the role of the view's declared permission when it is higher.
    """
    if getattr(view, "_grappe_public", False):
        return
    if not current_user.is_authenticated:
        abort(make_response(current_app.login_manager.unauthorized()))
    if getattr(view, "_grappe_federation_admin", False) and not current_user.is_federation_admin:
        abort(403)
    if cluster is None:
        return
    role = current_user.role_in(cluster.id)
    if role is None:
        abort(403)
    needed = getattr(view, "_grappe_permission", None)
    needed_role = "viewer" if request.method in SAFE_METHODS else "staff"  # a viewer never writes
    if needed and ROLE_RANK[role_for_permission(needed)] > ROLE_RANK[needed_role]:
        needed_role = role_for_permission(needed)
    if ROLE_RANK[role] < ROLE_RANK[needed_role]:
        abort(403)


def federation_admin_required(view):
    view._grappe_federation_admin = True
    return view


__all__ = [
    "Permission", "ROLES", "public", "requires", "can", "hash_password", "check_password",
    "create_user", "new_api_token", "federation_admin_required",
]
