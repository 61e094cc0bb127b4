import pytest

from civic import jobs
from civic.core.models import OutboxMessage
from civic.extensions import db

CALLS: list[str] = []


def flaky_job(message_id: int) -> str:
    """Fails on its first run, then succeeds: proves retries."""
    CALLS.append("run")
    if len(CALLS) == 1:
        raise RuntimeError("first attempt fails")
    message = db.session.get(OutboxMessage, message_id)
    message.status = "retried"
    db.session.commit()
    return "done"


def always_fails(message_id: int) -> None:
    raise RuntimeError("never works")


def mark_sent(message_id: int) -> str:
    message = db.session.get(OutboxMessage, message_id)
    message.status = "done-by-job"
    db.session.commit()
    return message.status


def _message() -> int:
    message = OutboxMessage(recipient="a@b.org", subject="s", body="b")
    db.session.add(message)
    db.session.commit()
    return message.id


def test_inline_job_runs_now_and_returns_its_result(app):
    message_id = _message()
    handle = jobs.enqueue(mark_sent, message_id)
    assert handle.is_inline and handle.result == "done-by-job"
    assert db.session.get(OutboxMessage, message_id).status == "done-by-job"


def test_inline_job_is_retried(app):
    CALLS.clear()
    message_id = _message()
    handle = jobs.enqueue(flaky_job, message_id)
    assert CALLS == ["run", "run"]
    assert handle.result == "done"


def test_inline_job_raises_after_its_retries(app):
    app.config["CIVIC_JOB_RETRIES"] = 2
    with pytest.raises(RuntimeError, match="never works"):
        jobs.enqueue(always_fails, _message())


def test_job_goes_through_real_redis_and_an_rq_worker(queue):
    message_id = _message()
    handle = jobs.enqueue(mark_sent, message_id)
    assert not handle.is_inline and handle.id
    # Queued, not run yet.
    assert db.session.get(OutboxMessage, message_id).status == "pending"
    assert queue.rq_queue().count == 1
    queue.work()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message_id).status == "done-by-job"
    assert queue.rq_queue().count == 0


def test_failed_rq_job_is_scheduled_for_retry_with_backoff_and_listed(queue):
    handle = jobs.enqueue(always_fails, _message())
    queue.work()
    from rq.job import Job

    job = Job.fetch(handle.id, connection=jobs.redis_connection())
    assert job.retries_left == queue.flask_app.config["CIVIC_JOB_RETRIES"] - 1
    listed = jobs.list_jobs()
    assert handle.id in [row["id"] for row in listed["scheduled"]]


def test_staff_jobs_page_lists_queued_jobs(queue, make_user):
    staff = make_user(roles=("staff",))
    jobs.enqueue(mark_sent, _message())
    client = queue.flask_app.test_client()
    client.post("/account/login", data={"email": staff.email, "password": "correct-horse-battery"})
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "test_jobs.mark_sent" in page


def test_password_reset_email_is_delivered_by_a_worker(queue, make_user):
    user = make_user()
    client = queue.flask_app.test_client()
    client.post("/account/forgot-password", data={"email": user.email})
    message = db.session.scalars(db.select(OutboxMessage)).one()
    assert message.status == "pending"
    queue.work()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "logged"
