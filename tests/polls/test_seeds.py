"""The demo polls: every state, loaded through the services, and safe to load twice."""

from sqlalchemy import select

from civic.extensions import db
from civic.polls import services
from civic.polls.models import Poll, PollComment
from civic.polls.seeds import seed_polls
from civic.seeding import _seed_city


def test_seed_polls_in_every_state(app):
    _seed_city()
    lines = seed_polls()
    assert "36 demo voters" in lines[0]
    polls = {p.question["en"]: p for p in db.session.scalars(select(Poll))}
    states = {p.status for p in polls.values()}
    assert {"pending", "changes_requested", "rejected", "published"} <= states
    sunday = polls["Should Rua Central be closed to cars on Sundays?"]
    assert sunday.participant_count == 30 and sunday.question["ko"]
    assert services.recount_poll(sunday.id).is_exact
    assert services.poll_page(sunday.id, None).refusal is not None
    closed = polls["Which new bus route should start first?"]
    assert services.results_data(closed.id)["participants"] == 36
    overdue = polls["Should single-use plastic be banned at public events?"]
    assert services.get_clock(overdue.agenda).state == "overdue"
    answered = polls["Should public libraries open on Sundays?"]
    assert services.get_clock(answered.agenda).state == "answered"
    assert [a.is_follow_up for a in answered.agenda.answers] == [False, True]
    statuses = {
        c.status
        for c in db.session.scalars(select(PollComment).where(PollComment.poll_id == sunday.id))
    }
    assert statuses == {"visible", "flagged", "hidden"}
    breakdowns = services.demographic_breakdowns(sunday)
    assert breakdowns["age_band"].rows  # the demo shows a breakdown with groups of ten or more
    assert seed_polls() == ["Polls: already seeded."]
