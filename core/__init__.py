"""Grappe core: what plugins may use.

Plugins import from here (``from core import hookimpl, db, Base, ...``), never from
core submodules, so the core can change behind this facade.
"""

from __future__ import annotations

from .api import (
    ApiBlueprint, ApiError, ClusterBlueprint, IsoDateTime, ResponseModel, form_errors, json_body, jsonable,
    paginate as api_paginate, serialize, validate,
)
from .audit import record as audit
from .auth import Permission, can, federation_admin_required, public, requires
from .exports import export_response, unneutralize
from .database import Base, ClusterScoped, UTCDateTime, db, utcnow
from .hookspecs import hookimpl, hookspec
from .inputs import int_arg, page_arg, safe_next
from .forms import ConfirmForm, DecimalField, Form, email_validator, iban_validator, siren_validator, siret_validator, vat_validator
from .jobs import JobFailed, enqueue, find_job
from .lookups import (
    cluster_by_id, cluster_by_slug, cluster_slugs, cluster_users, clusters_with, federation_admin_ids, job_or_404,
    user_name,
)
from .mail import mail_job, mail_language, mail_message, mail_urls, outbox_list, outbox_read, queue_mails, render_mail, send_mails
from .plugins import Manifest
from .ratelimit import rate_limit, rate_setting
from .signing import BadToken, sign, unsign
from .toolkit import cluster_hooks, cluster_setting, get_or_404, today
from .ui import NavItem, Page, SearchResult, Setting, TimelineEntry, Widget, paginate


def with_appcontext(f):
    """Run a CLI command inside a Grappe app context (for ``grappe_cli_commands``)."""
    from .cli.base import with_app

    return with_app(f)


__all__ = [
    "ConfirmForm", "DecimalField", "Form", "cluster_hooks", "cluster_setting", "get_or_404", "serialize", "today",
    "email_validator", "enqueue", "find_job", "JobFailed", "iban_validator", "int_arg", "page_arg", "json_body", "safe_next", "siren_validator",
    "siret_validator", "vat_validator",
    "ApiBlueprint", "ApiError", "Base", "ClusterBlueprint", "ClusterScoped", "IsoDateTime", "Manifest", "NavItem",
    "Page", "Permission", "ResponseModel", "SearchResult", "Setting", "TimelineEntry", "UTCDateTime", "Widget",
    "api_paginate", "audit", "can", "db", "export_response", "federation_admin_required",
    "form_errors", "hookimpl", "hookspec", "unneutralize",
    "jsonable", "paginate", "public", "requires", "utcnow", "validate", "with_appcontext",
    # platform services: mail, signed links, rate limiting
    "BadToken", "mail_job", "mail_language", "mail_message", "mail_urls", "outbox_list", "outbox_read", "queue_mails",
    "rate_limit", "rate_setting", "render_mail", "send_mails", "sign", "unsign",
    # the core's records, read through functions
    "cluster_by_id", "cluster_by_slug", "cluster_slugs", "cluster_users", "clusters_with", "federation_admin_ids",
    "job_or_404", "user_name",
]
