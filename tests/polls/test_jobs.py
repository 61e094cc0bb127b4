"""Poll jobs through a real Redis and rq worker: notifying voters of an answer, sealing, recount."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from civic.core.models import OutboxMessage
from civic.core.time import utcnow
from civic.extensions import db
from civic.polls import jobs, services
from civic.polls.models import PollKey, PollNotification


def test_answer_notifies_every_voter_once_in_their_language_through_the_queue(
    queue, make_poll, make_user, districts, staff
):
    poll = make_poll(threshold=2)
    voters = [
        make_user(verified_district=districts["porto"], locale=locale)
        for locale in ("ko", "pt_BR", None)
    ]
    for voter in voters:
        services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    answer_id = services.publish_answer(staff.id, poll.id, "under_study", "We are studying it.").id
    voter_ids = {v.id for v in voters}
    emails = {v.email for v in voters}
    # Nothing is sent before the worker runs: the request only enqueued the job.
    assert db.session.scalar(select(func.count(PollNotification.id))) == 0
    queue.work()
    db.session.expire_all()
    notified = set(
        db.session.scalars(
            select(PollNotification.user_id).where(PollNotification.answer_id == answer_id)
        )
    )
    assert notified == voter_ids
    mails = {m.recipient: m for m in db.session.scalars(select(OutboxMessage))}
    assert emails <= set(mails)
    assert all(
        mails[email].status == "logged" for email in emails
    )  # delivered by the queued mail jobs
    # The job is safe to run twice.
    assert jobs.notify_voters_of_answer(answer_id) == 0
    assert db.session.scalar(select(func.count(PollNotification.id))) == 3


def test_seal_and_recount_jobs(app, make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=11)
    assert db.session.get(PollKey, poll.id) is not None
    assert jobs.seal_closed_polls() == 1
    assert db.session.get(PollKey, poll.id) is None
    assert jobs.seal_closed_polls() == 0
    open_poll = make_poll()
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, open_poll.id, [open_poll.options[0].id]
    )
    assert jobs.recount_poll(open_poll.id) is True


def test_poll_page_seals_a_closed_poll_on_first_view(app, make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=3)
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    page = services.poll_page(poll.id, voter, now=utcnow() + timedelta(days=8))
    assert page.my_vote is not None and page.my_vote.option_ids is None
    assert db.session.get(PollKey, poll.id) is None


def test_commands_seal_and_recount(app, make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=11)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["polls", "seal-closed"])
    assert result.exit_code == 0 and "1 poll(s) sealed." in result.output
    open_poll = make_poll()
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, open_poll.id, [open_poll.options[0].id]
    )
    result = runner.invoke(args=["polls", "recount", str(open_poll.id)])
    assert result.exit_code == 0 and "exact" in result.output
    assert poll.id != open_poll.id
