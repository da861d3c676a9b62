"""The web import as background jobs: one job per checked file, no server path shown, a
killed import retried."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core import db
from core.models import Job
from core import jobs as core_jobs
from core.models import JOB_CRASHED, JOB_LOST
from plugins.crm.models import Organization

T0 = datetime(2100, 1, 1, 12, 0, tzinfo=timezone.utc)  # only the sweeps these tests call see it


def count(model) -> int:
    db.session.commit()  # see what the jobs' sessions committed
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def imports() -> list[Job]:
    db.session.commit()
    return db.session.execute(select(Job).where(Job.name == "crm.import").order_by(Job.id)).scalars().all()


def upload(client, body: bytes = b"legal_name,siren\nWeb Import SA,732829320\n") -> int:
    data = {"kind": "organizations", "on_duplicate": "update", "delimiter": "", "encoding": "",
            "file": (io.BytesIO(body), "orgs.csv")}
    r = client.post("/alpha/crm/import", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(r.headers["Location"].rstrip("/").split("/")[-1])


@pytest.fixture
def manager_client(app, factory, cluster):
    return app.test_client(user=factory.user("m@example.org", "manager", cluster))


@pytest.fixture
def no_worker(app, monkeypatch):
    """Jobs are queued and wait (no worker takes them) until the test runs them: ``run(job_id)``."""
    state = app.extensions["grappe.jobs"]
    original, held = state["task"], []
    monkeypatch.setitem(state, "task", held.append)

    def run(job_id):
        held.remove(job_id)
        core_jobs.execute(job_id)

    run.held = held
    run.restore = lambda: monkeypatch.setitem(state, "task", original)
    return run


def pages_of(client, job_id: int) -> list[str]:
    """Everything a user reads about an import job: its pages, the jobs list, its JSON, the API's."""
    json = {"Accept": "application/json"}
    return [client.get(f"/alpha/crm/import/{job_id}").get_data(as_text=True),
            client.get("/alpha/jobs").get_data(as_text=True),
            client.get(f"/alpha/jobs/{job_id}").get_data(as_text=True),
            client.get(f"/alpha/jobs/{job_id}", headers=json).get_data(as_text=True)]


def assert_no_server_path(app, texts) -> None:
    folder = str(Path(app.instance_path))
    for text in texts:
        assert folder not in text and "crm-imports" not in text, text
    for job in imports():
        report = (job.result or {}).get("report") or {}
        assert folder not in job.message and "crm-imports" not in job.message
        assert all(folder not in e["message"] for e in report.get("errors", []))


def test_import_now_twice_makes_one_job(app, manager_client, no_worker):
    check = upload(manager_client)
    no_worker(check)
    # the second press comes while the import is still queued (the bug: a second job, which
    # found its file deleted by the first and said where it had been)
    first = manager_client.post(f"/alpha/crm/import/{check}/run")
    second = manager_client.post(f"/alpha/crm/import/{check}/run")
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    page = manager_client.get(second.headers["Location"]).get_data(as_text=True)
    assert "import was started already: here it is." in page
    real = [j for j in imports() if not j.params["dry_run"]]
    assert len(real) == 1 and no_worker.held == [real[0].id]
    no_worker(real[0].id)
    assert count(Organization) == 1
    # pressed again once imported (its file is gone): the same job, never an error
    third = manager_client.post(f"/alpha/crm/import/{check}/run")
    assert third.headers["Location"] == first.headers["Location"]
    page = manager_client.get(third.headers["Location"]).get_data(as_text=True)
    assert "Imported." in page and "started already" in page
    assert len(imports()) == 2 and count(Organization) == 1
    assert_no_server_path(app, pages_of(manager_client, real[0].id))


def test_import_now_twice_through_the_api_returns_the_same_job(app, factory, cluster):
    from core.testing import new_api_token

    token = new_api_token(factory.user("api@example.org", "manager", cluster))
    db.session.commit()
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    data = {"kind": "organizations", "on_duplicate": "update",
            "file": (io.BytesIO(b"legal_name,siren\nAPI Import SAS,732829320\n"), "orgs.csv")}
    check = client.post("/api/v1/alpha/crm/import", data=data, headers=headers,
                        content_type="multipart/form-data").get_json()["job_id"]
    first = client.post(f"/api/v1/alpha/crm/import/{check}/run", headers=headers)
    second = client.post(f"/api/v1/alpha/crm/import/{check}/run", headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.get_json()["job_id"] == second.get_json()["job_id"] and second.get_json()["report"]["written"]
    assert count(Organization) == 1 and len(imports()) == 2


def test_a_checked_file_gone_before_its_import_is_reported_without_its_path(app, manager_client, no_worker):
    check = upload(manager_client)
    path = Path(imports()[0].params["path"])
    path.unlink()
    no_worker(check)
    job = imports()[0]
    assert job.status == "done"
    errors = job.result["report"]["errors"]
    assert len(errors) == 1 and "no longer on the server" in errors[0]["message"]
    assert_no_server_path(app, pages_of(manager_client, check))


def test_an_import_that_crashes_shows_no_exception_text(app, manager_client, monkeypatch, caplog):
    from plugins.crm.importing import jobs as import_jobs

    def crash(*_args, **_kwargs):
        raise PermissionError(f"[Errno 13] Permission denied: '{app.instance_path}/crm-imports/x.csv'")

    monkeypatch.setattr(import_jobs, "import_file", crash)
    check = upload(manager_client)
    job = imports()[0]
    assert job.status == "failed" and job.message == JOB_CRASHED
    assert "Permission denied" in caplog.text  # the details are in the log
    texts = pages_of(manager_client, check)
    assert "The import failed; nothing was written." in texts[0]
    assert_no_server_path(app, texts)


def test_a_killed_import_is_marked_failed_and_retried_to_done(app, factory, cluster, manager_client, no_worker):
    check = upload(manager_client)
    no_worker(check)
    r = manager_client.post(f"/alpha/crm/import/{check}/run")
    job_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    job = db.session.get(Job, job_id)
    assert job.permission == "crm.import"  # what the "Import now" view requires
    # a worker took it and was killed before the end: running, its heartbeat stopped at T0
    with db.engine.begin() as conn:
        conn.execute(update(Job.__table__).where(Job.id == job_id).values(
            status="running", attempts=1, started_at=T0, heartbeat_at=T0))
    assert core_jobs.sweep(now=T0 + timedelta(hours=1)) == [job_id]
    no_worker.restore()
    page = manager_client.get(f"/alpha/crm/import/{job_id}").get_data(as_text=True)
    assert "The import failed; nothing was written." in page and "stopped giving signs of life" in page
    jobs_page = manager_client.get("/alpha/jobs").get_data(as_text=True)
    assert f'action="/alpha/jobs/{job_id}/retry"' in jobs_page
    # a staff member may not import, so may not retry the import either
    staff = app.test_client(user=factory.user("s@example.org", "staff", cluster))
    assert f'action="/alpha/jobs/{job_id}/retry"' not in staff.get("/alpha/jobs").get_data(as_text=True)
    assert staff.post(f"/alpha/jobs/{job_id}/retry").status_code == 403
    assert count(Organization) == 0
    r = manager_client.post(f"/alpha/jobs/{job_id}/retry")
    assert r.status_code == 302
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.status == "done" and job.attempts == 2 and job.result["report"]["written"]
    assert count(Organization) == 1 and len(imports()) == 2
    assert "Imported." in manager_client.get(f"/alpha/crm/import/{job_id}").get_data(as_text=True)
    assert job.message != JOB_LOST
    assert_no_server_path(app, pages_of(manager_client, job_id))
