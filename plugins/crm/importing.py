"""CSV and XLSX import of organizations and persons, validated row by row, written all or nothing.

Every row goes through the same WTForms form as the pages and the API (one form
instance, re-processed per row).  Duplicates are looked up set-based (one query per
batch of keys) and matched, then updated or skipped; new rows are written with bulk
``INSERT``s in one transaction.  A dry run reports every bad row (line, column,
message) and writes nothing; a real run with any bad row writes nothing either.
"""

from __future__ import annotations

import csv
import io
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, text, update
from werkzeug.datastructures import MultiDict

from core import audit, db, unneutralize, utcnow

from .models import (
    ORGANIZATION_KINDS,
    PERSON_FUNCTIONS,
    SIZE_BANDS,
    Organization,
    OrganizationTag,
    Person,
    PersonOrganization,
    organization_search_text,
    person_search_text,
)
from .text import normalize

MAX_IMPORT_BYTES = 50 * 1024 * 1024
KINDS = ("organizations", "persons")
BATCH = 5000
MAX_REPORTED_ERRORS = 1000

# file column (normalized) -> field
ORGANIZATION_ALIASES = {
    "id": ["id", "grappe_id"],
    "legal_name": ["legal_name", "name", "raison_sociale", "denomination", "company", "company_name", "organization",
                   "organisation", "nom", "societe", "entreprise", "firma", "firmenname", "unternehmen"],
    "trade_name": ["trade_name", "enseigne", "nom_commercial", "brand", "handelsname", "marke"],
    "siren": ["siren", "numero_siren"],
    "siret": ["siret", "numero_siret"],
    "vat_number": ["vat_number", "vat", "tva", "numero_tva", "tva_intracommunautaire", "uid", "uid_nummer",
                   "ust_idnr", "vat_id"],
    "kind": ["kind", "type", "nature", "art"],
    "sector": ["sector", "nace", "nace_code", "naf", "code_naf", "ape", "code_ape", "branche", "secteur"],
    "size_band": ["size_band", "size", "employees", "effectif", "tranche_effectif", "mitarbeiter", "salaries"],
    "street": ["street", "address", "adresse", "rue", "strasse", "address_line"],
    "postcode": ["postcode", "postal_code", "zip", "zip_code", "code_postal", "cp", "plz"],
    "city": ["city", "town", "ville", "commune", "ort", "stadt"],
    "country": ["country", "pays", "land", "country_code"],
    "website": ["website", "web", "site", "url", "site_web", "homepage"],
    "tags": ["tags", "labels", "mots_cles", "etiquettes", "schlagworte"],
    "parent_id": ["parent_id"],
}
PERSON_ALIASES = {
    "id": ["id", "grappe_id"],
    "first_name": ["first_name", "firstname", "given_name", "prenom", "vorname"],
    "last_name": ["last_name", "lastname", "surname", "family_name", "name", "nom", "nom_de_famille", "nachname"],
    "email": ["email", "e_mail", "mail", "courriel", "adresse_email", "email_address"],
    "phone": ["phone", "telephone", "tel", "mobile", "portable", "telefon", "phone_number"],
    "job_title": ["job_title", "title", "position", "poste", "fonction_exacte", "titre", "job", "position_title"],
    "function": ["function", "fonction", "department", "service", "abteilung", "funktion"],
    "language": ["language", "langue", "lang", "sprache"],
    "organization_id": ["organization_id", "organisation_id", "company_id"],
    "organization": ["organization", "organisation", "company", "entreprise", "societe", "firma", "employer",
                     "raison_sociale", "organization_name"],
    "organization_siren": ["organization_siren", "siren", "company_siren"],
    "organization_vat": ["organization_vat", "vat", "vat_number", "tva", "uid"],
    "role": ["role", "role_in_organization", "rolle"],
}
REQUIRED = {"organizations": "legal_name", "persons": "last_name"}

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


class ImportRefused(ValueError):
    """The file cannot be read at all (too large, empty, not CSV or XLSX)."""


class RowsRefused(Exception):
    """Rows the write found wrong after all (``[(line, column, message)]``): nothing is kept."""

    def __init__(self, errors: list[tuple[int, str, str]]):
        super().__init__("; ".join(message for _line, _column, message in errors))
        self.errors = errors


@dataclass
class RowError:
    line: int
    column: str
    message: str


@dataclass
class ImportReport:
    """What an import did (or would do, for a dry run)."""

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
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # file column -> field
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # read, validate, match, write: seconds
    written: bool = False

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, line: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, column, str(message)))

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ImportReport":
        data = dict(data)
        data.pop("ok", None)
        errors = [RowError(**e) for e in data.pop("errors", [])]
        return cls(errors=errors, **data)


# -- reading files -------------------------------------------------------------------
def read_bytes(source: Any) -> tuple[bytes, str]:
    """The file's bytes and name, from a path, bytes or a file object; refused when too large."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), ""
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            from flask import current_app

            current_app.logger.warning("crm import: no file at %s", path)  # the path stays in the log
            raise ImportRefused(_("The file to import is no longer on the server (it was imported already, "
                                  "or it waited more than two days): upload it again."))
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise ImportRefused(_too_large(path.stat().st_size))
        data, name = path.read_bytes(), path.name
    else:
        data = source.read(MAX_IMPORT_BYTES + 1)
        name = getattr(source, "filename", None) or getattr(source, "name", "") or ""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(_too_large(len(data)))
    return data, str(name)


def _too_large(size: int) -> str:
    return _("The file is %(size)s MB; the import takes at most %(max)s MB: split it in several files.",
             size=round(size / 1024 / 1024, 1), max=MAX_IMPORT_BYTES // 1024 // 1024)


def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding: UTF-8 (with or without BOM), else Windows-1252/Latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def detect_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(data: bytes, filename: str, report: ImportReport, delimiter: str | None = None,
               encoding: str | None = None) -> tuple[list[str], Iterable[tuple[int, list[str]]], int]:
    """Header, rows as ``(line, cells)`` and the row count, from CSV or XLSX bytes."""
    if not data.strip():
        raise ImportRefused(_("The file is empty."))
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, report)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or filename.lower().endswith(".xls"):
        raise ImportRefused(_("Old Excel files (.xls) are not read: save the sheet as .xlsx or CSV."))
    if encoding:
        try:
            text = data.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ImportRefused(_("The file is not in the encoding %(enc)s: %(why)s", enc=encoding, why=str(exc)))
        report.encoding = encoding
    else:
        text, report.encoding = decode(data)
    if "\x00" in text:
        raise ImportRefused(_("This is not a CSV text file (it holds binary data)."))
    first = text.split("\n", 1)[0]
    report.delimiter = delimiter or detect_delimiter(first)
    lines = text.splitlines()
    reader = csv.reader(lines, delimiter=report.delimiter, strict=True)
    try:
        # a cell our export neutralized ("'=...", "'+33 ...") comes back as it was typed
        rows = [[unneutralize(cell) for cell in row] for row in reader]
    except csv.Error as exc:
        raise ImportRefused(_("The CSV is malformed near line %(line)s: %(why)s", line=reader.line_num, why=str(exc)))
    if not rows or not any(c.strip() for c in rows[0]):
        raise ImportRefused(_("The first line must name the columns."))
    header = rows[0]
    body = [(n, cells) for n, cells in enumerate(rows[1:], 2) if any(c.strip() for c in cells)]
    return header, body, len(body)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, report: ImportReport):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
        raise ImportRefused(_("This XLSX file cannot be read: %(why)s", why=str(exc) or type(exc).__name__))
    sheet = workbook.worksheets[0]
    report.encoding, report.delimiter = "xlsx", ""
    rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    if not rows or not any(c.strip() for c in rows[0]):
        raise ImportRefused(_("The first row of the first sheet must name the columns."))
    header = rows[0]
    body = [(n, cells) for n, cells in enumerate(rows[1:], 2) if any(c.strip() for c in cells)]
    return header, body, len(body)


def map_columns(header: list[str], kind: str, mapping: dict[str, str] | None, report: ImportReport) -> dict[int, str]:
    """Column index -> field, from the explicit mapping or the aliases."""
    aliases = ORGANIZATION_ALIASES if kind == "organizations" else PERSON_ALIASES
    lookup = {}
    for fieldname, names in aliases.items():
        for name in names:
            lookup.setdefault(name, fieldname)
    explicit = {normalize(k): v for k, v in (mapping or {}).items()}
    out: dict[int, str] = {}
    for index, raw in enumerate(header):
        key = normalize(raw).replace(" ", "_").replace("-", "_").strip("_")
        if key in explicit or normalize(raw) in explicit:
            fieldname = explicit.get(key) or explicit.get(normalize(raw))
            if fieldname not in aliases:
                raise ImportRefused(_("The mapping names an unknown field: %(f)s.", f=fieldname))
        else:
            fieldname = lookup.get(key)
        if fieldname is None or fieldname in out.values():
            if raw.strip():
                report.ignored_columns.append(raw)
            continue
        out[index] = fieldname
        report.columns[raw] = fieldname
    if REQUIRED[kind] not in out.values():
        raise ImportRefused(_("No column for %(field)s: name a column %(names)s, or give a mapping.",
                              field=REQUIRED[kind], names=" or ".join(f"“{n}”" for n in aliases[REQUIRED[kind]][:4])))
    return out


# -- the import ------------------------------------------------------------------------
def import_file(source: Any, kind: str, *, dry_run: bool = False, on_duplicate: str = "update",
                mapping: dict[str, str] | None = None, progress: Callable[[int, int], None] | None = None,
                delimiter: str | None = None, encoding: str | None = None, filename: str | None = None,
                user_id: int | None = None) -> ImportReport:
    """Import organizations or persons from a CSV or XLSX file (path, bytes or file object).

    :param kind: ``"organizations"`` or ``"persons"``.
    :param dry_run: validate and match only; write nothing.
    :param on_duplicate: ``"update"`` the matched record, or ``"skip"`` the row.
    :param mapping: ``{file column: field}`` where the column names are not the usual ones.
    :param progress: ``progress(done, total)``, called every few hundred rows.
    :returns: the report; ``report.ok`` is false when a row is bad (then nothing is written).
    :raises ImportRefused: the file cannot be read at all.

    The import runs on ``db.session``: a real run ends the session's transaction, writes
    in a transaction of its own (holding SQLite's write lock) and commits it.
    """
    if kind not in KINDS:
        raise ImportRefused(_("Import what? organizations or persons (not %(kind)s).", kind=kind))
    if on_duplicate not in ("update", "skip"):
        raise ImportRefused(_("On a duplicate: update or skip."))
    started = time.perf_counter()
    data, name = read_bytes(source)
    report = ImportReport(kind=kind, dry_run=dry_run, filename=filename or name)
    header, body, count = read_table(data, report.filename, report, delimiter=delimiter, encoding=encoding)
    del data
    columns = map_columns(header, kind, mapping, report)
    report.rows = count
    report.phases["read"] = round(time.perf_counter() - started, 3)
    importer = (_OrganizationImport if kind == "organizations" else _PersonImport)(report, on_duplicate, progress)
    importer.validate(header, columns, body, count)
    if report.ok and not dry_run:
        try:
            mark = time.perf_counter()
            importer.write(user_id)
            db.session.commit()
            report.phases["write"] = round(time.perf_counter() - mark, 3)
            report.written = True
        except RowsRefused as exc:  # a check the write repeated under its lock: nothing is kept
            db.session.rollback()
            for line, column, message in exc.errors:
                report.add_error(line, column, message)
            report.created = report.updated = report.organizations_created = 0
        except Exception as exc:  # noqa: BLE001 - the database refused: nothing is kept
            db.session.rollback()
            report.add_error(0, "", _("The database refused the import, nothing was written: %(why)s",
                                      why=str(exc).splitlines()[0][:300]))
            report.created = report.updated = report.organizations_created = 0
    report.seconds = round(time.perf_counter() - started, 3)
    return report


class _Import:
    form_class: type
    key_fields: tuple[str, ...] = ()

    def __init__(self, report: ImportReport, on_duplicate: str, progress):
        self.report = report
        self.on_duplicate = on_duplicate
        self.progress = progress or (lambda done, total: None)
        self.rows: list[tuple[int, dict]] = []  # (line, cleaned values)
        self.column_of: dict[str, str] = {}

    def prepare(self, values: dict[str, str]) -> dict[str, str]:
        return values

    always: tuple[str, ...] = ()  # fields the form needs even when the file has no such column

    def validate(self, header, columns: dict[int, str], body, count: int) -> None:
        report = self.report
        mark = time.perf_counter()
        self.column_of = {f: header[i] for i, f in columns.items()}
        form = self.form_class(formdata=None, meta={"csrf": False}, check_duplicates=False)
        for name in list(form._fields):  # validate what the file holds, nothing else, once per row
            if name not in self.column_of and name not in self.always:
                del form[name]
        width = len(header)
        fields = list(form._fields)
        for done, (line, cells) in enumerate(body, 1):
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                report.add_error(line, "", _("This row has %(n)s values; the header names %(m)s columns.",
                                             n=len(cells), m=width))
                continue
            values = {columns[i]: cells[i].strip() for i in columns if i < len(cells) and cells[i].strip()}
            values = self.prepare(values)
            form.process(formdata=MultiDict([(k, v) for k, v in values.items() if k in form._fields]))
            if not form.validate():
                for fieldname, messages in form.errors.items():
                    for message in messages:
                        report.add_error(line, self.column_of.get(fieldname, fieldname), message)
                continue
            cleaned = {f: form[f].data for f in fields}
            cleaned.update({k: v for k, v in values.items() if k not in form._fields})
            self.rows.append((line, cleaned))
            if done % 500 == 0:
                self.progress(done, count)
        report.phases["validate"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        self.match()
        report.phases["match"] = round(time.perf_counter() - mark, 3)
        self.progress(count, count)

    def match(self) -> None:
        raise NotImplementedError

    def write(self, user_id: int | None) -> None:
        raise NotImplementedError

    def begin_write(self) -> None:
        """End the reading transaction; hold the write lock (SQLite) from the first statement."""
        db.session.rollback()
        db.session.connection(execution_options={"sqlite_immediate": True})
        self._next_id: dict[str, int] = {}

    def insert_rows(self, model, rows: list[dict]) -> list[int]:
        """Insert rows with one ``executemany`` and return their new ids, in order.

        The ids are allocated first (SQLite: after the largest, under the write lock the
        transaction holds; PostgreSQL: from the table's sequence), so no ``RETURNING``
        is needed: it doubles the cost of a bulk insert on SQLite.
        """
        if not rows:
            return []
        table = model.__table__
        conn = db.session.connection()
        if conn.dialect.name == "postgresql":
            ids = list(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                                         "FROM generate_series(1, :n)"), {"t": table.name, "n": len(rows)}).scalars())
        else:
            start = self._next_id.get(table.name)
            if start is None:
                start = (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1
            ids = list(range(start, start + len(rows)))
            self._next_id[table.name] = start + len(rows)
        for ident, row in zip(ids, rows):
            row["id"] = ident
        conn.execute(table.insert(), rows)
        return ids

    @contextmanager
    def indexed_after(self, model):
        """Bulk-insert rows of ``model``, then index them for search in one statement.

        On SQLite the per-row trigger that feeds the trigram index costs six times a
        single ``INSERT ... SELECT``: it is dropped for the bulk insert and recreated,
        inside the same transaction (which holds the write lock, so no other writer
        can miss it; a failure rolls everything back, trigger included).
        """
        from .filters import fts_insert_trigger, fts_ready, fts_table

        if not fts_ready(model):
            yield
            return
        table = model.__tablename__
        conn = db.session.connection()
        first = (conn.execute(select(func.max(model.id))).scalar() or 0) + 1
        conn.exec_driver_sql(f"DROP TRIGGER {table}_fts_insert")
        yield
        conn.exec_driver_sql(f"INSERT INTO {fts_table(model)}(rowid, search) SELECT id, search FROM {table} "
                             f"WHERE id >= ?", (first,))
        conn.exec_driver_sql(fts_insert_trigger(model))

    def insert_links(self, model, rows: list[dict]) -> None:
        conn = db.session.connection()
        for start in range(0, len(rows), BATCH):
            conn.execute(model.__table__.insert(), rows[start:start + BATCH])

    def _lookup(self, column, values: set) -> dict:
        """Existing records by a key column, one query per batch of keys."""
        out = {}
        values = [v for v in values if v]
        model = column.class_
        for start in range(0, len(values), BATCH):
            chunk = values[start:start + BATCH]
            for ident, value in db.session.execute(select(model.id, column).where(column.in_(chunk))):
                out[value] = ident
        return out

    def _in_file_duplicates(self, keys: tuple[str, ...]) -> None:
        seen: dict[tuple[str, str], int] = {}
        kept = []
        for line, row in self.rows:
            bad = False
            for key in keys:
                value = row.get(key)
                if value:
                    first = seen.setdefault((key, value), line)
                    if first != line:
                        self.report.add_error(line, self.column_of.get(key, key),
                                              _("Same value as line %(line)s.", line=first))
                        bad = True
            if not bad:
                kept.append((line, row))
        self.rows = kept

    def _classify(self, line: int, row: dict, found) -> None:
        """File a valid row as new, duplicate to update, or duplicate to skip."""
        existing = self._resolve(line, row, found)
        if existing is False:
            return
        if existing is None:
            self.new.append(row)
        elif self.on_duplicate == "skip":
            self.report.skipped += 1
        else:
            self.changed.append((existing, row))

    def _resolve(self, line: int, row: dict, found: dict[str, dict]) -> int | None | bool:
        """The existing record a row matches (by id or a key), None for a new one, False if ambiguous."""
        matches: dict[int, str] = {}
        if row.get("id"):
            if not str(row["id"]).isdigit() or int(row["id"]) not in found["id"]:
                self.report.add_error(line, self.column_of.get("id", "id"), _("No record has this id."))
                return False
            matches[int(row["id"])] = "id"
        for key in self.key_fields:
            value = row.get(key)
            if value and value in found[key]:
                matches.setdefault(found[key][value], key)
        if len(matches) > 1:
            self.report.add_error(line, "", _("This row matches several records: %(which)s.", which=", ".join(
                f"#{i} ({k})" for i, k in matches.items())))
            return False
        return next(iter(matches), None)


def _size_band(value: str) -> str:
    digits = value.replace(" ", "").replace("\u202f", "").replace(".", "").replace(",", "")
    if digits.isdigit():
        n = int(digits)
        for band, upper in (("0", 0), ("1-9", 9), ("10-49", 49), ("50-249", 249), ("250-999", 999)):
            if n <= upper:
                return band
        return "1000+"
    return value


class _OrganizationImport(_Import):
    key_fields = ("siren", "siret", "vat_number")
    always = ("legal_name", "siren", "siret")  # the form derives the SIREN from the SIRET

    @property
    def form_class(self):
        from .forms import OrganizationForm

        return OrganizationForm

    def prepare(self, values):
        if "kind" in values:
            values["kind"] = KIND_VALUES.get(normalize(values["kind"]), values["kind"])
        if "size_band" in values:
            values["size_band"] = _size_band(values["size_band"])
            if values["size_band"] not in SIZE_BANDS:
                values["size_band"] = values["size_band"]
        return values

    def match(self) -> None:
        self._in_file_duplicates(self.key_fields)
        ids = {int(r["id"]) for _l, r in self.rows if str(r.get("id") or "").isdigit()}
        found = {"id": set(self._lookup(Organization.id, ids)) if ids else set()}
        for key in self.key_fields:
            found[key] = self._lookup(getattr(Organization, key), {r.get(key) for _l, r in self.rows})
        parents = {r["parent_id"] for _l, r in self.rows if r.get("parent_id")}
        known_parents = set(self._lookup(Organization.id, parents)) if parents else set()
        self.new, self.changed = [], []
        for line, row in self.rows:
            if row.get("parent_id") and row["parent_id"] not in known_parents:
                self.report.add_error(line, self.column_of.get("parent_id", "parent_id"),
                                      _("No organization has this id."))
                continue
            row["_line"] = line
            self._classify(line, row, found)
        if "parent_id" in self.column_of:
            self._check_hierarchy()
        self.report.created = len(self.new)
        self.report.updated = len(self.changed)

    def _check_hierarchy(self) -> None:
        """The file's parents, all together with the database's, must leave a tree.

        A row may give a parent to an organization another row moves (``P`` under ``Q`` on
        one line, ``Q`` under ``P`` on another): the check sees every row's parent at once.
        Only the parents that change are checked, so a row about an organization caught
        in a loop written before, leaving its parent as it is, is taken.  New rows cannot
        be anyone's parent (no id yet): only a parent whose hierarchy loops refuses them.
        """
        from .services import hierarchy_message, hierarchy_problems

        moves = {oid: row.get("parent_id") or None for oid, row in self.changed}
        ids, current = list(moves), {}
        for start in range(0, len(ids), BATCH):
            current.update(db.session.execute(select(Organization.id, Organization.parent_id)
                                              .where(Organization.id.in_(ids[start:start + BATCH]))).all())
        check = [oid for oid, parent in moves.items() if parent is not None and parent != current.get(oid)]
        rows = {oid: row for oid, row in self.changed}
        for index, row in enumerate(self.new):  # a new row: a negative id of its own
            if row.get("parent_id"):
                moves[-1 - index] = row["parent_id"]
                check.append(-1 - index)
                rows[-1 - index] = row
        problems = hierarchy_problems(moves, check)
        if not problems:
            return
        for oid, problem in sorted(problems.items(), key=lambda item: rows[item[0]]["_line"]):
            row = rows[oid]
            name = row.get("trade_name") or row.get("legal_name") or f"#{oid}"
            self.report.add_error(row["_line"], self.column_of["parent_id"], hierarchy_message(problem, name))
        refused = {id(rows[oid]) for oid in problems}
        self.changed = [(oid, row) for oid, row in self.changed if id(row) not in refused]
        self.new = [row for row in self.new if id(row) not in refused]

    def _values(self, row: dict) -> dict:
        out = {}
        for name in ("legal_name", "trade_name", "siren", "siret", "vat_number", "kind", "sector", "size_band",
                     "street", "postcode", "city", "country", "website", "parent_id"):
            if name in self.column_of or name == "legal_name" or (name == "siren" and row.get("siren")):
                value = row.get(name)
                out[name] = (value or None) if name in ("siren", "siret", "vat_number", "parent_id") else (value or "")
        if not out.get("country") and "country" not in self.column_of:
            out.pop("country", None)
            if row.get("vat_number"):  # a VAT number says the country
                prefix = row["vat_number"][:2]
                out["country"] = "GR" if prefix == "EL" else prefix
        return out

    def write(self, user_id: int | None) -> None:
        from .services import hierarchy_loops, hierarchy_message, lock_hierarchy, tags_by_name

        self.begin_write()
        session = db.session
        moved: dict[int, dict] = {}
        if "parent_id" in self.column_of and self.changed:
            # the file was checked in another transaction: under the lock, the parents that
            # change now are checked again once written (another writer may have moved one)
            lock_hierarchy(session)
            ids = [oid for oid, _r in self.changed]
            before: dict[int, int | None] = {}
            for start in range(0, len(ids), BATCH):
                before.update(session.execute(select(Organization.id, Organization.parent_id)
                                              .where(Organization.id.in_(ids[start:start + BATCH]))).all())
            moved = {oid: row for oid, row in self.changed
                     if row.get("parent_id") and row["parent_id"] != before.get(oid)}
        now = utcnow()
        has_tags = "tags" in self.column_of
        all_tags = sorted({t for _r in self.new + [r for _i, r in self.changed] for t in (_r.get("tags") or [])})
        tags = tags_by_name(all_tags) if has_tags else {}
        session.flush()
        tag_rows = []
        with self.indexed_after(Organization):
            for start in range(0, len(self.new), BATCH):
                chunk = self.new[start:start + BATCH]
                params = []
                for row in chunk:
                    values = {"kind": "company", "country": "FR", "trade_name": "", "siren": None, "sector": "",
                              "size_band": "", "street": "", "postcode": "", "city": "", "website": "",
                              "siret": None, "vat_number": None, "parent_id": None, **self._values(row)}
                    name = values["trade_name"] or values["legal_name"]
                    values["name_key"] = normalize(name)[:200]
                    values["search"] = organization_search_text(
                        values["legal_name"], values["trade_name"], values["siren"], values["siret"],
                        values["vat_number"], values["postcode"], values["city"], row.get("tags") or [])
                    values["created_at"] = values["updated_at"] = now
                    params.append(values)
                new_ids = self.insert_rows(Organization, params)
                for oid, row in zip(new_ids, chunk):
                    for tag in row.get("tags") or []:
                        tag_rows.append({"organization_id": oid, "tag_id": tags[normalize(tag)].id})
        if self.changed:
            current = {}
            changed_ids = [i for i, _r in self.changed]
            for start in range(0, len(changed_ids), BATCH):
                for org in session.execute(select(Organization.id, Organization.legal_name, Organization.trade_name,
                                                  Organization.siren, Organization.siret, Organization.vat_number,
                                                  Organization.postcode, Organization.city)
                                           .where(Organization.id.in_(changed_ids[start:start + BATCH]))):
                    current[org.id] = org._asdict()
            existing_tags: dict[int, list[str]] = {}
            if not has_tags:
                from .models import Tag

                for start in range(0, len(changed_ids), BATCH):
                    for oid, tname in session.execute(
                            select(OrganizationTag.organization_id, Tag.name).join(Tag, Tag.id == OrganizationTag.tag_id)
                            .where(OrganizationTag.organization_id.in_(changed_ids[start:start + BATCH]))):
                        existing_tags.setdefault(oid, []).append(tname)
            params = []
            for oid, row in self.changed:
                values = {**current[oid], **self._values(row)}
                values["id"] = oid
                values["name_key"] = normalize(values["trade_name"] or values["legal_name"])[:200]
                tag_names = row.get("tags") or [] if has_tags else existing_tags.get(oid, [])
                values["search"] = organization_search_text(
                    values["legal_name"], values["trade_name"], values["siren"], values["siret"],
                    values["vat_number"], values["postcode"], values["city"], tag_names)
                values["updated_at"] = now
                params.append(values)
            for start in range(0, len(params), BATCH):
                session.execute(update(Organization), params[start:start + BATCH])
            if has_tags:
                for start in range(0, len(changed_ids), BATCH):
                    session.execute(delete(OrganizationTag).where(
                        OrganizationTag.organization_id.in_(changed_ids[start:start + BATCH])))
                for oid, row in self.changed:
                    for tag in row.get("tags") or []:
                        tag_rows.append({"organization_id": oid, "tag_id": tags[normalize(tag)].id})
        self.insert_links(OrganizationTag, tag_rows)
        problems = hierarchy_loops(moved, session) if moved else {}
        if problems:
            raise RowsRefused([(moved[oid]["_line"], self.column_of["parent_id"], hierarchy_message(
                problem, moved[oid].get("trade_name") or moved[oid].get("legal_name") or f"#{oid}"))
                for oid, problem in sorted(problems.items(), key=lambda item: moved[item[0]]["_line"])])
        audit("import", object_type="crm.organization", user_id=user_id, session=session,
              summary=f"organizations imported from {self.report.filename or 'a file'}: "
                      f"{self.report.created} created, {self.report.updated} updated, {self.report.skipped} skipped")


class _PersonImport(_Import):
    key_fields = ("email",)
    always = ("last_name",)

    @property
    def form_class(self):
        from .forms import PersonForm

        return PersonForm

    def prepare(self, values):
        if "function" in values:
            values["function"] = FUNCTION_VALUES.get(normalize(values["function"]), values["function"])
        if "language" in values:
            values["language"] = LANGUAGE_VALUES.get(normalize(values["language"]), values["language"])
        return values

    def match(self) -> None:
        from stdnum.eu import vat as stdvat
        from stdnum.fr import siren as stdsiren

        self._in_file_duplicates(self.key_fields)
        ids = {int(r["id"]) for _l, r in self.rows if str(r.get("id") or "").isdigit()}
        found = {"id": set(self._lookup(Person.id, ids)) if ids else set(),
                 "email": self._lookup(Person.email, {r.get("email") for _l, r in self.rows})}
        # organizations referred to, set-based
        for _line, row in self.rows:
            if row.get("organization_siren"):
                row["organization_siren"] = stdsiren.compact(row["organization_siren"])
            if row.get("organization_vat"):
                row["organization_vat"] = stdvat.compact(row["organization_vat"]).upper()
        org_ids = set(self._lookup(Organization.id, {r["organization_id"] for _l, r in self.rows
                                                     if r.get("organization_id")}))
        by_siren = self._lookup(Organization.siren, {r.get("organization_siren") for _l, r in self.rows})
        by_vat = self._lookup(Organization.vat_number, {r.get("organization_vat") for _l, r in self.rows})
        names = {normalize(r["organization"]) for _l, r in self.rows if r.get("organization")}
        by_name = {}
        names = sorted(names)
        for start in range(0, len(names), BATCH):
            keys = names[start:start + BATCH]
            for oid, key in db.session.execute(select(Organization.id, Organization.name_key)
                                               .where(Organization.name_key.in_(keys)).order_by(Organization.id.desc())):
                by_name[key] = oid
        self.new, self.changed, self.new_orgs = [], [], {}
        for line, row in self.rows:
            org_id, ok = None, True
            if row.get("organization_id"):
                if row["organization_id"] not in org_ids:
                    self.report.add_error(line, self.column_of["organization_id"], _("No organization has this id."))
                    ok = False
                org_id = row["organization_id"]
            elif row.get("organization_siren"):
                org_id = by_siren.get(row["organization_siren"])
                if org_id is None:
                    self.report.add_error(line, self.column_of["organization_siren"],
                                          _("No organization has this SIREN."))
                    ok = False
            elif row.get("organization_vat"):
                org_id = by_vat.get(row["organization_vat"])
                if org_id is None:
                    self.report.add_error(line, self.column_of["organization_vat"],
                                          _("No organization has this VAT number."))
                    ok = False
            elif row.get("organization"):
                key = normalize(row["organization"])
                org_id = by_name.get(key)
                if org_id is None:
                    if len(row["organization"]) > 200:
                        self.report.add_error(line, self.column_of["organization"], _("At most 200 characters."))
                        ok = False
                    self.new_orgs.setdefault(key, " ".join(row["organization"].split()))
            if not ok:
                continue
            row["_org"] = org_id
            row["_org_key"] = normalize(row["organization"]) if org_id is None and row.get("organization") else None
            self._classify(line, row, found)
        self.report.created = len(self.new)
        self.report.updated = len(self.changed)
        self.report.organizations_created = len(self.new_orgs) if self.report.ok else 0

    FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "function", "language")

    def _values(self, row: dict) -> dict:
        out = {}
        for name in self.FIELDS:
            if name in self.column_of or name == "last_name":
                value = row.get(name)
                out[name] = (value or None) if name == "email" else (value or "")
        return out

    def write(self, user_id: int | None) -> None:
        self.begin_write()
        session = db.session
        now = utcnow()
        org_by_key: dict[str, int] = {}
        if self.new_orgs:
            keys = list(self.new_orgs)
            with self.indexed_after(Organization):
                for start in range(0, len(keys), BATCH):
                    chunk = keys[start:start + BATCH]
                    params = [{"legal_name": self.new_orgs[k][:200], "name_key": k[:200], "kind": "company",
                               "country": "", "created_at": now, "updated_at": now,
                               "search": organization_search_text(self.new_orgs[k], "", None, None, None, "", "", [])}
                              for k in chunk]
                    ids = self.insert_rows(Organization, params)
                    org_by_key.update(zip(chunk, ids))
        links = []
        with self.indexed_after(Person):
            for start in range(0, len(self.new), BATCH):
                chunk = self.new[start:start + BATCH]
                params = []
                for row in chunk:
                    values = {"first_name": "", "phone": "", "job_title": "", "function": "", "language": "",
                              "email": None, **self._values(row)}
                    values["name_key"] = normalize(values["last_name"], values["first_name"])[:200]
                    values["search"] = person_search_text(values["first_name"], values["last_name"],
                                                          values["email"], values["phone"])
                    values["source"] = "import"
                    values["created_at"] = values["updated_at"] = now
                    params.append(values)
                ids = self.insert_rows(Person, params)
                for pid, row in zip(ids, chunk):
                    org_id = row["_org"] or (org_by_key.get(row["_org_key"]) if row.get("_org_key") else None)
                    if org_id:
                        links.append({"person_id": pid, "organization_id": org_id, "role": row.get("role") or "",
                                      "main": True})
        if self.changed:
            current = {}
            changed_ids = [i for i, _r in self.changed]
            for start in range(0, len(changed_ids), BATCH):
                for p in session.execute(select(Person.id, Person.first_name, Person.last_name, Person.email,
                                                Person.phone).where(Person.id.in_(changed_ids[start:start + BATCH]))):
                    current[p.id] = p._asdict()
            existing_links = set()
            for start in range(0, len(changed_ids), BATCH):
                existing_links.update(session.execute(
                    select(PersonOrganization.person_id, PersonOrganization.organization_id)
                    .where(PersonOrganization.person_id.in_(changed_ids[start:start + BATCH]))).all())
            params = []
            for pid, row in self.changed:
                values = {**current[pid], **self._values(row), "id": pid, "updated_at": now}
                values["name_key"] = normalize(values["last_name"], values["first_name"])[:200]
                values["search"] = person_search_text(values["first_name"], values["last_name"], values["email"],
                                                      values["phone"])
                params.append(values)
                org_id = row["_org"] or (org_by_key.get(row["_org_key"]) if row.get("_org_key") else None)
                if org_id and (pid, org_id) not in existing_links:
                    has_any = any(p == pid for p, _o in existing_links)
                    links.append({"person_id": pid, "organization_id": org_id, "role": row.get("role") or "",
                                  "main": not has_any})
            for start in range(0, len(params), BATCH):
                session.execute(update(Person), params[start:start + BATCH])
        self.insert_links(PersonOrganization, links)
        audit("import", object_type="crm.person", user_id=user_id, session=session,
              summary=f"persons imported from {self.report.filename or 'a file'}: {self.report.created} created, "
                      f"{self.report.updated} updated, {self.report.skipped} skipped, "
                      f"{self.report.organizations_created} organizations created")


# -- uploads and the background job --------------------------------------------------------
def _forget_old_uploads(folder: Path, max_age: int = 2 * 86400) -> None:
    """Delete checked files nobody imported within two days (an import deletes its own)."""
    for path in folder.iterdir():
        try:
            if time.time() - path.stat().st_mtime > max_age:
                path.unlink()
        except OSError:
            pass


def check_upload(form, *, cluster_id: int, user_id: int | None):
    """Save a validated :class:`ImportForm`'s file and queue its check (a dry run); return the job.

    The file waits in the instance folder for "Import now" (the same file, imported for
    real by a second job, which deletes it).  :raises ImportRefused: the file is too large.
    """
    import uuid

    from flask import current_app

    from core import enqueue

    upload = form.file.data
    folder = Path(current_app.instance_path) / "crm-imports"
    folder.mkdir(parents=True, exist_ok=True)
    _forget_old_uploads(folder)
    path = folder / f"{uuid.uuid4().hex}{'.xlsx' if upload.filename.lower().endswith('.xlsx') else '.csv'}"
    size = 0
    with open(path, "wb") as out:
        while chunk := upload.stream.read(1 << 20):
            size += len(chunk)
            if size > MAX_IMPORT_BYTES:
                break
            out.write(chunk)
    if size > MAX_IMPORT_BYTES:
        path.unlink(missing_ok=True)
        raise ImportRefused(_too_large(size))
    params = {"path": str(path), "kind": form.kind.data, "dry_run": True, "on_duplicate": form.on_duplicate.data,
              "filename": upload.filename[:200], "user_id": user_id,
              "delimiter": {"tab": "\t"}.get(form.delimiter.data, form.delimiter.data) or None,
              "encoding": form.encoding.data or None, "mapping": getattr(form, "mapping_dict", None) or None}
    return enqueue("crm.import", cluster_id=cluster_id, params=params, user_id=user_id,
                   label=_("Check of %(file)s (%(kind)s)", file=upload.filename[:100], kind=form.kind.data))


def run_checked_import(job, *, cluster_id: int, user_id: int | None):
    """Queue the real import of a file a dry-run job found correct; None if it cannot be.

    Idempotent: a checked file is imported by one job, found again by its key (the
    upload's name); a second call returns that job, with ``existing`` True.
    """
    from core import enqueue, find_job

    params = dict(job.params)
    if not params.get("dry_run") or not (job.result or {}).get("report", {}).get("ok"):
        return None
    params["dry_run"] = False
    key = Path(params["path"]).name
    if not Path(params["path"]).is_file():  # imported (the import deletes it) or expired
        return find_job("crm.import", cluster_id=cluster_id, key=key)
    return enqueue("crm.import", cluster_id=cluster_id, params=params, user_id=user_id, key=key,
                   label=_("Import of %(file)s (%(kind)s)", file=params.get("filename", ""), kind=params["kind"]))


# -- background job --------------------------------------------------------------------
def run_import_job(job, *, path: str, kind: str, dry_run: bool = False, on_duplicate: str = "update",
                   mapping: dict | None = None, filename: str = "", user_id: int | None = None,
                   delimiter: str | None = None, encoding: str | None = None) -> dict:
    """The ``crm.import`` job: import a file saved in the instance folder, then delete it."""
    try:
        try:
            report = import_file(path, kind, dry_run=dry_run, on_duplicate=on_duplicate, mapping=mapping,
                                 progress=lambda done, total: job.progress(done, total), filename=filename,
                                 user_id=user_id, delimiter=delimiter, encoding=encoding)
        except ImportRefused as exc:
            report = ImportReport(kind=kind, dry_run=dry_run, filename=filename)
            report.add_error(0, "", str(exc))
        return {"report": report.as_dict()}
    finally:
        if not dry_run:
            Path(path).unlink(missing_ok=True)
