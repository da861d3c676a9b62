"""Organizations: record and change them (with their tags), match one by name, delete one.

Organizations are shared by the federation (one company is known once).  Its parent goes
through :mod:`.hierarchy`; its people through :mod:`.persons`; the page's data and the
lists are read by :mod:`.queries`.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core import db

from .errors import CrmError
from .hierarchy import set_parent
from .models import Interaction, Membership, Organization, Tag
from .text import normalize

ORGANIZATION_FIELDS = ("legal_name", "trade_name", "siren", "siret", "vat_number", "kind", "sector", "size_band",
                       "street", "postcode", "city", "country", "website", "parent_id")


def save_organization(org: Organization, form) -> Organization:
    """Copy a validated :class:`OrganizationForm` onto an organization (new or not) and flush.

    The parent goes through :func:`.hierarchy.set_parent` before any query (the hierarchy
    lock comes before the row's); of an organization recorded already, before the other
    fields.  :raises HierarchyError: when it would not leave the organizations a tree;
    the organization is then as it was (a new one is not added): the caller shows the
    field's error, and its error status rolls the request back.
    """
    has_parent = "parent_id" in form._fields
    if has_parent and org.id is not None:
        set_parent(org, form.parent_id.data)
    for name in ORGANIZATION_FIELDS:
        if name in form._fields and name != "parent_id":
            value = form[name].data
            if name in ("siren", "siret", "vat_number"):
                value = value or None
            else:
                value = value if value is not None else ""
            setattr(org, name, value)
    if has_parent and org.id is None:
        set_parent(org, form.parent_id.data)
    if "tags" in form._fields:
        set_tags(org, parse_tags(form.tags.data))
    if org.id is None:
        db.session.add(org)
    db.session.flush()
    return org


def parse_tags(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = str(value).replace(";", ",").split(",")
    seen, out = set(), []
    for item in items:
        name = " ".join(str(item).split())[:60]
        key = normalize(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def tags_by_name(names: list[str]) -> dict[str, Tag]:
    """Tags by normalized key, created when missing (one query for the lot)."""
    keys = {normalize(n): n for n in names if normalize(n)}
    if not keys:
        return {}
    found = {t.key: t for t in db.session.execute(select(Tag).where(Tag.key.in_(list(keys)))).scalars()}
    for key, name in keys.items():
        if key not in found:
            tag = Tag(name=name, key=key)
            db.session.add(tag)
            found[key] = tag
    return found


def set_tags(org: Organization, names: list[str]) -> None:
    tags = tags_by_name(names)
    org.tags = sorted({tags[normalize(n)] for n in names if normalize(n) in tags}, key=lambda t: t.key)


def find_or_create_organization(name: str, *, source: str = "") -> tuple[Organization, bool]:
    """An organization matched by name (case and accents aside), else a new company."""
    name = " ".join((name or "").split())[:200]
    if not name:
        raise ValueError(_("An organization needs a name."))
    org = db.session.execute(
        select(Organization).where(Organization.name_key == normalize(name)).order_by(Organization.id).limit(1)
    ).scalar_one_or_none()
    if org is not None:
        return org, False
    org = Organization(legal_name=name, kind="company", country="")
    db.session.add(org)
    db.session.flush()
    return org, True


def delete_organization(org: Organization) -> None:
    """Delete an organization that no cluster has history with; :raises CrmError: otherwise."""
    for model, what in ((Membership, _("memberships")), (Interaction, _("interactions"))):
        used = db.session.execute(select(func.count(model.id)).where(model.organization_id == org.id)
                                  .execution_options(all_clusters=True)).scalar_one()
        if used:
            raise CrmError(_("This organization has %(n)s %(what)s in the federation: it cannot be deleted.",
                             n=used, what=what))
    try:
        with db.session.begin_nested():
            db.session.delete(org)
            db.session.flush()
    except IntegrityError:
        raise CrmError(_("Other modules still refer to this organization: it cannot be deleted.")) from None
