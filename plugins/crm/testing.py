"""Testing helpers for the CRM and for every plugin that depends on it (test code only).

CRM records for a test, written by the CRM's own operations (:mod:`.organizations`,
:mod:`.persons`, :mod:`.memberships`, :mod:`.interactions`) from the CRM's forms, as the
pages and the JSON API write them: tags, the parent, a person's main link, a cluster's
membership or interaction written as that cluster (``db.for_cluster``) are done the one
way.  The values are written as given, not validated: a test may need what a form would
refuse or tidy (a name that looks like a spreadsheet formula, a leading tab); a field the
form does not have raises ``TypeError``.  Each factory commits, so that what it made is
visible to the test client's requests, to jobs and to other sessions.

Use them from a plugin's tests (``depends=("crm",)``)::

    # tests/conftest.py
    pytest_plugins = ["core.testing", "plugins.crm.testing"]

    # tests/test_missions.py
    def test_members_pay_the_member_price(app, factory, crm):
        lyon = factory.cluster("lyon", modules=("missions",))
        org = crm.organization("Acme SAS", city="Lyon")
        crm.membership(org, lyon)
        claire = crm.person("Martin", "Claire", organization=org, email="claire@example.org")
        ...

or import the functions (``from plugins.crm.testing import organization, membership``).
Records passed in (``organization``, ``cluster``, ``person``, ``author``) may be models
or ids.  The module helpers :func:`disable_module` and :func:`enable_module` switch a
module off and on for a cluster, as an administrator does.

Documented in docs/reference.md ("Testing helpers").
"""

from __future__ import annotations

from datetime import date
from typing import Iterable

import pytest

from core import cluster_by_id, db

from .forms import InteractionForm, MembershipForm, OrganizationForm, PersonForm
from .interactions import save_interaction
from .memberships import save_membership
from .models import ConsentRecord, Interaction, Membership, Organization, Person
from .organizations import save_organization
from .persons import record_consent, save_person

__all__ = [
    "CrmFactory", "consent", "crm", "disable_module", "enable_module", "interaction", "membership",
    "organization", "person",
]


def _id(record) -> int | None:
    """A record's id, whether given as a model or as an id."""
    if record is None:
        return None
    return record if isinstance(record, int) else record.id


def _form(form_class, values: dict, what: str):
    """A ``form_class`` holding ``values`` as given (its defaults elsewhere), not validated.

    :raises TypeError: a name that is not a field of the form.
    """
    form = form_class(formdata=None, meta={"csrf": False})
    unknown = sorted(set(values) - set(form._fields))
    if unknown:
        raise TypeError(f"plugins.crm.testing.{what}: no field {', '.join(unknown)} "
                        f"(the fields of {form_class.__name__}: {', '.join(form._fields)})")
    for name, value in values.items():
        form[name].data = value
    return form


# -- records ---------------------------------------------------------------------------
def organization(legal_name: str = "Acme SAS", **fields) -> Organization:
    """A new organization (shared by the federation), written from an ``OrganizationForm``.

    ``fields`` are the form's: ``trade_name``, ``siren``, ``siret``, ``vat_number``, ``kind``
    (``company`` by default), ``sector``, ``size_band``, ``street``, ``postcode``, ``city``,
    ``country`` (``FR`` by default), ``website``, ``parent_id``, ``tags`` (a list of names).
    """
    fields.setdefault("country", "FR")
    form = _form(OrganizationForm, {"legal_name": legal_name, **fields}, "organization")
    org = save_organization(Organization(), form)
    db.session.commit()
    return org


def person(last_name: str = "Martin", first_name: str = "Claire", organization=None, role: str = "",
           **fields) -> Person:
    """A new person, written from a ``PersonForm``; with ``organization``, linked to it (main link, ``role``).

    ``fields`` are the form's: ``email`` (none by default), ``phone``, ``job_title``,
    ``function``, ``language`` (``fr``, ``en`` or empty).
    """
    data = {"last_name": last_name, "first_name": first_name, **fields}
    if organization is not None:
        data.update(organization_id=_id(organization), role=role)
    form = _form(PersonForm, data, "person")
    record = save_person(Person(), form)
    db.session.commit()
    return record


def membership(organization, cluster, status: str = "member", start: date = date(2020, 1, 1),
               end: date | None = None, **fields) -> Membership:
    """A membership period of ``organization`` in ``cluster``, written from a ``MembershipForm``.

    ``status``: ``member``, ``prospect`` or ``former``; ``end`` None: open-ended.
    ``fields``: ``fee_tier``, ``note``.  Written as that cluster (``db.for_cluster``).
    """
    data = {"organization_id": _id(organization), "status": status, "start_date": start, "end_date": end,
            **fields}
    with db.for_cluster(_id(cluster)):
        form = _form(MembershipForm, data, "membership")
        record = save_membership(None, form)
    db.session.commit()
    return record


def interaction(organization, cluster, subject: str = "Visit", *, kind: str = "visit", on: date | None = None,
                persons: Iterable = (), author=None, **fields) -> Interaction:
    """A visit, call, meeting, e-mail or note of ``cluster`` with ``organization``, from an ``InteractionForm``.

    ``on``: its date (the cluster's today by default); ``persons``: the persons met
    (models or ids); ``author``: the user who recorded it (none by default).
    ``fields``: ``summary``, ``follow_up_on`` (a date), ``follow_up_done`` (bool).
    Written as that cluster (``db.for_cluster``).
    """
    cluster_id = _id(cluster)
    if on is None:
        on = (cluster_by_id(cluster_id) if isinstance(cluster, int) else cluster).today()
    data = {"organization_id": _id(organization), "kind": kind, "date": on, "subject": subject,
            "persons": [_id(p) for p in persons], **fields}
    with db.for_cluster(cluster_id):
        form = _form(InteractionForm, data, "interaction")
        record = save_interaction(None, form, author_id=_id(author))
    db.session.commit()
    return record


def consent(person, purpose: str, status: str, *, method: str = "", on: date | None = None) -> ConsentRecord:
    """A consent record of ``person`` (model or id): ``purpose`` ``newsletter`` or
    ``event_invitations``, ``status`` ``granted`` or ``withdrawn``; ``on`` a past day (else now)."""
    subject = person if isinstance(person, Person) else db.session.get(Person, person)
    record = record_consent(subject, purpose, status, method=method, on=on)
    db.session.commit()
    return record


class CrmFactory:
    """The factories above as methods: the ``crm`` fixture (``crm.organization("Acme SAS")``)."""

    organization = staticmethod(organization)
    person = staticmethod(person)
    membership = staticmethod(membership)
    interaction = staticmethod(interaction)
    consent = staticmethod(consent)


@pytest.fixture
def crm(app) -> CrmFactory:
    """The CRM factories (``pytest_plugins = ["core.testing", "plugins.crm.testing"]``)."""
    return CrmFactory()


# -- modules -----------------------------------------------------------------------------
def disable_module(cluster, name: str) -> None:
    """Disable module ``name`` for ``cluster`` (a model), as its administrator does: audited,
    committed, the ``grappe_module_toggled`` hook told; the next request sees it (its pages
    answer 404).  :raises core.modules.ModuleError: not enabled, or an enabled module needs it."""
    from core.modules import disable  # test code: core internals allowed (docs/plugins.md)

    disable(cluster, name)


def enable_module(cluster, names: str | Iterable[str]) -> list[str]:
    """Enable module(s) ``names`` for ``cluster`` (a model), with what they depend on; return
    the modules newly enabled.  :raises core.modules.ModuleError: unknown or broken module."""
    from core.modules import enable

    return enable(cluster, [names] if isinstance(names, str) else list(names))
