"""The first vote's hot path on PostgreSQL (civic/polls/voting.py).

It must store exactly what the general path stores, be taken for a plain first vote (or the
benchmark measures nothing), and step aside for everything else, so that every refusal and
every second vote keeps the general path's answers. On SQLite the general path runs alone,
and these tests skip."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sqlalchemy import select

from civic.extensions import db
from civic.polls import services, voting
from civic.polls.models import PollBallot, PollBallotChoice, PollKey, PollParticipation
from tests.polls.conftest import sign_in


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the hot path is PostgreSQL's; SQLite runs the general path (CI runs both)")


@pytest.fixture
def taken(monkeypatch):
    """How many votes the hot path counted (the real function, only counted)."""
    calls = []
    real = voting.count_first_vote

    def counting(*args, **kwargs):
        receipt = real(*args, **kwargs)
        calls.append(receipt is not None)
        return receipt

    monkeypatch.setattr(voting, "count_first_vote", counting)
    return calls


def _vote(client, poll, option_ids, version=0):
    return client.post(
        f"/polls/{poll.id}/vote",
        data={"option": option_ids, "version": version},
        headers={"HX-Request": "true"},
    )


def test_a_first_vote_takes_the_hot_path_and_stores_what_the_general_path_would(
    app, make_poll, make_user, districts, taken
):
    poll = make_poll(options=("A", "B", "C"), max_choices=2)
    voter = make_user(verified_district=districts["porto"])
    voter.shares_demographics, voter.birth_year, voter.gender = True, 1980, "woman"
    db.session.commit()
    client = app.test_client()
    sign_in(client, voter)
    response = _vote(client, poll, [poll.options[2].id, poll.options[0].id])
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Your vote was counted." in page and "1 person has voted so far." in page
    assert taken == [True]

    participation = db.session.scalars(select(PollParticipation)).one()
    assert (participation.poll_id, participation.voter_id, participation.version) == (
        poll.id,
        voter.id,
        1,
    )
    assert participation.district_id == districts["porto"].id
    key = db.session.get(PollKey, poll.id).key
    ballot = db.session.scalars(select(PollBallot)).one()
    assert (
        ballot.pseudonym
        == hmac.new(key, f"{poll.id}:{voter.id}".encode(), hashlib.sha256).hexdigest()
    )
    assert (ballot.age_band, ballot.gender) == (
        services.tally.age_band(1980, participation.created_at.year),
        "woman",
    )
    chosen = db.session.scalars(
        select(PollBallotChoice.option_id).where(PollBallotChoice.ballot_id == ballot.id)
    )
    assert sorted(chosen) == sorted([poll.options[0].id, poll.options[2].id])
    recount = services.recount_poll(poll.id)
    assert recount.is_exact and recount.participants_counter == 1
    assert recount.counters == {poll.options[0].id: 1, poll.options[1].id: 0, poll.options[2].id: 1}


def test_a_second_vote_leaves_the_hot_path_and_gets_the_general_answers(
    app, make_poll, make_user, districts, taken
):
    poll = make_poll(options=("A", "B"))
    voter = make_user(verified_district=districts["porto"])
    client = app.test_client()
    sign_in(client, voter)
    assert _vote(client, poll, [poll.options[0].id]).status_code == 200
    again = _vote(client, poll, [poll.options[0].id])
    assert "Your vote was already counted. Nothing changed." in again.get_data(as_text=True)
    other = _vote(client, poll, [poll.options[1].id])  # a stale form (version 0), new choice
    assert other.status_code == 409
    assert "Your current vote is shown" in other.get_data(as_text=True)
    assert taken == [True, False, False]
    recount = services.recount_poll(poll.id)
    assert recount.is_exact and recount.counters == {poll.options[0].id: 1, poll.options[1].id: 0}


def test_a_session_from_before_a_password_change_cannot_vote(
    app, make_poll, make_user, districts, taken
):
    poll = make_poll()
    voter = make_user(verified_district=districts["porto"])
    client = app.test_client()
    sign_in(client, voter)
    voter.security_stamp += 1  # what a password change does to every other session
    db.session.commit()
    response = _vote(client, poll, [poll.options[0].id])
    assert response.status_code in (302, 401)
    assert db.session.scalar(select(PollParticipation.id)) is None
    assert not any(taken)


def test_refusals_leave_the_hot_path_with_nothing_written(
    app, make_poll, make_user, districts, taken
):
    porto_only = make_poll(district_ids=[districts["porto"].id])
    closed = make_poll(opened_days_ago=11)
    client = app.test_client()
    sign_in(client, make_user(verified_district=districts["centro"]))
    assert _vote(client, porto_only, [porto_only.options[0].id]).status_code == 403
    assert _vote(client, closed, [closed.options[0].id]).status_code == 409
    too_many = [porto_only.options[0].id, porto_only.options[1].id]
    assert _vote(client, porto_only, too_many).status_code in (400, 403)
    assert db.session.scalar(select(PollParticipation.id)) is None
    assert not any(taken)


def test_the_vote_that_reaches_the_threshold_opens_the_agenda(
    app, make_poll, make_user, districts, taken
):
    poll = make_poll(threshold=2)
    for number in range(2):
        client = app.test_client()
        sign_in(
            client, make_user(email=f"v{number}@example.org", verified_district=districts["porto"])
        )
        assert _vote(client, poll, [poll.options[0].id]).status_code == 200
    assert taken == [True, True]
    assert services.get_poll(poll.id).agenda is not None
