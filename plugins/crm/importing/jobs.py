"""The web import: an uploaded file waits in the instance folder, checked by a ``crm.import``
job (a dry run), then imported by a second one ("Import now"), which deletes it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from flask import current_app, g
from flask_babel import gettext as _

from core import db, enqueue, find_job

from .importer import import_file
from .reading import MAX_IMPORT_BYTES, too_large
from .report import ImportRefused, ImportReport


def _forget_old_uploads(folder: Path, max_age: int = 2 * 86400) -> None:
    """Delete checked files nobody imported within two days (an import deletes its own)."""
    for path in folder.iterdir():
        try:
            if time.time() - path.stat().st_mtime > max_age:
                path.unlink()
        except OSError:
            pass


def check_upload(form, *, user_id: int | None):
    """Save a validated :class:`ImportForm`'s file and queue its check (a dry run) in the
    request's cluster; return the job.

    The file waits in the instance folder for "Import now" (the same file, imported for
    real by a second job, which deletes it).  :raises ImportRefused: the file is too large.
    """
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
        raise ImportRefused(too_large(size))
    params = {"path": str(path), "kind": form.kind.data, "dry_run": True, "on_duplicate": form.on_duplicate.data,
              "filename": upload.filename[:200], "user_id": user_id,
              "delimiter": {"tab": "\t"}.get(form.delimiter.data, form.delimiter.data) or None,
              "encoding": form.encoding.data or None, "mapping": getattr(form, "mapping_dict", None) or None}
    return enqueue("crm.import", cluster_id=g.cluster.id, params=params, user_id=user_id,
                   label=_("Check of %(file)s (%(kind)s)", file=upload.filename[:100], kind=form.kind.data))


def run_checked_import(job, *, user_id: int | None):
    """Queue the real import of a file a dry-run job found correct (in that job's cluster);
    None if it cannot be.

    Idempotent: a checked file is imported by one job, found again by its key (the
    upload's name); a second call returns that job, with ``existing`` True.
    """
    params = dict(job.params)
    if not params.get("dry_run") or not (job.result or {}).get("report", {}).get("ok"):
        return None
    params["dry_run"] = False
    key = Path(params["path"]).name
    if not Path(params["path"]).is_file():  # imported (the import deletes it) or expired
        return find_job("crm.import", cluster_id=job.cluster_id, key=key)
    return enqueue("crm.import", cluster_id=job.cluster_id, params=params, user_id=user_id, key=key,
                   label=_("Import of %(file)s (%(kind)s)", file=params.get("filename", ""), kind=params["kind"]))


def run_import_job(job, *, path: str, kind: str, dry_run: bool = False, on_duplicate: str = "update",
                   mapping: dict | None = None, filename: str = "", user_id: int | None = None,
                   delimiter: str | None = None, encoding: str | None = None) -> dict:
    """The ``crm.import`` job: import a file saved in the instance folder, then delete it.

    The job's boundary: it commits the import (the runner then records the job's end).
    """
    try:
        try:
            report = import_file(path, kind, dry_run=dry_run, on_duplicate=on_duplicate, mapping=mapping,
                                 progress=lambda done, total: job.progress(done, total), filename=filename,
                                 user_id=user_id, delimiter=delimiter, encoding=encoding)
        except ImportRefused as exc:
            report = ImportReport(kind=kind, dry_run=dry_run, filename=filename)
            report.add_error(0, "", str(exc))
        db.session.commit()
        return {"report": report.as_dict()}
    except BaseException:
        db.session.rollback()  # nothing half-written waits for the runner (it needs the write lock)
        raise
    finally:
        if not dry_run:
            Path(path).unlink(missing_ok=True)
