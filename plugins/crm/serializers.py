"""What the CRM's API (and its JSON exports) return: pydantic response models.

Each model is the one serializer of its record: the API's handlers and the pages' JSON
produce it with ``core.serialize(Model, obj)`` (an ORM row, or a dict), and the OpenAPI
document describes it (``response=`` on each operation of :mod:`.http_api`).  Dates are
``YYYY-MM-DD``, date-times ISO 8601 with their offset (``IsoDateTime``: ``+00:00``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AliasPath, BeforeValidator, Field, computed_field

from core import IsoDateTime, ResponseModel, today


def _names(items) -> list:
    """Tags (or anything with a name) as their names."""
    return [getattr(item, "name", item) for item in items]


def _ids(items) -> list:
    """Records as their ids."""
    return [getattr(item, "id", item) for item in items]


def _is_set(value) -> bool:
    return value is not None


# -- organizations ---------------------------------------------------------------------
class OrganizationRefOut(ResponseModel):
    """An organization named in another record."""

    id: int
    name: str


class OrganizationOut(ResponseModel):
    """An organization, shared by the federation; ``name`` is the trade name, or the legal one."""

    id: int
    legal_name: str
    trade_name: str
    name: str
    siren: str | None
    siret: str | None
    vat_number: str | None
    kind: str
    sector: str = Field(description="NACE code, e.g. 29.10 (empty: unknown)")
    size_band: str
    street: str
    postcode: str
    city: str
    country: str = Field(description="ISO 3166 alpha-2 code")
    website: str
    parent_id: int | None = Field(description="the parent organization (the hierarchy is a tree)")
    tags: Annotated[list[str], BeforeValidator(_names)]
    created_at: IsoDateTime
    updated_at: IsoDateTime


class OrganizationPersonOut(ResponseModel):
    """A person working for the organization, with their role there."""

    id: int
    full_name: str
    email: str | None
    role: str


class MembershipOut(ResponseModel):
    """An organization's membership of this cluster over a period."""

    id: int
    organization_id: int
    status: str
    start_date: date
    end_date: date | None
    fee_tier: str
    note: str

    @computed_field(description="a member today (in the cluster's calendar)")
    @property
    def member_today(self) -> bool:
        on = today()
        return self.status == "member" and self.start_date <= on and (self.end_date is None or self.end_date >= on)


class CompetenceOut(ResponseModel):
    """A competence of the shared vocabulary (also what a need names)."""

    id: int
    name: str
    category: str
    description: str


class OrganizationDetailOut(OrganizationOut):
    """An organization with its persons, this cluster's memberships (the earliest first),
    its competences and its needs."""

    persons: list[OrganizationPersonOut]
    memberships: list[MembershipOut]
    competences: list[CompetenceOut]
    needs: list[CompetenceOut]


class TimelineEntryOut(ResponseModel):
    """A line of a record's timeline: this cluster's interactions and other modules' entries."""

    when: IsoDateTime
    kind: str
    title: str
    plugin: str
    url: str | None
    detail: str
    interaction_id: int | None = Field(description="the interaction, for the CRM's own entries")


class TimelineOut(ResponseModel):
    items: list[TimelineEntryOut]


class OrganizationCompetenceOut(ResponseModel):
    """A competence (``kind="has"``) or need (``kind="needs"``) given to an organization."""

    competence: CompetenceOut
    kind: Literal["has", "needs"]


class MatchOut(ResponseModel):
    """An organization complementing another, and how well."""

    organization: OrganizationRefOut
    overlap: int = Field(description="how many of the wanted competences it matches")
    competences: list[str] = Field(description="the names of the matched competences")
    member: bool = Field(description="a member of this cluster")
    last_contact: date | None = Field(description="the day of this cluster's latest interaction with it")


class MatchListOut(ResponseModel):
    items: list[MatchOut]


# -- persons ---------------------------------------------------------------------------
class PersonOrganizationOut(ResponseModel):
    """An organization a person works for."""

    organization_id: int
    name: str = Field(validation_alias=AliasPath("organization", "name"))
    role: str
    main: bool


class PersonOut(ResponseModel):
    """A person, shared by the federation (an erased person keeps the row, anonymous)."""

    id: int
    first_name: str
    last_name: str
    full_name: str
    email: str | None
    phone: str
    job_title: str
    function: str
    language: str
    erased: Annotated[bool, BeforeValidator(_is_set)] = Field(validation_alias="erased_at")
    organizations: list[PersonOrganizationOut] = Field(validation_alias="links")


class ConsentStateOut(ResponseModel):
    """The latest consent record of a purpose."""

    status: Literal["granted", "withdrawn"]
    at: IsoDateTime
    method: str


class ConsentOut(ConsentStateOut):
    """A consent granted or withdrawn, for a purpose."""

    purpose: str


class PersonDetailOut(PersonOut):
    """A person with the latest consent per purpose (null: never asked)."""

    consents: dict[str, ConsentStateOut | None]


class PersonExportOrganizationOut(ResponseModel):
    organization_id: int
    organization: str = Field(validation_alias=AliasPath("organization", "name"))
    role: str
    main: bool


class PersonExportInteractionOut(ResponseModel):
    id: int
    cluster_id: int
    cluster: str = Field(validation_alias="slug", description="the cluster's slug")
    kind: str
    date: date
    subject: str


class PersonExportOut(ResponseModel):
    """What the CRM holds about a person (right of access): the shared identity data and
    this cluster's records (``scope="cluster"``), or every cluster's (``"federation"``)."""

    scope: Literal["cluster", "federation"]
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str
    job_title: str
    function: str
    language: str
    source: str
    created_at: IsoDateTime
    updated_at: IsoDateTime | None
    erased_at: IsoDateTime | None
    organizations: list[PersonExportOrganizationOut] = Field(validation_alias="links")
    consents: list[ConsentOut]
    interactions: list[PersonExportInteractionOut]


# -- interactions ----------------------------------------------------------------------
class InteractionOut(ResponseModel):
    """A visit, call, meeting, e-mail or note recorded by this cluster's staff."""

    id: int
    organization_id: int
    kind: str
    date: date
    author_id: int | None
    subject: str
    summary: str
    persons: Annotated[list[int], BeforeValidator(_ids)] = Field(description="the ids of the persons met")
    follow_up_on: date | None
    follow_up_done: bool


class InteractionListOut(ResponseModel):
    items: list[InteractionOut]


# -- competences -----------------------------------------------------------------------
class CompetenceUsageOut(CompetenceOut):
    """A competence and how many organizations have and need it."""

    organizations_having: int
    organizations_needing: int


class CompetenceUsageListOut(ResponseModel):
    items: list[CompetenceUsageOut]


# -- segments --------------------------------------------------------------------------
class SegmentOut(ResponseModel):
    """A saved filter of organizations (the filters of ``GET /organizations``)."""

    id: int
    name: str
    filters: dict[str, Any]
    created_at: IsoDateTime


class SegmentListOut(ResponseModel):
    items: list[SegmentOut]


class SegmentPersonsOut(ResponseModel):
    items: list[int] = Field(description="the ids of the persons the segment reaches today")


# -- import ----------------------------------------------------------------------------
class ImportRowErrorOut(ResponseModel):
    line: int
    column: str
    message: str


class ImportReportOut(ResponseModel):
    """What an import did, or its check would do (``dry_run``)."""

    kind: str
    dry_run: bool
    filename: str = ""
    encoding: str = ""
    delimiter: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    organizations_created: int = 0
    errors: list[ImportRowErrorOut] = Field(default=[], description="the first 1,000 errors")
    error_count: int = 0
    columns: dict[str, str] = Field(default={}, description="the file's column -> the field it fills")
    ignored_columns: list[str] = []
    seconds: float = 0.0
    phases: dict[str, float] = Field(default={}, description="seconds per phase: read, validate, match, write")
    written: bool = False

    @computed_field(description="no error found")
    @property
    def ok(self) -> bool:
        return self.error_count == 0


class ImportJobOut(ResponseModel):
    """An import or its check: the background job and, once done, its report."""

    job_id: int = Field(validation_alias="id")
    status: str = Field(description="queued, running, done or failed")
    dry_run: bool = Field(description="a check (nothing written)")
    done: int
    total: int
    message: str
    report: ImportReportOut | None


# -- pages -----------------------------------------------------------------------------
class OrganizationSuggestionOut(ResponseModel):
    """A name for the organization pickers of the pages."""

    id: int
    name: str = Field(validation_alias="display_name")
    city: str
