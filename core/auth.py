"""Accounts, passwords, tokens, login throttling and the one authorization gate."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    abort, current_app, g, has_app_context, has_request_context, jsonify, make_response, redirect, request, url_for,
)
from flask_login import LoginManager, current_user
from sqlalchemy import and_, case, delete, literal, or_, select, update
from sqlalchemy.orm import selectinload

from .audit import record
from .database import UTCDateTime, db, utcnow
from .models import ROLE_RANK, ROLES, ApiToken, LoginThrottle, PermissionGrant, RoleAssignment, User

_hasher = PasswordHasher()


def _current_hasher() -> PasswordHasher:
    """The app's ``app.extensions["grappe.password_hasher"]`` if it has one, else argon2's defaults.

    (Test apps set a fast one: :func:`core.testing.use_fast_password_hashing`.)
    """
    if has_app_context():
        return current_app.extensions.get("grappe.password_hasher", _hasher)
    return _hasher

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class Permission:
    """A permission a plugin checks: ``name`` (``<plugin>.<action>``) and the lowest role holding it.

    ``grantable`` (default True): a cluster admin may also grant it to one staff member
    whose role is lower (a :class:`core.models.PermissionGrant`); False keeps it to the role.
    """

    name: str
    label: str
    role: str = "staff"
    grantable: bool = True

    def __post_init__(self):
        if self.role not in ROLE_RANK:
            raise ValueError(f"unknown role {self.role!r} for permission {self.name}")
        if not isinstance(self.grantable, bool):
            raise ValueError(f"grantable must be True or False for permission {self.name}")


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
# Failed sign-ins are counted twice, atomically, in core_login_throttle: against the e-mail
# typed (a keyed hash of it, whether an account has it or not: the answers never tell
# accounts apart) and against the source address. A key's failures are forgotten after a
# window without any; from the limit on, each failure makes the next attempts of that key
# wait, 1 s, 2 s, 4 s... up to a few minutes, and attempts made while waiting are refused
# before the password is checked. Nobody is locked out for long: when the wait is over,
# the right password works again. See docs/admin.md.
THROTTLE_DEFAULTS = {
    "LOGIN_ACCOUNT_LIMIT": "5/900",   # failures of one e-mail / window in seconds
    "LOGIN_ADDRESS_LIMIT": "20/900",  # failures from one address / window in seconds
    "LOGIN_FIRST_DELAY": 1,           # seconds of the first wait, doubled at each failure
    "LOGIN_MAX_DELAY": 300,           # the longest wait, in seconds
}
_THROTTLE = LoginThrottle.__table__


@dataclass(frozen=True)
class ThrottleRule:
    """``limit`` failures of one key allowed per ``window``, then waits doubling up to ``max_delay``."""

    kind: str  # "account" or "address"
    limit: int
    window: timedelta
    first_delay: float
    max_delay: float

    def delay_after(self, failures: int) -> timedelta | None:
        """The wait imposed by the ``failures``-th failure of a window, or None (below the limit)."""
        if failures < self.limit:
            return None
        seconds = self.first_delay * 2 ** min(failures - self.limit, 40)
        return timedelta(seconds=min(seconds, self.max_delay))


def throttle_rules(config=None) -> tuple[ThrottleRule, ThrottleRule]:
    """The account and the address rules from the app config (``LOGIN_*``); ValueError if malformed."""
    config = current_app.config if config is None else config

    def number(name: str) -> float:
        raw = config.get(name, THROTTLE_DEFAULTS[name])
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = -1.0
        if not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, not {raw!r}")
        return value

    first, most = number("LOGIN_FIRST_DELAY"), number("LOGIN_MAX_DELAY")
    if most < first:
        raise ValueError(f"LOGIN_MAX_DELAY ({most:g}) is shorter than LOGIN_FIRST_DELAY ({first:g})")
    rules = []
    for kind, name in (("account", "LOGIN_ACCOUNT_LIMIT"), ("address", "LOGIN_ADDRESS_LIMIT")):
        raw = str(config.get(name, THROTTLE_DEFAULTS[name]))
        try:
            limit, window = (int(part) for part in raw.split("/"))
        except ValueError:
            limit = window = 0
        if limit < 1 or window < 1:
            raise ValueError(f"{name} must be FAILURES/SECONDS, e.g. {THROTTLE_DEFAULTS[name]!r}, not {raw!r}")
        rules.append(ThrottleRule(kind, limit, timedelta(seconds=window), first, most))
    return rules[0], rules[1]


def throttle_now() -> datetime:
    """The throttle's clock (tests replace it: ``monkeypatch.setattr(core.auth, "throttle_now", ...)``)."""
    return utcnow()


def _throttle_key(kind: str, value: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _throttle_counters(email: str, address: str) -> list[tuple[ThrottleRule, str, str]]:
    """(rule, key, clear value) of the e-mail's and the address's counters."""
    account, by_address = throttle_rules()
    return [(account, _throttle_key("account", email), email),
            (by_address, _throttle_key("address", address), address)]


def _throttle_audit(session, action: str, rule: ThrottleRule, key: str, value: str, user: User | None,
                    what: str) -> None:
    """An audit entry about a counter: the account's, else the hashed e-mail's or the address's."""
    if rule.kind == "account" and user is not None:
        record(action, object_type="core.user", object_id=user.id, user_id=user.id,
               summary=f"{user.email}: {what}", session=session)
    elif rule.kind == "account":  # no account has this e-mail: it is not written down
        record(action, object_type="core.login_throttle", object_id=f"account:{key[:16]}",
               summary=f"unknown e-mail #{key[:16]}: {what}", session=session)
    else:
        record(action, object_type="core.login_throttle", object_id=f"address:{key[:16]}",
               summary=f"address {value}: {what}", session=session)


def _end_read_transaction() -> None:
    """End the request session's read-only transaction before a write transaction of its own."""
    session = db.session
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()  # nothing to write; expire_on_commit is off, loaded objects stay usable


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _duration(delta: timedelta) -> str:
    seconds = _seconds(delta)
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def login_refusal(email: str, address: str, user: User | None = None, *, now: datetime) -> int:
    """Seconds this attempt must wait (0: check the password), counting and auditing a refusal.

    :param email: the normalized e-mail typed (an account has it or not: the same answer).
    :param user: the account with that e-mail, if any (named in the audit entries).
    """
    counters = _throttle_counters(email, address)
    rows = {(kind, key): until for kind, key, until in db.session.execute(
        select(_THROTTLE.c.kind, _THROTTLE.c.key, _THROTTLE.c.blocked_until).where(or_(
            *(and_(_THROTTLE.c.kind == rule.kind, _THROTTLE.c.key == key) for rule, key, _ in counters))))}
    waiting = [(rule, key, value, rows[(rule.kind, key)]) for rule, key, value in counters
               if rows.get((rule.kind, key)) is not None and rows[(rule.kind, key)] > now]
    if not waiting:
        return 0
    wait = _seconds(max(until for *_, until in waiting) - now)
    _end_read_transaction()
    with db.write_transaction() as session:
        for rule, key, value, until in waiting:
            refused = session.execute(
                update(_THROTTLE).where(_THROTTLE.c.kind == rule.kind, _THROTTLE.c.key == key)
                .values(refused=_THROTTLE.c.refused + 1).returning(_THROTTLE.c.refused)
            ).scalar_one_or_none()
            # the 1st, 10th, 100th... attempt refused during one wait: a flood of refused
            # attempts cannot flood the audit log
            if refused is not None and str(refused).rstrip("0") == "1":
                _throttle_audit(session, "login_throttled", rule, key, value, user,
                                f"sign-in refused without checking the password ({refused} during this wait), "
                                f"{_seconds(until - now)} s left")
    return wait


def _count_failure(session, rule: ThrottleRule, key: str, now: datetime) -> int:
    """Add one failure to a counter, in one statement (INSERT ... ON CONFLICT DO UPDATE), and
    return its count: exact however many workers count at once, on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - Grappe runs on SQLite and PostgreSQL
        raise NotImplementedError(f"login throttling on {dialect}")
    at = literal(now, UTCDateTime())
    expired = _THROTTLE.c.last_failure_at <= now - rule.window  # a whole window without a failure: start again
    stmt = insert(_THROTTLE).values(kind=rule.kind, key=key, failures=1, refused=0, first_failure_at=now,
                                    last_failure_at=now, blocked_until=None)
    stmt = stmt.on_conflict_do_update(index_elements=[_THROTTLE.c.kind, _THROTTLE.c.key], set_={
        "failures": case((expired, 1), else_=_THROTTLE.c.failures + 1),
        "first_failure_at": case((expired, at), else_=_THROTTLE.c.first_failure_at),
        "last_failure_at": at,
    }).returning(_THROTTLE.c.failures)
    return session.execute(stmt).scalar_one()


def register_login_failure(email: str, address: str, user: User | None = None, *, now: datetime) -> int:
    """Count a failed sign-in against the e-mail and the address, audit it; return the seconds
    the next attempt must wait (0: none)."""
    counters = _throttle_counters(email, address)
    wait = 0
    _end_read_transaction()
    with db.write_transaction() as session:
        if user is not None:
            record("login_failed", object_type="core.user", object_id=user.id, summary=user.email,
                   user_id=user.id, session=session)
        for rule, key, value in counters:
            failures = _count_failure(session, rule, key, now)
            delay = rule.delay_after(failures)
            if delay is None:
                continue
            until = now + delay
            session.execute(
                update(_THROTTLE).where(_THROTTLE.c.kind == rule.kind, _THROTTLE.c.key == key,
                                        or_(_THROTTLE.c.blocked_until.is_(None), _THROTTLE.c.blocked_until < until))
                .values(blocked_until=until, refused=0))
            wait = max(wait, _seconds(delay))
            if failures == rule.limit:
                _throttle_audit(session, "login_throttle_start", rule, key, value, user,
                                f"{failures} failed sign-ins without a {_duration(rule.window)} pause: "
                                f"next attempts wait, from {_seconds(delay)} s up to {rule.max_delay:g} s")
    # forget the counters that no window and no wait concern any more, in a transaction of
    # its own (holding no counter's lock: no deadlock with a worker reviving one of them)
    longest = max(rule.window for rule, _, _ in counters) + timedelta(seconds=counters[0][0].max_delay)
    with db.write_transaction() as session:
        session.execute(delete(_THROTTLE).where(_THROTTLE.c.last_failure_at < now - longest))
    return wait


def register_login_success(user: User, email: str) -> None:
    """A successful sign-in: the account's count starts over (the address's does not)."""
    user.last_login_at = utcnow()
    db.session.execute(delete(_THROTTLE).where(_THROTTLE.c.kind == "account",
                                               _THROTTLE.c.key == _throttle_key("account", email)))


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
    """Does ``user`` hold ``permission`` in ``cluster`` (default: the current one)?

    Yes when their role there ranks high enough, or when a cluster admin granted them this
    permission in this cluster and the grant is in force (:func:`granted_permissions`).
    """
    cluster = cluster or g.get("cluster")
    if user is None or not user.is_authenticated or cluster is None:
        return False
    if user.has_role(cluster.id, role_for_permission(permission)):
        return True
    return permission in granted_permissions(user, cluster)


# -- permissions granted one by one -------------------------------------------------
# A grant (core_permission_grant) gives one staff member of a cluster one permission
# their role is too low for. The user's grants in a cluster are read once per request,
# the first time a check needs them (never for a role that holds the permission anyway).
GRANT_MIN_ROLE = "staff"  # a grant lets one write: a viewer's grants are inert


def stored_grants(user_id: int, cluster_id: int) -> frozenset[str]:
    """The names of the permissions granted to a user in a cluster, in force or not.

    Cached for the request (``g``): one query per user and cluster, however many checks.
    """
    cache = None
    if has_request_context():
        holder = g.get("_grappe_grants")
        current = request._get_current_object()
        if holder is None or holder[0] is not current:  # an app context shared by requests (tests)
            holder = g._grappe_grants = (current, {})
        cache = holder[1]
        if (user_id, cluster_id) in cache:
            return cache[(user_id, cluster_id)]
    names = frozenset(db.session.execute(
        select(PermissionGrant.permission)
        .where(PermissionGrant.user_id == user_id, PermissionGrant.cluster_id == cluster_id)
        .execution_options(all_clusters=True)  # filtered above: can() may ask about another cluster
    ).scalars())
    if cache is not None:
        cache[(user_id, cluster_id)] = names
    return names


def forget_grants() -> None:
    """Drop the request's cached grants (after a grant or a revocation)."""
    if has_app_context():
        g.pop("_grappe_grants", None)


def _module_enabled(permission: str, cluster) -> bool:
    owner = permission.partition(".")[0]
    if owner == "core":
        return True
    if g.get("cluster") is cluster and "enabled_modules" in g:
        return owner in g.enabled_modules
    from .modules import enabled_modules

    return owner in enabled_modules(cluster)


def grant_inert_reason(user, cluster, permission: str) -> str | None:
    """Why a grant of ``permission`` to ``user`` in ``cluster`` gives nothing now, or None
    (it is in force): one of ``"unknown"`` (no loaded plugin declares it), ``"not_grantable"``,
    ``"module_disabled"``, ``"role"`` (the user's role there is below staff, or none)."""
    declared = current_app.extensions["grappe.permissions"].get(permission)
    if declared is None:
        return "unknown"
    if not declared.grantable:
        return "not_grantable"
    if not _module_enabled(permission, cluster):
        return "module_disabled"
    if not user.has_role(cluster.id, GRANT_MIN_ROLE):
        return "role"
    return None


def granted_permissions(user, cluster) -> frozenset[str]:
    """The permissions granted to ``user`` in ``cluster`` that are in force: still declared
    and grantable, of the core or a module enabled there, and the user has at least the
    staff role there.  A grant gives its permission only, never the rest of a higher role."""
    if user is None or not user.is_authenticated or cluster is None or not user.has_role(cluster.id, GRANT_MIN_ROLE):
        return frozenset()
    if user.is_federation_admin:
        return frozenset()  # admin everywhere already
    names = stored_grants(user.id, cluster.id)
    return frozenset(n for n in names if grant_inert_reason(user, cluster, n) is None)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_request_access(view, cluster) -> None:
    """The authorization gate, run before every view; aborts with 401/403.

    Pages and API alike: public views pass; everyone else must be logged in; in a
    cluster, the user needs a role there: at least *viewer* for reading and *staff* for
    writing, or the role of the view's declared permission when it is higher, unless
    that permission was granted to them in this cluster (:func:`granted_permissions`).
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
        # a grant opens the views of its own permission, to a role that may write otherwise
        granted = needed and needed_role == role_for_permission(needed) \
            and needed in granted_permissions(current_user, cluster)
        if not granted:
            abort(403)


def federation_admin_required(view):
    view._grappe_federation_admin = True
    return view


__all__ = [
    "Permission", "ROLES", "public", "requires", "can", "hash_password", "check_password",
    "new_api_token", "federation_admin_required",
]
