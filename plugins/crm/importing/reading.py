"""Reading an import file: its bytes (at most 50 MB), CSV (encoding and delimiter detected)
or XLSX, into a header and rows; and which column holds which field (aliases, or a mapping).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable

from flask_babel import gettext as _

from core import unneutralize

from ..text import normalize
from .report import ImportRefused, ImportReport

MAX_IMPORT_BYTES = 50 * 1024 * 1024
KINDS = ("organizations", "persons")

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
            raise ImportRefused(too_large(path.stat().st_size))
        data, name = path.read_bytes(), path.name
    else:
        data = source.read(MAX_IMPORT_BYTES + 1)
        name = getattr(source, "filename", None) or getattr(source, "name", "") or ""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(too_large(len(data)))
    return data, str(name)


def too_large(size: int) -> str:
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
