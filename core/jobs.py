"""Background jobs: one service for long work, with progress in the database.

Embedded default: a SQLite queue in the instance folder, consumed by a thread that
``grappe serve`` and ``grappe demo`` start.  With ``GRAPPE_REDIS_URL`` the queue is
Redis and ``grappe worker`` processes (on any machine) consume it.  Jobs are plain
functions that plugins declare by name through the ``grappe_jobs`` hook.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import MemoryHuey, RedisHuey, SqliteHuey

from .database import db, utcnow
from .models import Job


class JobContext:
    """What a running job gets: its row, a session for its work, and ``progress``."""

    def __init__(self, job: Job, session):
        self.job = job
        self.id = job.id
        self.cluster_id = job.cluster_id
        self.session = session
        self._progress_session = db.new_session()
        self._last_report = 0.0

    def progress(self, done: int, total: int | None = None, message: str | None = None, force: bool = False) -> None:
        """Report progress (written at most a few times a second, in its own transaction)."""
        import time

        now = time.monotonic()
        if not force and now - self._last_report < 0.3 and (total is None or done < total):
            return
        self._last_report = now
        row = self._progress_session.get(Job, self.id)
        row.done = done
        if total is not None:
            row.total = total
        if message is not None:
            row.message = message
        self._progress_session.commit()

    def close(self) -> None:
        self._progress_session.close()


def init_app(app: Flask) -> None:
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


def enqueue(name: str, *, cluster_id: int | None, params: dict | None = None, label: str = "",
            user_id: int | None = None) -> Job:
    """Record a job and queue it; returns the job row (committed)."""
    state = current_app.extensions["grappe.jobs"]
    if name not in state["registry"]:
        raise LookupError(f"no job named {name!r}: no plugin declares it in grappe_jobs")
    session = db.new_session()
    try:
        job = Job(name=name, cluster_id=cluster_id, params=params or {}, label=label or name, created_by_id=user_id)
        session.add(job)
        session.commit()
        job_id = job.id
    finally:
        session.close()
    state["task"](job_id)
    return db.session.get(Job, job_id) or job


def execute(job_id: int) -> None:
    """Run one job in the current app context (what a worker does)."""
    registry = current_app.extensions["grappe.jobs"]["registry"]
    session = db.new_session()
    job = session.get(Job, job_id)
    if job is None or job.status not in ("queued",):
        session.close()
        return
    job.status, job.started_at = "running", utcnow()
    session.commit()
    session.info["cluster_id"] = job.cluster_id
    ctx = JobContext(job, session)
    try:
        result = registry[job.name](ctx, **(job.params or {}))
        session.commit()
        job = session.get(Job, job_id)
        session.refresh(job)
        job.status, job.result, job.finished_at = "done", result if isinstance(result, dict) else None, utcnow()
        if job.total and job.done < job.total:
            job.done = job.total
        session.commit()
    except Exception as exc:
        session.rollback()
        job = session.get(Job, job_id)
        session.refresh(job)
        job.status, job.finished_at = "failed", utcnow()
        job.message = f"{type(exc).__name__}: {exc}"
        session.commit()
        current_app.logger.error("job %s (%s) failed:\n%s", job_id, job.name, traceback.format_exc())
    finally:
        ctx.close()
        session.close()


def start_consumer(app: Flask, workers: int = 1):
    """Consume the queue from threads of this process (embedded mode, tests).

    Returns the consumer; ``consumer.stop(graceful=True)`` stops it.  The process's
    signal handlers are left alone (huey's own would take Ctrl+C from the server).
    """
    from huey.consumer import Consumer

    class ThreadConsumer(Consumer):
        def _set_signal_handlers(self):
            pass

    huey = app.extensions["grappe.jobs"]["huey"]
    consumer = ThreadConsumer(huey, workers=workers, worker_type="thread", periodic=False,
                              initial_delay=0.05, max_delay=0.5, check_worker_health=False)
    consumer.start()
    return consumer
