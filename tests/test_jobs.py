"""Background jobs through the real queues: huey on SQLite (embedded) and on Redis."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from core import db, hookimpl
from core import jobs as core_jobs
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
        raise RuntimeError("the ledger is locked")

    @hookimpl
    def grappe_jobs():
        return {"jobfake.count": count, "jobfake.fail": fail}

    return make_plugin("jobfake", hooks={"grappe_jobs": grappe_jobs})


@pytest.fixture(params=["sqlite", "redis"])
def queue_app(request, _schema, instance_path, tmp_path):
    """An app whose jobs go through a real queue, consumed by a thread of this process."""
    release = threading.Event()
    config = {"JOBS_IMMEDIATE": False}
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


def test_a_failing_job_ends_failed_with_its_message(queue_app):
    f = Factory(queue_app)
    one = f.cluster("one", modules=("jobfake",))
    user = f.user("u@example.org", "staff", one)
    job = core_jobs.enqueue("jobfake.fail", cluster_id=one.id, label="Closing the ledger")
    client = queue_app.test_client(user=user)
    url = f"/one/jobs/{job.id}"
    failed = _wait_for(client, url, lambda d: d["status"] in ("done", "failed"), "the job to end")
    assert failed["status"] == "failed"
    assert failed["message"] == "RuntimeError: the ledger is locked"
    assert failed["result"] is None and failed["done"] == 1
    html = client.get(url).get_data(as_text=True)
    assert "failed" in html and "RuntimeError: the ledger is locked" in html


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
