"""Background jobs through the real queues: huey on SQLite (embedded) and on Redis."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from core import JobFailed, db, hookimpl
from core import jobs as core_jobs
from core.models import JOB_CRASHED, JOB_LOST, AuditEntry, Job
from core.testing import Factory, make_test_app, require_or_skip, truncate_all

from .fakeplugins import make_plugin

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def make_jobs_plugin(release: threading.Event):
    """The plugin ``jobfake``: a counting job that waits halfway for the test, a failing job."""

    def count(job, n):
        for i in range(1, n + 1):
            job.progress(i, n, message=f"{i} counted")
            if i == n // 2:
                job.progress(i, n, message="halfway", force=True)
                assert release.wait(30), "the test never released the job"
        return {"counted": n, "cluster": job.cluster_id}

    def fail(job):
        job.progress(1, 4, force=True)
        raise RuntimeError("the ledger is locked in /srv/grappe/instance/ledger.db")

    def refuse(job):
        raise JobFailed("The ledger is closed for the year: open it first.")

    @hookimpl
    def grappe_jobs():
        return {"jobfake.count": count, "jobfake.fail": fail, "jobfake.refuse": refuse}

    return make_plugin("jobfake", hooks={"grappe_jobs": grappe_jobs})


@pytest.fixture(params=["sqlite", "redis"])
def queue_app(request, _schema, instance_path, tmp_path):
    """An app whose jobs go through a real queue, consumed by a thread of this process."""
    release = threading.Event()
    config = {"JOBS_IMMEDIATE": False, "JOB_HEARTBEAT_INTERVAL": 0.05}
    if request.param == "redis":
        require_or_skip(_redis_available(), f"Redis is not reachable at {REDIS_URL}")
        config.update(REDIS_URL=REDIS_URL, JOBS_QUEUE_NAME=f"grappe-test-{uuid.uuid4().hex}")
    else:
        config.update(JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite3"))
    app = make_test_app(_schema, instance_path, plugins=[make_jobs_plugin(release)], **config)
    huey = app.extensions["grappe.jobs"]["huey"]
    assert type(huey).__name__ == ("RedisHuey" if request.param == "redis" else "SqliteHuey")
    with app.app_context():
        truncate_all()
    consumer = core_jobs.start_consumer(app)
    app.release = release
    try:
        with app.app_context():
            yield app
            db.session.rollback()
    finally:
        release.set()
        consumer.stop(graceful=True)
        if request.param == "redis":
            huey.storage.flush_all()


def _wait_for(client, url, condition, what):
    deadline = time.monotonic() + 30
    while True:
        data = client.get(url, headers={"Accept": "application/json"}).get_json()
        if condition(data):
            return data
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {data}"
        time.sleep(0.05)


def test_a_job_reports_progress_and_its_result_on_its_page_and_in_json(queue_app):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    user = f.user("u@example.org", "staff", one)
    job = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 8}, label="Counting things",
                            user_id=user.id)
    client = queue_app.test_client(user=user)
    url = f"/one/jobs/{job.id}"

    running = _wait_for(client, url, lambda d: d["message"] == "halfway", "the job to be halfway")
    assert running["status"] == "running" and running["done"] == 4 and running["total"] == 8
    assert running["percent"] == 50 and running["result"] is None
    html = client.get(url).get_data(as_text=True)
    assert "Counting things" in html and "running" in html and "4 / 8" in html and "halfway" in html
    assert "Counting things" in client.get("/one/jobs").get_data(as_text=True)

    queue_app.release.set()
    done = _wait_for(client, url, lambda d: d["status"] in ("done", "failed"), "the job to end")
    assert done["status"] == "done" and done["done"] == 8 and done["percent"] == 100
    assert done["result"] == {"counted": 8, "cluster": one.id}
    html = client.get(url).get_data(as_text=True)
    assert "done" in html and "counted" in html and "8 / 8" in html
    # the same through the API
    from core.auth import new_api_token

    token = new_api_token(user)
    db.session.commit()
    api = queue_app.test_client().get(f"/api/v1/one/core/jobs/{job.id}", headers={"Authorization": f"Bearer {token}"})
    assert api.get_json()["status"] == "done" and api.get_json()["result"]["counted"] == 8


def test_a_failing_job_ends_failed_with_a_plain_message_and_its_details_in_the_log(queue_app, caplog):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    user = f.user("u@example.org", "staff", one)
    job = core_jobs.enqueue("jobfake.fail", cluster_id=one.id, label="Closing the ledger")
    client = queue_app.test_client(user=user)
    url = f"/one/jobs/{job.id}"
    with caplog.at_level(logging.ERROR):
        failed = _wait_for(client, url, lambda d: d["status"] in ("done", "failed"), "the job to end")
    assert failed["status"] == "failed"
    # the exception's text (here a path) is for the log only: the page says what happened
    assert failed["message"] == JOB_CRASHED
    assert failed["result"] is None and failed["done"] == 1
    html = client.get(url).get_data(as_text=True)
    assert "failed" in html and "unexpected error" in html
    assert "/srv/grappe" not in html and "RuntimeError" not in html
    assert "RuntimeError: the ledger is locked in /srv/grappe/instance/ledger.db" in caplog.text


def test_a_job_raising_job_failed_shows_its_own_message(queue_app):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    user = f.user("u@example.org", "staff", one)
    job = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id, label="Closing the year")
    client = queue_app.test_client(user=user)
    failed = _wait_for(client, f"/one/jobs/{job.id}", lambda d: d["status"] in ("done", "failed"), "the job to end")
    assert failed["status"] == "failed" and failed["message"] == "The ledger is closed for the year: open it first."


def test_a_job_is_seen_only_in_its_cluster(queue_app):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    two = f.cluster("two", modules=("jobfake",))
    user_two = f.user("two@example.org", "staff", two)
    job = core_jobs.enqueue("jobfake.fail", cluster_id=one.id)
    client = queue_app.test_client(user=user_two)
    assert client.get(f"/two/jobs/{job.id}").status_code == 404
    assert client.get(f"/one/jobs/{job.id}").status_code == 403
    assert "jobfake.fail" not in client.get("/two/jobs").get_data(as_text=True)


def test_an_unknown_job_name_is_refused_at_once(queue_app):
    with pytest.raises(LookupError, match="no job named 'jobfake.nope'"):
        core_jobs.enqueue("jobfake.nope", cluster_id=None)


# -- heartbeat, lost workers, retry, idempotent starts ------------------------------------------
# Far from the real clock: only the sweeps these tests call, with their own ``now``, see
# these jobs as lost (the sweeps of pages and workers use the real time).
T0 = datetime(2100, 1, 1, 12, 0, tzinfo=timezone.utc)


def _job(job_id: int) -> Job:
    db.session.commit()  # a fresh snapshot: jobs are written by other sessions and threads
    return db.session.get(Job, job_id, populate_existing=True)


def _as_taken_by_a_worker_that_died(job_id: int, at: datetime = T0) -> None:
    """The state a worker killed at ``at`` leaves: its job running, its heartbeat stopped."""
    with db.engine.begin() as conn:
        conn.execute(update(Job.__table__).where(Job.id == job_id).values(
            status="running", attempts=Job.__table__.c.attempts + 1, started_at=at, heartbeat_at=at))


@pytest.fixture
def jobs_app(build_app):
    """Jobs run at once, inside ``enqueue`` (as in the other tests); the counting job never waits."""
    release = threading.Event()
    release.set()
    app = build_app(make_jobs_plugin(release))
    app.release = release
    return app


@pytest.fixture
def hold_jobs(jobs_app, monkeypatch):
    """Queue jobs without running them (no worker takes them): ``run(job_id)`` runs one."""
    state = jobs_app.extensions["grappe.jobs"]
    held = []
    monkeypatch.setitem(state, "task", held.append)

    def run(job_id):
        core_jobs.execute(job_id)

    run.held = held
    return run


def test_a_running_job_refreshes_its_heartbeat(queue_app):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    job = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 8})
    deadline = time.monotonic() + 30
    while (row := _job(job.id)).message != "halfway":
        assert time.monotonic() < deadline, "the job never got halfway"
        time.sleep(0.02)
    first = row.heartbeat_at
    assert row.status == "running" and row.attempts == 1 and first is not None
    while _job(job.id).heartbeat_at == first:  # the job is blocked: only its heartbeat thread writes
        assert time.monotonic() < deadline, "the heartbeat was not refreshed"
        time.sleep(0.02)
    # a live job is not lost
    assert core_jobs.sweep(now=_job(job.id).heartbeat_at + timedelta(seconds=60)) == []
    queue_app.release.set()
    deadline = time.monotonic() + 30
    while _job(job.id).status != "done":
        assert time.monotonic() < deadline, "the job never ended"
        time.sleep(0.02)


def test_a_killed_workers_job_is_marked_failed_by_the_sweep_and_retried_to_done(queue_app):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    staff = f.user("s@example.org", "staff", one)
    # a job a worker took and then died with (kill -9, machine lost): running, no heartbeat since T0
    lost = Job(name="jobfake.count", cluster_id=one.id, params={"n": 4}, label="Counting things", permission="",
               status="running", attempts=1, started_at=T0 - timedelta(minutes=1), heartbeat_at=T0)
    db.session.add(lost)
    db.session.commit()
    timeout = queue_app.config["JOB_HEARTBEAT_TIMEOUT"]
    assert core_jobs.sweep(now=T0 + timedelta(seconds=timeout - 1)) == []
    assert _job(lost.id).status == "running"
    assert core_jobs.sweep(now=T0 + timedelta(seconds=timeout + 1)) == [lost.id]
    row = _job(lost.id)
    assert row.status == "failed" and row.message == JOB_LOST and row.finished_at == T0 + timedelta(seconds=timeout + 1)
    assert core_jobs.sweep(now=T0 + timedelta(days=1)) == []  # once

    client = queue_app.test_client(user=staff)
    page = client.get(f"/one/jobs/{lost.id}").get_data(as_text=True)
    assert "stopped giving signs of life" in page and "Retry" in page
    assert "Retry" in client.get("/one/jobs").get_data(as_text=True)
    assert client.get(f"/one/jobs/{lost.id}/retry").status_code == 405
    queue_app.release.set()
    r = client.post(f"/one/jobs/{lost.id}/retry")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/one/jobs/{lost.id}")
    assert "The job is queued again." in client.get(r.headers["Location"]).get_data(as_text=True)
    done = _wait_for(client, f"/one/jobs/{lost.id}", lambda d: d["status"] in ("done", "failed"), "the retry to end")
    assert done["status"] == "done" and done["result"] == {"counted": 4, "cluster": one.id}
    assert done["message"] == "4 counted"
    row = _job(lost.id)
    assert row.attempts == 2 and row.heartbeat_at is not None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "job_retry")).scalar_one()
    assert entry.object_id == str(lost.id) and entry.user_id == staff.id and entry.cluster_id == one.id
    # a second press does not run it again
    r = client.post(f"/one/jobs/{lost.id}/retry")
    assert r.status_code == 302 and "not queued again" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert _job(lost.id).attempts == 2
    assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 1


def test_a_run_whose_job_was_swept_meanwhile_writes_nothing_more(queue_app, caplog):
    """A worker that was only frozen, not dead: when it wakes up its job was marked failed."""
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    client = queue_app.test_client(user=f.user("s@example.org", "staff", one))
    job = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 8})
    deadline = time.monotonic() + 30
    while (row := _job(job.id)).message != "halfway":
        assert time.monotonic() < deadline, "the job never got halfway"
        time.sleep(0.02)
    assert core_jobs.sweep(now=row.heartbeat_at + timedelta(days=1)) == [job.id]
    with caplog.at_level(logging.WARNING):
        queue_app.release.set()
        while "was marked failed or retried meanwhile" not in caplog.text:
            assert time.monotonic() < deadline, "the frozen run never stopped"
            time.sleep(0.02)
    row = _job(job.id)
    assert row.status == "failed" and row.message == JOB_LOST and row.done == 4 and row.result is None
    assert core_jobs.retry(job.id)
    done = _wait_for(client, f"/one/jobs/{job.id}", lambda d: d["status"] in ("done", "failed"), "the retry to end")
    assert done["status"] == "done" and done["done"] == 8 and _job(job.id).attempts == 2


def test_a_job_running_since_before_heartbeats_existed_is_swept_too(jobs_app):
    one = Factory(jobs_app).cluster("one", modules=("jobfake",))
    old = Job(name="jobfake.count", cluster_id=one.id, params={"n": 2}, status="running", started_at=T0)
    db.session.add(old)
    db.session.commit()
    assert core_jobs.sweep(now=T0 + timedelta(minutes=1), timeout=120) == []
    assert core_jobs.sweep(now=T0 + timedelta(minutes=3), timeout=120) == [old.id]
    assert _job(old.id).status == "failed"


def test_the_sweep_runs_when_a_worker_picks_a_job_up(jobs_app, hold_jobs):
    one = Factory(jobs_app).cluster("one", modules=("jobfake",))
    lost = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2})
    _as_taken_by_a_worker_that_died(lost.id, at=datetime(2000, 1, 1, tzinfo=timezone.utc))
    other = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2})
    hold_jobs(other.id)
    assert _job(other.id).status == "done"
    assert _job(lost.id).status == "failed" and _job(lost.id).message == JOB_LOST


def test_the_heartbeat_timeout_is_configured(jobs_app, build_app, monkeypatch):
    assert jobs_app.config["JOB_HEARTBEAT_TIMEOUT"] == core_jobs.DEFAULT_HEARTBEAT_TIMEOUT
    monkeypatch.setenv("GRAPPE_JOB_HEARTBEAT_TIMEOUT", "90")
    app = build_app(make_jobs_plugin(threading.Event()))
    assert app.config["JOB_HEARTBEAT_TIMEOUT"] == 90 and app.config["JOB_HEARTBEAT_INTERVAL"] == 18
    monkeypatch.setenv("GRAPPE_JOB_HEARTBEAT_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="GRAPPE_JOB_HEARTBEAT_TIMEOUT must be a number of seconds"):
        build_app(make_jobs_plugin(threading.Event()))


def test_starting_a_job_twice_with_the_same_key_gives_one_job(jobs_app, hold_jobs):
    one = Factory(jobs_app).cluster("one", modules=("jobfake",))
    two = Factory(jobs_app).cluster("two", modules=("jobfake",))
    first = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}, key="file-1")
    assert not first.existing and _job(first.id).status == "queued"
    again = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}, key="file-1")
    assert again.id == first.id and again.existing and hold_jobs.held == [first.id]  # queued once
    _as_taken_by_a_worker_that_died(first.id, at=datetime.now(timezone.utc))  # running (with a fresh heartbeat)
    assert core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}, key="file-1").id == first.id
    with db.engine.begin() as conn:
        conn.execute(update(Job.__table__).where(Job.id == first.id).values(status="done"))
    done = core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}, key="file-1")
    assert done.id == first.id and done.existing and len(hold_jobs.held) == 1
    assert core_jobs.find_job("jobfake.count", cluster_id=one.id, key="file-1").id == first.id
    assert core_jobs.find_job("jobfake.count", cluster_id=one.id, key="file-2") is None
    # another key, another cluster, another job name, or no key: other jobs
    ids = {core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}, key="file-2").id,
           core_jobs.enqueue("jobfake.count", cluster_id=two.id, params={"n": 2}, key="file-1").id,
           core_jobs.enqueue("jobfake.fail", cluster_id=one.id, key="file-1").id,
           core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}).id,
           core_jobs.enqueue("jobfake.count", cluster_id=one.id, params={"n": 2}).id}
    assert len(ids) == 5 and first.id not in ids
    long_key = "x" * 500
    assert core_jobs.enqueue("jobfake.count", cluster_id=one.id, key=long_key).id == \
        core_jobs.enqueue("jobfake.count", cluster_id=one.id, key=long_key).id


def test_a_failed_job_started_again_with_its_key_is_retried(jobs_app):
    one = Factory(jobs_app).cluster("one", modules=("jobfake",))
    failed = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id, key="year-2099")
    assert _job(failed.id).status == "failed" and _job(failed.id).attempts == 1
    again = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id, key="year-2099")
    assert again.id == failed.id and not again.existing and _job(failed.id).attempts == 2
    assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 1


def test_retrying_needs_what_starting_the_job_needed(jobs_app):
    f = Factory(jobs_app)
    one = f.cluster("one", modules=("jobfake",))
    viewer, staff = f.user("v@example.org", "viewer", one), f.user("s@example.org", "staff", one)
    admin = f.user("a@example.org", "admin", one)
    outsider = f.user("o@example.org", "staff", f.cluster("two", modules=("jobfake",)))
    # started outside a request (a command, a test): the permission is unknown, admins only
    unknown = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id)
    plain = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id, permission="")
    audit_only = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id, permission="core.audit")
    assert _job(unknown.id).permission is None
    for user, allowed in ((viewer, ()), (staff, (plain,)), (admin, (unknown, plain, audit_only))):
        client = jobs_app.test_client(user=user)
        listing = client.get("/one/jobs").get_data(as_text=True)
        for job in (unknown, plain, audit_only):
            url = f"/one/jobs/{job.id}/retry"
            assert (f'action="{url}"' in listing) == (job in allowed), (user.email, job.id)
            before = _job(job.id).attempts
            r = client.post(url)
            assert r.status_code == (302 if job in allowed else 403), (user.email, job.id)
            assert _job(job.id).attempts == before + (1 if job in allowed else 0)
    assert jobs_app.test_client(user=outsider).post(f"/one/jobs/{plain.id}/retry").status_code == 403
    assert jobs_app.test_client(user=outsider).post(f"/two/jobs/{plain.id}/retry").status_code == 404


def test_retry_is_a_form_with_a_csrf_token(_schema, instance_path):
    release = threading.Event()
    release.set()
    app = make_test_app(_schema, instance_path, plugins=[make_jobs_plugin(release)], WTF_CSRF_ENABLED=True)
    with app.app_context():
        truncate_all()
        f = Factory(app)
        one = f.cluster("one", modules=("jobfake",))
        admin = f.user("a@example.org", "admin", one)
        job = core_jobs.enqueue("jobfake.refuse", cluster_id=one.id)
        client = app.test_client(user=admin)
        page = client.get(f"/one/jobs/{job.id}").get_data(as_text=True)
        assert 'name="csrf_token"' in page and f'action="/one/jobs/{job.id}/retry"' in page
        assert client.post(f"/one/jobs/{job.id}/retry").status_code == 400
        assert _job(job.id).attempts == 1
        db.session.rollback()


def test_the_jobs_messages_are_shown_in_the_readers_language(jobs_app):
    f = Factory(jobs_app)
    one = f.cluster("one", modules=("jobfake",))
    french = f.user("f@example.org", "admin", one, language="fr")
    job = core_jobs.enqueue("jobfake.fail", cluster_id=one.id)
    assert _job(job.id).stored_message == JOB_CRASHED  # stored in English
    page = jobs_app.test_client(user=french).get(f"/one/jobs/{job.id}").get_data(as_text=True)
    assert "erreur inattendue" in page and "unexpected error" not in page
