"""Core tables: clusters, modules per cluster, users, roles, tokens, audit, jobs."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .database import Base, ClusterFiltered, ClusterScoped, UTCDateTime, utcnow

ROLES = ("viewer", "staff", "manager", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}


class Cluster(Base):
    """A network of member companies run by one team; owns its data and modules."""

    __tablename__ = "core_cluster"
    __audited__ = True
    __audit_cluster__ = "id"  # changes of a cluster show in its own audit log

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True, info={
        "unique_message": _l("A cluster has this slug already.")})
    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="FR")
    siren: Mapped[str] = mapped_column(String(9), default="")
    vat_number: Mapped[str] = mapped_column(String(20), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    language: Mapped[str] = mapped_column(String(5), default="fr")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)  # read by its view only
    logo_mimetype: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    modules: Mapped[list["ClusterModule"]] = relationship(
        back_populates="cluster", cascade="all, delete-orphan", lazy="selectin"
    )

    def has_module(self, name: str) -> bool:
        return any(m.module == name for m in self.modules)

    @property
    def zone(self) -> ZoneInfo:
        """The cluster's time zone (UTC when its name is unknown to this machine)."""
        try:
            return ZoneInfo(self.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def now(self) -> datetime:
        """The time now, in the cluster's time zone (aware)."""
        return utcnow().astimezone(self.zone)

    def today(self) -> date:
        """Today's date where the cluster is (not the server's: a date a cluster's staff
        types or reads, such as a membership's end, is a day of the cluster's calendar)."""
        return self.now().date()

    def local(self, when: datetime) -> datetime:
        """An aware (or UTC naive) datetime, in the cluster's time zone."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(self.zone)

    @property
    def module_names(self) -> list[str]:
        return sorted(m.module for m in self.modules)

    def __repr__(self) -> str:
        return f"<Cluster {self.slug}>"

    def __str__(self) -> str:
        return self.name


class ClusterModule(Base):
    """A module enabled for a cluster (no row: disabled; the data stays either way)."""

    __tablename__ = "core_cluster_module"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("core_cluster.id", ondelete="CASCADE"), primary_key=True
    )
    module: Mapped[str] = mapped_column(String(60), primary_key=True)
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cluster: Mapped[Cluster] = relationship(back_populates="modules")


class ClusterSetting(Base):
    """A plugin's per-cluster setting (``<plugin>.<name>``), stored as JSON."""

    __tablename__ = "core_cluster_setting"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("core_cluster.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Counter(Base):
    """Named counters every process reads; ``modules`` versions the module table."""

    __tablename__ = "core_counter"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A staff account (Flask-Login user)."""

    __tablename__ = "core_user"
    __audited__ = True
    __audit_exclude__ = ("password_hash", "failed_logins", "locked_until", "last_login_at")

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, info={
        "unique_message": _l("A user has this e-mail already.")})
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(5), default="")
    is_federation_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # unused since core_0003 (sign-in throttling is LoginThrottle): kept so that workers of
    # the previous version still run while the database is upgraded; a later migration drops them
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list["RoleAssignment"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    # Flask-Login protocol
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    def role_in(self, cluster_id: int) -> str | None:
        """The user's role in a cluster; federation admins are admins everywhere."""
        if self.is_federation_admin:
            return "admin"
        for assignment in self.roles:
            if assignment.cluster_id == cluster_id:
                return assignment.role
        return None

    def has_role(self, cluster_id: int, role: str) -> bool:
        mine = self.role_in(cluster_id)
        return mine is not None and ROLE_RANK[mine] >= ROLE_RANK[role]

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def __str__(self) -> str:
        return self.display_name


class RoleAssignment(Base):
    """A user's role in one cluster."""

    __tablename__ = "core_role_assignment"
    __audited__ = True

    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("core_cluster.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(20))

    user: Mapped[User] = relationship(back_populates="roles")
    cluster: Mapped[Cluster] = relationship(lazy="joined")


class PermissionGrant(ClusterScoped, Base):
    """A permission granted to one user in one cluster on top of their role.

    Roles are ranked; a grant gives a *staff* member one named permission (declared by a
    plugin with ``grappe_permissions``, e.g. ``crm.import``) that their role is too low
    for, and nothing else (``core.auth.can``, the request gate).  It is in force while the
    user has at least the staff role in the cluster, the permission is still declared and
    grantable, and its module is enabled there; otherwise it is kept, shown, and inert.
    Removing the user's access to the cluster deletes their grants there
    (``core.services.remove_role``).  Written through ``core.services.grant_permission``
    and ``revoke_permission``, which audit each change.
    """

    __tablename__ = "core_permission_grant"
    __table_args__ = (UniqueConstraint("cluster_id", "user_id", "permission"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # the unique constraint (cluster_id first) is the cluster's index: no second one
    cluster_id: Mapped[int] = mapped_column(ForeignKey("core_cluster.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(100), info={
        "unique_message": _l("This user has this extra right already.")})
    granted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id], lazy="joined")

    def __str__(self) -> str:
        return f"{self.permission} of user {self.user_id}"


class ApiToken(Base):
    """A bearer token of a user; only its SHA-256 is stored."""

    __tablename__ = "core_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(lazy="joined")


class AuditEntry(ClusterFiltered, Base):
    """Who did what to which record, when; field-level changes for updates."""

    __tablename__ = "core_audit_entry"
    __table_args__ = (
        Index("ix_core_audit_entry_cluster_at", "cluster_id", "at"),
        Index("ix_core_audit_entry_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("core_cluster.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(60), default="")
    object_id: Mapped[str] = mapped_column(String(60), default="")
    summary: Mapped[str] = mapped_column(String(300), default="")
    changes: Mapped[dict | None] = mapped_column(JSON, default=None)

    user: Mapped[User | None] = relationship(lazy="joined")


def N_(message: str) -> str:
    """Mark a message for extraction (pybabel) without translating it now."""
    return message


# Messages the jobs service itself stores in ``Job.message``: stored in English, shown in
# the reader's language (see ``Job.message``).  Never a path or an exception's text.
JOB_LOST = N_("The worker running this job stopped giving signs of life (it was stopped, restarted or "
              "killed), so the job is marked failed. You can retry it.")
JOB_CRASHED = N_("The job stopped on an unexpected error; the details are in the server's log. "
                 "You can retry it.")


class Job(ClusterFiltered, Base):
    """A background job and its progress.

    While it runs, its worker refreshes ``heartbeat_at``; a ``running`` job whose
    heartbeat is older than ``JOB_HEARTBEAT_TIMEOUT`` lost its worker and is marked failed
    (``core.jobs.sweep``).  ``attempts`` counts the runs started (a retry runs the same
    row again); ``idempotency_key`` makes starting the same work twice return this row;
    ``permission`` is what starting it needed (also needed to retry it; ``""``: the
    default write access; ``None``: unknown, cluster admins only).
    """

    __tablename__ = "core_job"
    __table_args__ = (Index("ix_core_job_cluster_created", "cluster_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("core_cluster.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued running done failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    stored_message: Mapped[str] = mapped_column("message", Text, default="")
    result: Mapped[dict | None] = mapped_column(JSON, default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None, index=True, unique=True)
    permission: Mapped[str | None] = mapped_column(String(100), default=None)

    # set by core.jobs.enqueue on the row it returns: True when the idempotency key found
    # this job already queued, running or done (nothing new was started)
    existing = False

    @hybrid_property
    def message(self) -> str:
        """The job's message, in the reader's language when a catalog translates it.

        Jobs run with no request, so their messages are stored in English (the source
        language): the core's own, and a plugin's marked with ``N_``/``_l``, are
        translated when they are read.
        """
        if not self.stored_message:
            return ""
        from flask_babel import gettext

        return gettext(self.stored_message)

    @message.inplace.setter
    def _message_setter(self, value: str) -> None:
        self.stored_message = value

    @message.inplace.expression
    @classmethod
    def _message_expression(cls):
        return cls.stored_message

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class LoginThrottle(Base):
    """Failed sign-ins counted for one account or one source address (core.auth's throttle).

    ``kind`` is ``account`` or ``address``; ``key`` is a keyed hash (HMAC with the secret key)
    of the normalized e-mail (whether an account has it or not) or of the address, never the
    value itself. ``failures`` counts the failures since ``first_failure_at``, forgotten after a
    window without any; from a limit on, each failure makes the next attempts wait
    (``blocked_until``), and ``refused`` counts the attempts refused during the current wait.
    """

    __tablename__ = "core_login_throttle"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
