"""Background jobs: one service for long work, with progress in the database.

Embedded default: a SQLite queue in the instance folder, consumed by a thread that
``grappe serve`` and ``grappe demo`` start.  With ``GRAPPE_REDIS_URL`` the queue is
Redis and ``grappe worker`` processes (on any machine) consume it.  Jobs are plain
functions that plugins declare by name through the ``grappe_jobs`` hook.

A running job's worker refreshes the row's ``heartbeat_at`` (a thread of the worker, and
every progress report); :func:`sweep` marks ``running`` jobs whose heartbeat is older
than ``JOB_HEARTBEAT_TIMEOUT`` failed (their worker was killed), so they can be retried
(:func:`retry`).  The sweep runs every minute in the consumers, when a worker picks a job
up, and when a jobs page is shown.  Each run of a job is fenced by its ``attempts``
number: a run whose row was swept or retried meanwhile writes nothing more to it.

Starting a job with a ``key`` (:func:`enqueue`) is idempotent: while a job with the same
name, cluster and key is queued, running or done, that job is returned instead of a new one.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import traceback
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, request
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import and_, case, event, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from .database import _sqlite_busy, db, utcnow
from .models import JOB_CRASHED, JOB_LOST, Job

DEFAULT_HEARTBEAT_TIMEOUT = 300.0  # seconds without a heartbeat before a running job is declared lost
ACTIVE_OR_DONE = ("queued", "running", "done")  # a key that found one of these starts nothing
_T = Job.__table__
_CURRENT_VIEW = object()


class JobFailed(Exception):
    """Raise it from a job to end the job failed with this message, shown as is.

    The message is for the back-office's users: say what went wrong and what to do, in
    their words, never a server path or an exception's text.  Mark it with ``N_`` or
    ``_l``: a job runs outside any request, so it is stored in English and shown in the
    reader's language.  Any other exception ends the job failed with a generic message;
    its details (traceback) go to the log.
    """


class JobLost(Exception):
    """This run's job row is no longer its own: it was marked failed (its heartbeat was
    stale) or retried.  Raised by ``progress``; the run stops and writes nothing more."""


class JobContext:
    """What a running job gets: its row, a session for its work, and ``progress``."""

    def __init__(self, job: Job, session, attempt: int = 0):
        self.job = job
        self.id = job.id
        self.cluster_id = job.cluster_id
        self.session = session
        self.attempt = attempt  # this run's number (1 for the first run, 2 after a retry...)
        self._engine = db.engine
        self._last_report = 0.0

    def progress(self, done: int, total: int | None = None, message: str | None = None, force: bool = False) -> None:
        """Report progress (written at most a few times a second, in its own transaction).

        Also refreshes the heartbeat.  :raises JobLost: the job was marked failed or
        retried meanwhile (this run must stop).
        """
        now = time.monotonic()
        if not force and now - self._last_report < 0.3 and (total is None or done < total):
            return
        self._last_report = now
        values: dict[str, Any] = {"done": done, "heartbeat_at": utcnow()}
        if total is not None:
            values["total"] = total
        if message is not None:
            values["message"] = str(message)
        try:
            with self._engine.begin() as conn:
                mine = conn.execute(update(_T).where(_this_run(self.id, self.attempt)).values(values)).rowcount
        except OperationalError as exc:
            if not _sqlite_busy(exc):
                raise
            # SQLite: the write lock is held (often by this job's own transaction); the next report will do
            current_app.logger.debug("job %s: progress not written, the database is busy", self.id)
            return
        if mine == 0:
            raise JobLost(f"job {self.id} is no longer run {self.attempt}")

    def close(self) -> None:
        """Nothing left to release (kept for callers of the previous version)."""


def _this_run(job_id: int, attempt: int):
    return and_(_T.c.id == job_id, _T.c.status == "running", _T.c.attempts == attempt)


class _Heartbeat:
    """A thread refreshing a running job's ``heartbeat_at`` every ``interval`` seconds.

    A thread, not the job's progress reports alone: a job may spend minutes in one
    statement.  It dies with its process, which is what a stale heartbeat means.
    """

    def __init__(self, app: Flask, job_id: int, attempt: int, interval: float):
        self._engine = db.engine_for(app)
        self._logger = app.logger
        self.job_id, self.attempt, self.interval = job_id, attempt, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"grappe-job-{job_id}-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self._engine.begin() as conn:
                    mine = conn.execute(update(_T).where(_this_run(self.job_id, self.attempt))
                                        .values(heartbeat_at=utcnow())).rowcount
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                self._logger.warning("job %s: heartbeat not written (%s)", self.job_id, type(exc).__name__)
                continue
            if mine == 0:
                return  # finished, swept or retried: nothing more to keep alive

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return seconds


def init_app(app: Flask) -> None:
    timeout = _seconds(app.config.get("JOB_HEARTBEAT_TIMEOUT")
                       or os.environ.get("GRAPPE_JOB_HEARTBEAT_TIMEOUT") or DEFAULT_HEARTBEAT_TIMEOUT,
                       "GRAPPE_JOB_HEARTBEAT_TIMEOUT")
    app.config["JOB_HEARTBEAT_TIMEOUT"] = timeout
    app.config["JOB_HEARTBEAT_INTERVAL"] = _seconds(app.config.get("JOB_HEARTBEAT_INTERVAL") or min(30.0, timeout / 5),
                                                    "JOB_HEARTBEAT_INTERVAL")
    if app.config.get("JOBS_IMMEDIATE"):
        huey = MemoryHuey("grappe", immediate=True)
    elif app.config.get("REDIS_URL"):
        huey = RedisHuey(app.config.get("JOBS_QUEUE_NAME", "grappe"), url=app.config["REDIS_URL"])
    else:
        path = app.config.get("JOBS_SQLITE_PATH") or str(Path(app.instance_path) / "jobs.sqlite3")
        if app.config.get("READ_ONLY") and not Path(path).exists():
            huey = MemoryHuey("grappe")  # a command that only reads enqueues nothing: no queue file
        else:
            huey = SqliteHuey("grappe", filename=path)

    @huey.task(name="grappe.run_job")
    def run_job(job_id: int) -> None:
        with app.app_context():
            execute(job_id)

    @huey.periodic_task(crontab(minute="*"), name="grappe.sweep_jobs")
    def sweep_jobs() -> None:
        with app.app_context():
            sweep()

    host = app.extensions["grappe.host"]
    registry: dict[str, Any] = {}
    for plugin, jobs in host.call_loading("grappe_jobs"):
        if not isinstance(jobs, dict) or not all(isinstance(k, str) and callable(v) for k, v in jobs.items()):
            host.mark_broken(plugin, "grappe_jobs must return a dict of job names to functions")
            continue
        foreign = [name for name in jobs if plugin in host.plugins and not name.startswith(f"{plugin}.")]
        if foreign:
            host.mark_broken(plugin, f"declares the job '{foreign[0]}': its jobs must be named '{plugin}.<job>'")
            continue
        registry.update(jobs)
    app.extensions["grappe.jobs"] = {"huey": huey, "task": run_job, "registry": registry}


def _stored_key(name: str, cluster_id: int | None, key: str) -> str:
    """The unique ``idempotency_key`` column: name, cluster and key (hashed when long)."""
    raw = f"{name}:{'-' if cluster_id is None else cluster_id}:{key}"
    return raw if len(raw) <= 200 else f"{raw[:135]}#{hashlib.sha256(raw.encode()).hexdigest()}"


def _view_permission() -> str | None:
    """The permission of the view running now ("" for none), None outside a request."""
    if not has_request_context() or not request.endpoint:
        return None
    view = current_app.view_functions.get(request.endpoint)
    return getattr(view, "_grappe_permission", None) or ""


def _for_caller(job_id: int, fallback: Job | None = None, existing: bool = False) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:  # the caller's snapshot predates the row (SQLite): read it from a fresh session
        session = db.new_session()
        try:
            job = session.get(Job, job_id) or fallback
        finally:
            session.close()
    job.existing = existing
    return job


def enqueue(name: str, *, cluster_id: int | None, params: dict | None = None, label: str = "",
            user_id: int | None = None, key: str | None = None, permission: Any = _CURRENT_VIEW,
            after_commit: bool = False) -> Job | None:
    """Record a job and queue it; returns the job row (committed).

    :param key: makes the start idempotent: while a job of this name and cluster with the
        same key is queued, running or done, that job is returned (``job.existing`` is
        True) and nothing new starts; a failed one is retried (same row, its arguments).
        Pick what identifies the work, e.g. the uploaded file's id.
    :param permission: what starting the job needs (also needed to retry it); default:
        the permission of the view calling ``enqueue`` (``""`` when it declares none; ``None``
        outside a request: only cluster admins retry it).
    :param after_commit: start the job only once ``db.session``'s transaction commits (the
        request's, a command's), and not at all if it rolls back: for a job that reads what
        the caller writes (a confirmation mail of a registration the request records).
        Returns None then: the job does not exist yet.
    """
    state = current_app.extensions["grappe.jobs"]
    if name not in state["registry"]:
        raise LookupError(f"no job named {name!r}: no plugin declares it in grappe_jobs")
    if permission is _CURRENT_VIEW:
        permission = _view_permission()
    start = {"name": name, "cluster_id": cluster_id, "params": params or {}, "label": label, "user_id": user_id,
             "key": key, "permission": permission}
    if after_commit:
        db.session.info.setdefault(_AFTER_COMMIT, []).append(start)
        return None
    job_id, existing, fallback = _start(**start)
    return _for_caller(job_id, fallback=fallback, existing=existing)


def _start(*, name: str, cluster_id: int | None, params: dict, label: str, user_id: int | None, key: str | None,
           permission: Any) -> tuple[int, bool, Job | None]:
    """Record (or find, with ``key``) the job and queue it: ``(job id, existing, the new row)``.

    Uses sessions and connections of its own, never ``db.session`` (it runs in the
    ``after_commit`` event of :func:`enqueue`'s ``after_commit`` too)."""
    state = current_app.extensions["grappe.jobs"]
    stored_key = None if key is None else _stored_key(name, cluster_id, str(key))
    for _attempt in range(5):
        if stored_key is not None:
            with db.engine.connect() as conn:  # the latest committed state, not the caller's snapshot
                found = conn.execute(select(_T.c.id, _T.c.status).where(_T.c.idempotency_key == stored_key)).first()
            if found is not None:
                if found.status in ACTIVE_OR_DONE:
                    return found.id, True, None
                if retry(found.id, user_id=user_id):
                    return found.id, False, None
                continue  # retried by someone else meanwhile: look again
        session = db.new_session()
        try:
            job = Job(name=name, cluster_id=cluster_id, params=params, label=label or name,
                      created_by_id=user_id, idempotency_key=stored_key, permission=permission)
            session.add(job)
            session.commit()
            job_id = job.id
        except IntegrityError:
            session.rollback()
            if stored_key is None:
                raise
            continue  # the same key was just started by another request: return that job
        finally:
            session.close()
        state["task"](job_id)
        return job_id, False, job
    raise RuntimeError(f"could not start the job {name!r} with the key {key!r}")


_AFTER_COMMIT = "grappe.jobs_after_commit"  # session.info: the jobs enqueue(after_commit=True) holds back


@event.listens_for(Session, "after_commit")
def _start_after_commit(session: Session) -> None:
    """The transaction committed: start the jobs it held back (each logged, not raised, if
    it cannot start: what the transaction wrote stays written)."""
    for start in session.info.pop(_AFTER_COMMIT, None) or ():
        try:
            _start(**start)
        except Exception:  # noqa: BLE001 - the commit is done; the caller's response must not fail
            current_app.logger.exception("the job %r could not be started after the commit", start["name"])


@event.listens_for(Session, "after_transaction_end")
def _forget_after_rollback(session: Session, transaction) -> None:
    """The outermost transaction ended without a commit (rolled back, closed): its jobs never start."""
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_AFTER_COMMIT, None)


def find_job(name: str, *, cluster_id: int | None, key: str) -> Job | None:
    """The job started with this name, cluster and ``key`` (whatever its status), or None.

    Its ``existing`` is True.  For a caller that checks something before starting the
    work again (a file that the first run deleted), see ``enqueue(key=...)``.
    """
    stored_key = _stored_key(name, cluster_id, str(key))
    with db.engine.connect() as conn:
        found = conn.execute(select(_T.c.id).where(_T.c.idempotency_key == stored_key)).scalar()
    return None if found is None else _for_caller(found, existing=True)


def retry(job_id: int, *, user_id: int | None = None) -> bool:
    """Queue a failed job again, with the same name, cluster and arguments (same row).

    Audited (``job_retry``).  Returns False, and does nothing, when the job is not failed
    (any more) or no plugin declares its name now.
    """
    state = current_app.extensions["grappe.jobs"]
    session = db.new_session()
    try:
        job = session.get(Job, job_id)
        if job is None or job.status != "failed" or job.name not in state["registry"]:
            return False
        label, previous = job.label, job.stored_message
        session.commit()  # end the read: on SQLite the write below needs a fresh snapshot
        requeued = session.connection().execute(
            update(_T).where(_T.c.id == job_id, _T.c.status == "failed").values(
                status="queued", done=0, total=0, message="", result=None, started_at=None,
                finished_at=None, heartbeat_at=None)).rowcount
        if requeued != 1:
            session.rollback()
            return False
        from .audit import record

        record("job_retry", cluster_id=job.cluster_id, object_type="core.job", object_id=job_id,
               summary=f"{label}: queued again after it failed ({previous[:150]})", user_id=user_id,
               session=session)
        session.commit()
    finally:
        session.close()
    state["task"](job_id)
    return True


def sweep(now: datetime | None = None, *, timeout: float | None = None, cluster_id: int | None = None) -> list[int]:
    """Mark failed the running jobs whose worker stopped beating; returns their ids.

    A job is lost when its ``heartbeat_at`` (or, never beaten, its ``started_at``) is
    older than ``timeout`` seconds (default: ``JOB_HEARTBEAT_TIMEOUT``) before ``now``
    (default: the current time).  Its message says so (no path, no exception text); it
    can then be retried.  ``cluster_id`` limits the sweep to one cluster's jobs.
    """
    now = now or utcnow()
    timeout = current_app.config["JOB_HEARTBEAT_TIMEOUT"] if timeout is None else timeout
    cutoff = now - timedelta(seconds=timeout)
    stale = and_(_T.c.status == "running", or_(
        _T.c.heartbeat_at < cutoff,
        and_(_T.c.heartbeat_at.is_(None), or_(_T.c.started_at.is_(None), _T.c.started_at < cutoff))))
    stmt = select(_T.c.id, _T.c.name, _T.c.attempts, _T.c.heartbeat_at, _T.c.started_at).where(stale)
    if cluster_id is not None:
        stmt = stmt.where(_T.c.cluster_id == cluster_id)
    engine = db.engine
    with engine.connect() as conn:  # read first: nothing stale, no write (and no write lock on SQLite)
        candidates = conn.execute(stmt).all()
    if not candidates:
        return []
    swept = []
    with engine.begin() as conn:  # a fresh transaction: each row is checked again as it is written
        for row in candidates:
            if conn.execute(update(_T).where(_T.c.id == row.id, _T.c.attempts == row.attempts, stale)
                            .values(status="failed", message=JOB_LOST, finished_at=now)).rowcount:
                swept.append(row.id)
    for row in candidates:
        if row.id in swept:
            current_app.logger.warning(
                "job %s (%s, run %s) marked failed: no heartbeat since %s (timeout %ss)", row.id, row.name,
                row.attempts, (row.heartbeat_at or row.started_at), timeout)
    return swept


def sweep_quietly(cluster_id: int | None = None) -> list[int]:
    """:func:`sweep`, for pages: a database that refuses the write (SQLite busy) is logged, not raised."""
    try:
        return sweep(cluster_id=cluster_id)
    except SQLAlchemyError as exc:
        current_app.logger.warning("the sweep of lost jobs did not run: %s", type(exc).__name__)
        return []


def _claim(job_id: int) -> int | None:
    """Take a queued job: it becomes running, with a heartbeat; returns its run number."""
    engine = db.engine
    with engine.connect() as conn:
        row = conn.execute(select(_T.c.status, _T.c.attempts).where(_T.c.id == job_id)).first()
    if row is None or row.status != "queued":
        return None
    now = utcnow()
    attempt = row.attempts + 1
    with engine.begin() as conn:
        taken = conn.execute(update(_T).where(_T.c.id == job_id, _T.c.status == "queued", _T.c.attempts == row.attempts)
                             .values(status="running", attempts=attempt, started_at=now, heartbeat_at=now,
                                     finished_at=None)).rowcount
    return attempt if taken == 1 else None


def _finish(session, job_id: int, attempt: int, **values) -> bool:
    """Write the end of a run, in the session's transaction (with the job's last work),
    if the row is still this run's; else roll the transaction back.  True if written."""
    stmt = update(_T).where(_this_run(job_id, attempt)).values(finished_at=utcnow(), **values)
    try:
        mine = session.connection().execute(stmt).rowcount
    except OperationalError as exc:
        if not _sqlite_busy(exc):
            raise
        # SQLite refused to turn a read transaction into a write one: it had written
        # nothing (a transaction that wrote holds the lock), so nothing is lost
        session.rollback()
        mine = session.connection().execute(stmt).rowcount
    if mine != 1:
        session.rollback()
        return False
    session.commit()
    return True


def execute(job_id: int) -> None:
    """Run one job in the current app context (what a worker does)."""
    app = current_app._get_current_object()
    registry = app.extensions["grappe.jobs"]["registry"]
    try:
        sweep()  # at pick-up: jobs of workers that died are marked failed
    except SQLAlchemyError:
        app.logger.exception("the sweep of lost jobs failed")
    attempt = _claim(job_id)
    if attempt is None:
        return
    session = db.new_session()
    job = session.get(Job, job_id)
    session.commit()  # end the read: on SQLite the job's first write must not follow a stale snapshot
    session.info["cluster_id"] = job.cluster_id
    ctx = JobContext(job, session, attempt)
    heartbeat = _Heartbeat(app, job_id, attempt, app.config["JOB_HEARTBEAT_INTERVAL"])
    heartbeat.start()
    try:
        result = registry[job.name](ctx, **(job.params or {}))
        heartbeat.stop()
        session.flush()
        written = _finish(session, job_id, attempt, status="done",
                          result=result if isinstance(result, dict) else None,
                          done=case((and_(_T.c.total > 0, _T.c.done < _T.c.total), _T.c.total), else_=_T.c.done))
        if not written:
            app.logger.warning("job %s (%s) ended after it was marked failed or retried: its last transaction "
                               "was rolled back", job_id, job.name)
    except JobLost:
        session.rollback()
        app.logger.warning("job %s (%s) stopped: it was marked failed or retried meanwhile", job_id, job.name)
    except JobFailed as exc:
        session.rollback()
        heartbeat.stop()
        _finish(session, job_id, attempt, status="failed", message=str(exc))
        app.logger.info("job %s (%s) failed: %s", job_id, job.name, exc)
    except Exception:
        session.rollback()
        heartbeat.stop()
        # the user sees a generic message: an exception's text can hold paths, SQL, data
        _finish(session, job_id, attempt, status="failed", message=JOB_CRASHED)
        app.logger.error("job %s (%s) failed:\n%s", job_id, job.name, traceback.format_exc())
    finally:
        heartbeat.stop()
        session.close()


def start_consumer(app: Flask, workers: int = 1, periodic: bool = True):
    """Consume the queue from threads of this process (embedded mode, tests).

    Returns the consumer; ``consumer.stop(graceful=True)`` stops it.  The process's
    signal handlers are left alone (huey's own would take Ctrl+C from the server).
    ``periodic`` runs the sweep of lost jobs every minute.
    """
    from huey.consumer import Consumer

    class ThreadConsumer(Consumer):
        def _set_signal_handlers(self):
            pass

    huey = app.extensions["grappe.jobs"]["huey"]
    consumer = ThreadConsumer(huey, workers=workers, worker_type="thread", periodic=periodic,
                              initial_delay=0.05, max_delay=0.5, check_worker_health=False)
    consumer.start()
    return consumer
