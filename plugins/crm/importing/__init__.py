"""CSV and XLSX import of organizations and persons, validated row by row, written all or nothing.

:func:`import_file` reads a file (:mod:`.reading`: CSV or XLSX, encoding and delimiter
detected, columns recognized), puts every row through the same WTForms form as the pages
and the API (:mod:`.validation`), looks duplicates up set-based and matches them, to update
or skip (:mod:`.matching`), and writes the new and changed records with bulk statements in
one transaction, under the write lock (:mod:`.writing`).  A dry run reports every bad row
(line, column, message) and writes nothing; a real run with any bad row writes nothing
either.  The web import runs it in background jobs (:mod:`.jobs`).
"""

from __future__ import annotations

from .importer import import_file
from .jobs import check_upload, run_checked_import, run_import_job
from .reading import KINDS, MAX_IMPORT_BYTES, ORGANIZATION_ALIASES, PERSON_ALIASES
from .report import ImportPlan, ImportRefused, ImportReport, RowError, RowsRefused

__all__ = [
    "import_file", "check_upload", "run_checked_import", "run_import_job", "KINDS", "MAX_IMPORT_BYTES",
    "ORGANIZATION_ALIASES", "PERSON_ALIASES", "ImportPlan", "ImportRefused", "ImportReport", "RowError", "RowsRefused",
]
