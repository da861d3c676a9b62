"""The CRM's public API: the only module other plugins may import (declare ``depends=("crm",)``).

Plain functions returning plain data, working inside an app context on ``db.session``.
Functions that take a ``cluster_id`` answer for that cluster, whatever cluster the
current request is for (they act as that cluster: ``db.for_cluster``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator

from sqlalchemy import select

from core import db

from . import memberships as _memberships
from . import persons as _persons
from . import queries as _queries
from . import segments as _segments
from .competences import vocabulary as _vocabulary
from .models import PERSON_FUNCTIONS as _PERSON_FUNCTIONS
from .models import SIZE_BANDS as _SIZE_BANDS
from .models import (
    ConsentRecord,
    Competence,
    Organization,
    Person,
    PersonOrganization,
    Segment,
)
from .text import normalize

CONSENT_PURPOSES = ("newsletter", "event_invitations")
_CHUNK = 5000


@dataclass(frozen=True)
class PersonInfo:
    """What another plugin needs to know of a person."""

    id: int
    first_name: str
    last_name: str
    full_name: str
    email: str
    phone: str
    language: str  # "fr", "en" or "" (unknown: use the cluster's language)
    organization_id: int | None  # the main organization
    organization_name: str
    erased: bool


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(dict.fromkeys(int(i) for i in ids))
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


# -- persons -----------------------------------------------------------------------
def get_persons(ids: Iterable[int]) -> dict[int, PersonInfo]:
    """Persons by id (missing ids are left out); three queries whatever the number."""
    persons: dict[int, tuple] = {}
    main_org: dict[int, int] = {}
    for chunk in _chunks(ids):
        for row in db.session.execute(
                select(Person.id, Person.first_name, Person.last_name, Person.email, Person.phone,
                       Person.language, Person.erased_at).where(Person.id.in_(chunk))):
            persons[row.id] = row
        rows = db.session.execute(
            select(PersonOrganization.person_id, PersonOrganization.organization_id)
            .where(PersonOrganization.person_id.in_(chunk))
            .order_by(PersonOrganization.person_id, PersonOrganization.main.desc(), PersonOrganization.organization_id)
        ).all()
        for person_id, org_id in rows:
            main_org.setdefault(person_id, org_id)
    names = organization_names(main_org.values())
    return {
        pid: PersonInfo(
            id=p.id, first_name=p.first_name, last_name=p.last_name,
            full_name=f"{p.first_name} {p.last_name}".strip(),
            email=p.email or "", phone=p.phone, language=p.language or "",
            organization_id=main_org.get(pid), organization_name=names.get(main_org.get(pid), ""),
            erased=p.erased_at is not None,
        )
        for pid, p in persons.items()
    }


def get_person(person_id: int) -> PersonInfo | None:
    return get_persons([person_id]).get(person_id)


def find_or_create_person(*, email: str, first_name: str, last_name: str, organization_name: str | None = None,
                          language: str | None = None, source: str = "") -> tuple[int, bool]:
    """Match a person by e-mail (case-insensitive), else create them; return ``(id, created)``.

    A matched person is not changed.  A new person is linked to the organization named
    ``organization_name`` (matched by name, case and accents aside, else created).
    Adds to ``db.session`` and flushes; the caller commits.

    :raises ValueError: the e-mail is invalid, or a name is missing.
    """
    return _persons.find_or_create_person(email=email, first_name=first_name, last_name=last_name,
                                          organization_name=organization_name, language=language, source=source)


def search_persons(query: str, limit: int = 20) -> list[PersonInfo]:
    """Persons whose names, e-mail or phone contain every word (case and accents aside)."""
    if not _queries.words(query or ""):
        return []
    stmt = _queries.person_search(select(Person.id), query).where(Person.erased_at.is_(None)) \
        .order_by(Person.name_key, Person.id).limit(limit)
    ids = db.session.execute(stmt).scalars().all()
    found = get_persons(ids)
    return [found[i] for i in ids if i in found]


def consenting_person_ids(person_ids: Iterable[int], purpose: str) -> set[int]:
    """The persons who may be contacted for ``purpose`` (``newsletter`` or ``event_invitations``).

    The latest consent record of a person for that purpose decides.  With no record:
    *newsletter* is refused (opt-in), *event_invitations* is allowed (a cluster invites
    its contacts to its events until they withdraw).  Erased persons never consent.
    """
    if purpose not in CONSENT_PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r} (one of {', '.join(CONSENT_PURPOSES)})")
    out: set[int] = set()
    for chunk in _chunks(person_ids):
        alive = set(db.session.execute(
            select(Person.id).where(Person.id.in_(chunk), Person.erased_at.is_(None))).scalars())
        latest: dict[int, str] = {}
        for pid, status in db.session.execute(
                select(ConsentRecord.person_id, ConsentRecord.status)
                .where(ConsentRecord.person_id.in_(chunk), ConsentRecord.purpose == purpose)
                .order_by(ConsentRecord.at, ConsentRecord.id)):
            latest[pid] = status
        default = "granted" if purpose == "event_invitations" else "withdrawn"
        out.update(pid for pid in alive if latest.get(pid, default) == "granted")
    return out


# -- organizations -----------------------------------------------------------------
def organization_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of organizations by id (missing ids are left out)."""
    out: dict[int, str] = {}
    for chunk in _chunks(i for i in ids if i is not None):
        for oid, legal, trade in db.session.execute(
                select(Organization.id, Organization.legal_name, Organization.trade_name)
                .where(Organization.id.in_(chunk))):
            out[oid] = trade or legal
    return out


def size_bands() -> dict[str, str]:
    """The CRM's size bands of an organization: ``{key: label}`` in order (labels translate lazily)."""
    return dict(_SIZE_BANDS)


def person_functions() -> dict[str, str]:
    """The CRM's functions of a person in their company: ``{key: label}`` in order."""
    return dict(_PERSON_FUNCTIONS)


@dataclass(frozen=True)
class OrganizationProfile:
    """What another plugin may test about an organization (eligibility, targeting)."""

    id: int
    size_band: str = ""  # the CRM's size band key ("1-9", "10-49", ...), or ""
    sector: str = ""  # NACE code, e.g. "29.10", or ""
    postcode: str = ""
    country: str = ""  # ISO 3166 alpha-2, e.g. "FR"


def organization_profiles(ids: Iterable[int | None]) -> dict[int, OrganizationProfile]:
    """Size band, sector, postcode and country of organizations by id (missing ids are left out)."""
    out: dict[int, OrganizationProfile] = {}
    for chunk in _chunks(i for i in ids if i is not None):
        for oid, band, sector, postcode, country in db.session.execute(
                select(Organization.id, Organization.size_band, Organization.sector, Organization.postcode,
                       Organization.country).where(Organization.id.in_(chunk))):
            out[oid] = OrganizationProfile(id=oid, size_band=band or "", sector=sector or "",
                                           postcode=postcode or "", country=country or "")
    return out


def find_organization_by_name(name: str) -> int | None:
    """The id of an organization with this name (case and accents aside), or None."""
    key = normalize(name)
    return db.session.execute(
        select(Organization.id).where(Organization.name_key == key).order_by(Organization.id).limit(1)
    ).scalar_one_or_none()


# -- memberships ---------------------------------------------------------------------
def is_member(organization_id: int | None, cluster_id: int, on: date) -> bool:
    """Is the organization a member of the cluster on that date (member prices)?"""
    return organization_id is not None and organization_id in member_ids([organization_id], cluster_id, on)


def member_ids(organization_ids: Iterable[int | None], cluster_id: int, on: date) -> set[int]:
    """Of these organizations, those that are members of the cluster on that date."""
    with db.for_cluster(cluster_id):
        return _memberships.member_ids(organization_ids, on)


# -- segments ------------------------------------------------------------------------
def list_segments(cluster_id: int) -> list[tuple[int, str]]:
    """The cluster's saved segments, ``(id, name)`` by name."""
    with db.for_cluster(cluster_id):
        return [tuple(row) for row in db.session.execute(select(Segment.id, Segment.name).order_by(Segment.name))]


def _segment(segment_id: int, cluster_id: int) -> Segment:
    segment = _segments.get_segment(segment_id)
    if segment is None:
        raise LookupError(f"no segment {segment_id} in cluster {cluster_id}")
    return segment


def segment_person_ids(segment_id: int, cluster_id: int) -> list[int]:
    """The persons (not erased) of the organizations a segment of this cluster matches.

    :raises LookupError: no such segment in this cluster.
    """
    with db.for_cluster(cluster_id):
        return _segments.person_ids(_segment(segment_id, cluster_id))


def segment_organization_ids(segment_id: int, cluster_id: int) -> list[int]:
    """The organizations a segment of this cluster matches (:raises LookupError:)."""
    with db.for_cluster(cluster_id):
        return _segments.organization_ids(_segment(segment_id, cluster_id))


# -- competences ---------------------------------------------------------------------
def competence_choices() -> list[tuple[int, str]]:
    """The shared competence vocabulary, ``(id, name)`` by name (event topics use it)."""
    return _vocabulary()


def competence_names(ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _chunks(ids):
        out.update(dict(db.session.execute(select(Competence.id, Competence.name).where(Competence.id.in_(chunk))).all()))
    return out


# -- import ----------------------------------------------------------------------------
def import_file(source, kind: str, **options):
    """Import organizations or persons from a CSV or XLSX file, all or nothing.

    See :func:`plugins.crm.importing.import_file` (``dry_run``, ``on_duplicate``,
    ``mapping``, ``progress``...); returns an ``ImportReport``.  Writes in the caller's
    transaction, which the request, job or command commits (it flushes, never commits).
    """
    from .importing import import_file as run

    return run(source, kind, **options)


__all__ = [
    "PersonInfo", "CONSENT_PURPOSES", "get_person", "get_persons", "find_or_create_person", "search_persons",
    "consenting_person_ids", "organization_names", "OrganizationProfile", "organization_profiles", "size_bands",
    "person_functions",
    "find_organization_by_name", "is_member", "member_ids",
    "list_segments", "segment_person_ids", "segment_organization_ids", "competence_choices", "competence_names",
    "import_file",
]
