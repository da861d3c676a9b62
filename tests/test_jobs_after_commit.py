"""``enqueue(..., after_commit=True)`` (and ``queue_mails(..., after_commit=True)``): a job that
reads what its caller writes starts once the caller's transaction commits, never if it rolls back."""

from __future__ import annotations

from sqlalchemy import func, select

from core import ClusterBlueprint, audit, db, enqueue, hookimpl, queue_mails
from core.models import AuditEntry, Job
from core.testing import Factory

from .fakeplugins import make_plugin


def make_later_plugin(seen: list):
    """The plugin ``later``: a page that writes an audit entry and starts a job after the commit,
    answering the status it is asked for; the job notes how many such entries it finds committed."""
    bp = ClusterBlueprint("later", __name__)

    @bp.route("/note/<int:status>", methods=["POST"])
    def note(status):
        audit("later_note", summary="written by the request")
        enqueue("later.look", cluster_id=db.session.info["cluster_id"], after_commit=True, label="look")
        return "noted", status

    def look(job):
        seen.append(job.session.execute(select(func.count()).select_from(AuditEntry)
                                        .where(AuditEntry.action == "later_note")
                                        .execution_options(all_clusters=True)).scalar_one())
        return {"seen": seen[-1]}

    @hookimpl
    def grappe_jobs():
        return {"later.look": look}

    @hookimpl
    def grappe_blueprints():
        return [bp]

    return make_plugin("later", pages=False, hooks={"grappe_jobs": grappe_jobs, "grappe_blueprints": grappe_blueprints})


def n_jobs() -> int:
    with db.engine.connect() as conn:  # what is committed, whatever the test's session holds
        return conn.execute(select(func.count()).select_from(Job.__table__)).scalar_one()


def test_a_job_held_for_the_commit_starts_at_the_commit_and_finds_what_it_wrote(build_app):
    seen = []
    app = build_app(make_later_plugin(seen))
    cluster = Factory(app).cluster("one", modules=("later",))
    with db.for_cluster(cluster.id):
        audit("later_note", summary="written before the job")
        assert enqueue("later.look", cluster_id=cluster.id, after_commit=True) is None
    db.session.flush()
    assert n_jobs() == 0 and seen == []  # held back: the entry is not committed yet
    db.session.commit()
    assert n_jobs() == 1 and seen == [1]
    (job,) = db.session.execute(select(Job)).scalars()
    assert (job.status, job.result, job.cluster_id) == ("done", {"seen": 1}, cluster.id)
    db.session.commit()  # a later commit starts nothing again
    assert n_jobs() == 1 and seen == [1]


def test_a_rolled_back_transaction_starts_nothing_even_after_a_later_commit(build_app):
    seen = []
    app = build_app(make_later_plugin(seen))
    cluster = Factory(app).cluster("one", modules=("later",))
    audit("later_note", summary="rolled back")
    enqueue("later.look", cluster_id=cluster.id, after_commit=True)
    queue_mails("later.look", cluster=cluster, params={}, label="look", after_commit=True)
    db.session.rollback()
    db.session.commit()
    assert n_jobs() == 0 and seen == []


def test_in_a_request_the_job_starts_only_when_the_request_commits(build_app):
    seen = []
    app = build_app(make_later_plugin(seen))
    f = Factory(app)
    cluster = f.cluster("one", modules=("later",))
    client = app.test_client(user=f.user("staff@example.org", "staff", cluster))
    assert client.post("/one/later/note/200").status_code == 200
    assert n_jobs() == 1 and seen == [1]
    assert client.post("/one/later/note/409").status_code == 409  # rolled back: no entry, no job
    assert n_jobs() == 1 and seen == [1]
    assert db.session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "later_note")
                              .execution_options(all_clusters=True)).scalar_one() == 1
