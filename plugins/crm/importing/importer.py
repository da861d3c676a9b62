"""``import_file``: read a file, validate every row, match the rows, write them, all or nothing."""

from __future__ import annotations

import time
from typing import Any, Callable

from flask_babel import gettext as _

from core import db

from .matching import match_organizations, match_persons
from .reading import KINDS, map_columns, read_bytes, read_table
from .report import ImportRefused, ImportReport, RowsRefused
from .validation import validate_rows
from .writing import write_organizations, write_persons

MATCH = {"organizations": match_organizations, "persons": match_persons}
WRITE = {"organizations": write_organizations, "persons": write_persons}


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

    The import runs on ``db.session``.  A real run writes in the session's transaction,
    under the write lock (on SQLite, a transaction that only read and went stale
    meanwhile is ended first): the caller's boundary commits, the job or the command.
    A write that fails rolls the session's transaction back (nothing is kept).
    """
    if kind not in KINDS:
        raise ImportRefused(_("Import what? organizations or persons (not %(kind)s).", kind=kind))
    if on_duplicate not in ("update", "skip"):
        raise ImportRefused(_("On a duplicate: update or skip."))
    progress = progress or (lambda done, total: None)
    started = time.perf_counter()
    data, name = read_bytes(source)
    report = ImportReport(kind=kind, dry_run=dry_run, filename=filename or name)
    header, body, count = read_table(data, report.filename, report, delimiter=delimiter, encoding=encoding)
    del data
    columns = map_columns(header, kind, mapping, report)
    report.rows = count
    report.phases["read"] = round(time.perf_counter() - started, 3)
    plan = validate_rows(kind, header, columns, body, count, report, on_duplicate=on_duplicate, progress=progress)
    mark = time.perf_counter()
    MATCH[kind](plan)
    report.phases["match"] = round(time.perf_counter() - mark, 3)
    progress(count, count)
    if report.ok and not dry_run:
        try:
            mark = time.perf_counter()
            WRITE[kind](plan, user_id)
            db.session.flush()
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
