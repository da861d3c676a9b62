"""CRM tables.

Organizations, persons, their links, consent records, tags and the competence
vocabulary belong to the whole federation.  Memberships, interactions and segments
belong to one cluster (:class:`core.ClusterScoped`): the core scopes every query on
them to the current cluster.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core import Base, ClusterScoped, UTCDateTime, utcnow

from .text import normalize

ORGANIZATION_KINDS = {
    "company": _l("Company"),
    "research_lab": _l("Research lab"),
    "school": _l("School"),
    "public_body": _l("Public body"),
    "association": _l("Association"),
}
SIZE_BANDS = {
    "0": _l("No employee"),
    "1-9": _l("1 to 9"),
    "10-49": _l("10 to 49"),
    "50-249": _l("50 to 249"),
    "250-999": _l("250 to 999"),
    "1000+": _l("1,000 or more"),
}
MEMBERSHIP_STATUSES = {"prospect": _l("Prospect"), "member": _l("Member"), "former": _l("Former member")}
INTERACTION_KINDS = {
    "visit": _l("Visit"),
    "call": _l("Call"),
    "meeting": _l("Meeting"),
    "email": _l("E-mail"),
    "note": _l("Note"),
}
CONSENT_PURPOSES = {"newsletter": _l("Newsletter"), "event_invitations": _l("Event invitations")}
CONSENT_STATUSES = {"granted": _l("Granted"), "withdrawn": _l("Withdrawn")}
PERSON_FUNCTIONS = {
    "management": _l("General management"),
    "rnd": _l("R&D, engineering"),
    "production": _l("Production, operations"),
    "sales": _l("Sales, marketing"),
    "purchasing": _l("Purchasing"),
    "hr": _l("Human resources"),
    "finance": _l("Finance, administration"),
    "it": _l("IT"),
    "quality": _l("Quality, environment"),
    "other": _l("Other"),
}
LANGUAGES = {"fr": "Français", "en": "English"}
COMPETENCE_KINDS = {"has": _l("Competence"), "needs": _l("Need")}


class Tag(Base):
    """A free label on organizations (shared by the federation)."""

    __tablename__ = "crm_tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(60), unique=True)  # normalized name

    def __str__(self) -> str:
        return self.name


class OrganizationTag(Base):
    __tablename__ = "crm_organization_tag"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("crm_organization.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("crm_tag.id", ondelete="CASCADE"), primary_key=True, index=True)


class Organization(Base):
    """A company, lab, school, public body or association, known once in the federation."""

    __tablename__ = "crm_organization"
    __audited__ = True
    __table_args__ = (
        # PostgreSQL serves '%term%' from a trigram index; SQLite scans the short normalized column
        Index("ix_crm_organization_search_trgm", "search", postgresql_using="gin",
              postgresql_ops={"search": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )
    __audit_exclude__ = ("search", "name_key", "updated_at")

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    trade_name: Mapped[str] = mapped_column(String(200), default="")
    siren: Mapped[str | None] = mapped_column(String(9), unique=True, default=None, info={
        "unique_message": _l("An organization with this SIREN exists already.")})
    siret: Mapped[str | None] = mapped_column(String(14), unique=True, default=None, info={
        "unique_message": _l("An organization with this SIRET exists already.")})
    vat_number: Mapped[str | None] = mapped_column(String(20), unique=True, default=None, info={
        "unique_message": _l("An organization with this VAT number exists already.")})
    kind: Mapped[str] = mapped_column(String(20), default="company")
    sector: Mapped[str] = mapped_column(String(10), default="", index=True)  # NACE code, e.g. 29.10
    size_band: Mapped[str] = mapped_column(String(10), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="", index=True)
    country: Mapped[str] = mapped_column(String(2), default="FR")
    website: Mapped[str] = mapped_column(String(300), default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_organization.id", ondelete="SET NULL"), default=None, index=True)
    name_key: Mapped[str] = mapped_column(String(200), default="", index=True)  # sort and exact name match
    search: Mapped[str] = mapped_column(Text, default="")  # normalized text for LIKE search
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    parent: Mapped["Organization | None"] = relationship(remote_side=[id], lazy="raise")
    # lists load them with selectinload(Organization.tags): one query for the page
    tags: Mapped[list[Tag]] = relationship(secondary="crm_organization_tag", order_by=Tag.key)

    @property
    def name(self) -> str:
        return self.trade_name or self.legal_name

    @property
    def display_name(self) -> str:
        if self.trade_name and self.trade_name != self.legal_name:
            return f"{self.trade_name} ({self.legal_name})"
        return self.legal_name

    def refresh_search(self) -> None:
        self.name_key = normalize(self.name)[:200]
        self.search = organization_search_text(
            self.legal_name, self.trade_name, self.siren, self.siret, self.vat_number,
            self.postcode, self.city, [t.name for t in self.tags])

    def __str__(self) -> str:
        return self.name


def organization_search_text(legal_name, trade_name, siren, siret, vat_number, postcode, city, tags) -> str:
    """What the organization search matches: names, identifiers, city and tags, normalized."""
    return normalize(legal_name, trade_name, siren, siret, vat_number, postcode, city, *tags)


class Person(Base):
    """A person known to the federation; erasure anonymizes the row and keeps it."""

    __tablename__ = "crm_person"
    __audited__ = True
    __table_args__ = (
        Index("ix_crm_person_search_trgm", "search", postgresql_using="gin",
              postgresql_ops={"search": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )
    # no personal data in the audit log, so that an erasure leaves none behind
    __audit_exclude__ = ("first_name", "last_name", "email", "phone", "search", "name_key", "updated_at")

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), unique=True, default=None, info={  # lowercased
        "unique_message": _l("A person with this e-mail exists already.")})
    phone: Mapped[str] = mapped_column(String(40), default="")
    job_title: Mapped[str] = mapped_column(String(150), default="")
    function: Mapped[str] = mapped_column(String(20), default="")
    language: Mapped[str] = mapped_column(String(5), default="")
    source: Mapped[str] = mapped_column(String(40), default="")
    name_key: Mapped[str] = mapped_column(String(200), default="", index=True)
    search: Mapped[str] = mapped_column(Text, default="")
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    links: Mapped[list["PersonOrganization"]] = relationship(
        back_populates="person", cascade="all, delete-orphan",  # lists ask for them: selectinload(...)
        order_by=lambda: (PersonOrganization.main.desc(), PersonOrganization.organization_id))

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def audit_label(self) -> str:
        return f"person #{self.id}"

    def refresh_search(self) -> None:
        self.name_key = normalize(self.last_name, self.first_name)[:200]
        self.search = person_search_text(self.first_name, self.last_name, self.email, self.phone)

    def __str__(self) -> str:
        return self.full_name


def person_search_text(first_name, last_name, email, phone) -> str:
    return normalize(first_name, last_name, email, "".join(ch for ch in (phone or "") if ch.isdigit()))


class PersonOrganization(Base):
    """A person works for (or represents) an organization, with a role."""

    __tablename__ = "crm_person_organization"

    person_id: Mapped[int] = mapped_column(ForeignKey("crm_person.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("crm_organization.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(100), default="")
    main: Mapped[bool] = mapped_column(Boolean, default=True)

    person: Mapped[Person] = relationship(back_populates="links")
    organization: Mapped[Organization] = relationship(lazy="joined")


class ConsentRecord(Base):
    """A person granted or withdrew consent for a purpose; the latest record wins."""

    __tablename__ = "crm_consent"
    __table_args__ = (Index("ix_crm_consent_person_purpose", "person_id", "purpose", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("crm_person.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(200), default="")  # how: form, e-mail, phone, import...
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)


class Membership(ClusterScoped, Base):
    """An organization's membership of one cluster over a period."""

    __tablename__ = "crm_membership"
    __audited__ = True
    __table_args__ = (Index("ix_crm_membership_cluster_org", "cluster_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("crm_organization.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, default=None)
    fee_tier: Mapped[str] = mapped_column(String(60), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="raise")

    def covers(self, on: date) -> bool:
        return self.start_date <= on and (self.end_date is None or self.end_date >= on)

    @property
    def audit_label(self) -> str:
        return f"membership #{self.id} of organization #{self.organization_id}: {self.status}"


class InteractionPerson(Base):
    """A person met during an interaction."""

    __tablename__ = "crm_interaction_person"

    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("crm_interaction.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("crm_person.id", ondelete="CASCADE"), primary_key=True, index=True)


class Interaction(ClusterScoped, Base):
    """A visit, call, meeting, e-mail or note recorded by a cluster's staff."""

    __tablename__ = "crm_interaction"
    __audited__ = True
    __table_args__ = (
        Index("ix_crm_interaction_org_date", "organization_id", "date"),
        Index("ix_crm_interaction_followup", "author_id", "follow_up_done", "follow_up_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("crm_organization.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    date: Mapped[date] = mapped_column(Date, index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"), default=None)
    subject: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    follow_up_on: Mapped[date | None] = mapped_column(Date, default=None)
    follow_up_done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="raise")
    author = relationship("User", lazy="raise")
    persons: Mapped[list[Person]] = relationship(secondary="crm_interaction_person", lazy="selectin",
                                                 order_by=Person.name_key)

    @property
    def audit_label(self) -> str:
        return f"{self.kind} #{self.id}: {self.subject}"


class Competence(Base):
    """A brick of know-how in the federation's shared vocabulary (also used for needs)."""

    __tablename__ = "crm_competence"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(120), unique=True)  # normalized name
    category: Mapped[str] = mapped_column(String(80), default="", index=True)
    description: Mapped[str] = mapped_column(Text, default="")

    def __str__(self) -> str:
        return self.name


class OrganizationCompetence(Base):
    """An organization has a competence (``kind="has"``) or needs it (``kind="needs"``)."""

    __tablename__ = "crm_organization_competence"
    __table_args__ = (Index("ix_crm_organization_competence_comp", "competence_id", "kind"),)

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("crm_organization.id", ondelete="CASCADE"), primary_key=True)
    competence_id: Mapped[int] = mapped_column(ForeignKey("crm_competence.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(5), primary_key=True)

    competence: Mapped[Competence] = relationship(lazy="joined")


class Segment(ClusterScoped, Base):
    """A saved filter of organizations, named, per cluster (used for invitations, mailings)."""

    __tablename__ = "crm_segment"
    __audited__ = True
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_crm_segment_cluster_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), info={
        "unique_message": _l("This cluster has a segment with this name already.")})
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by = relationship("User", lazy="raise")

    def __str__(self) -> str:
        return self.name


@event.listens_for(Session, "before_flush")
def _refresh_search_columns(session: Session, _ctx, _instances) -> None:
    """Keep the normalized search columns right whatever path changed a record."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, (Organization, Person)):
            obj.refresh_search()
