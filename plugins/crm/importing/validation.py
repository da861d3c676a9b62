"""Row validation: every row of a file goes through the record's form (the one validation path
of the pages, the API and imports), once its values are read the way people write them
(kinds, functions and languages in French or German, a head count as a size band).
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ..forms import OrganizationForm, PersonForm
from ..models import ORGANIZATION_KINDS, PERSON_FUNCTIONS
from ..text import normalize
from .report import ImportPlan, ImportReport

KIND_VALUES = {
    **{normalize(k): k for k in ORGANIZATION_KINDS}, **{normalize(str(v)): k for k, v in ORGANIZATION_KINDS.items()},
    "research lab": "research_lab", "public body": "public_body",
    "entreprise": "company", "societe": "company", "unternehmen": "company", "firma": "company",
    "laboratoire": "research_lab", "labo": "research_lab", "lab": "research_lab", "forschung": "research_lab",
    "ecole": "school", "universite": "school", "school": "school", "hochschule": "school", "schule": "school",
    "universitat": "school", "collectivite": "public_body", "public": "public_body", "behorde": "public_body",
    "organisme public": "public_body", "verein": "association", "verband": "association",
}
FUNCTION_VALUES = {**{normalize(k): k for k in PERSON_FUNCTIONS},
                   **{normalize(str(v)): k for k, v in PERSON_FUNCTIONS.items()},
                   "direction": "management", "dirigeant": "management", "geschaftsfuhrung": "management",
                   "r&d": "rnd", "r d": "rnd", "engineering": "rnd", "commercial": "sales", "vente": "sales",
                   "marketing": "sales", "achats": "purchasing", "einkauf": "purchasing", "rh": "hr",
                   "personal": "hr", "finance": "finance", "compta": "finance", "informatique": "it",
                   "qualite": "quality", "production": "production", "autre": "other"}
LANGUAGE_VALUES = {"fr": "fr", "francais": "fr", "french": "fr", "en": "en", "english": "en", "anglais": "en"}


def _size_band(value: str) -> str:
    digits = value.replace(" ", "").replace("\u202f", "").replace(".", "").replace(",", "")
    if digits.isdigit():
        n = int(digits)
        for band, upper in (("0", 0), ("1-9", 9), ("10-49", 49), ("50-249", 249), ("250-999", 999)):
            if n <= upper:
                return band
        return "1000+"
    return value


def _read_organization(values: dict[str, str]) -> dict[str, str]:
    if "kind" in values:
        values["kind"] = KIND_VALUES.get(normalize(values["kind"]), values["kind"])
    if "size_band" in values:
        values["size_band"] = _size_band(values["size_band"])
    return values


def _read_person(values: dict[str, str]) -> dict[str, str]:
    if "function" in values:
        values["function"] = FUNCTION_VALUES.get(normalize(values["function"]), values["function"])
    if "language" in values:
        values["language"] = LANGUAGE_VALUES.get(normalize(values["language"]), values["language"])
    return values


# kind: (the record's form, the fields it needs even when the file has no such column, how values are read)
RECORDS = {
    "organizations": (OrganizationForm, ("legal_name", "siren", "siret"), _read_organization),  # SIREN from SIRET
    "persons": (PersonForm, ("last_name",), _read_person),
}


def validate_rows(kind: str, header: list[str], columns: dict[int, str], body: Iterable[tuple[int, list[str]]],
                  count: int, report: ImportReport, *, on_duplicate: str,
                  progress: Callable[[int, int], None]) -> ImportPlan:
    """Validate every row with the record's form: the valid rows, cleaned, start the plan.

    A bad row's errors go to the report (line, column, message); ``progress(done, count)``
    every 500 rows.  One form instance, re-processed per row, holding only the fields
    the file has.
    """
    form_class, always, read = RECORDS[kind]
    mark = time.perf_counter()
    plan = ImportPlan(kind=kind, report=report, on_duplicate=on_duplicate,
                      column_of={f: header[i] for i, f in columns.items()})
    form = form_class(formdata=None, meta={"csrf": False}, check_duplicates=False)
    for name in list(form._fields):  # validate what the file holds, nothing else, once per row
        if name not in plan.column_of and name not in always:
            del form[name]
    width = len(header)
    fields = list(form._fields)
    for done, (line, cells) in enumerate(body, 1):
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            report.add_error(line, "", _("This row has %(n)s values; the header names %(m)s columns.",
                                         n=len(cells), m=width))
            continue
        values = {columns[i]: cells[i].strip() for i in columns if i < len(cells) and cells[i].strip()}
        values = read(values)
        form.process(formdata=MultiDict([(k, v) for k, v in values.items() if k in form._fields]))
        if not form.validate():
            for fieldname, messages in form.errors.items():
                for message in messages:
                    report.add_error(line, plan.column(fieldname), message)
            continue
        cleaned = {f: form[f].data for f in fields}
        cleaned.update({k: v for k, v in values.items() if k not in form._fields})
        plan.rows.append((line, cleaned))
        if done % 500 == 0:
            progress(done, count)
    report.phases["validate"] = round(time.perf_counter() - mark, 3)
    return plan
