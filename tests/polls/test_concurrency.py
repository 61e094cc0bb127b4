"""Integrity under concurrent requests: real threads, each request in its own app context."""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select

from civic.extensions import db
from civic.polls import services
from civic.polls.models import PollAgenda, PollBallot, PollBallotChoice, PollParticipation
from tests.polls.conftest import sign_in


def _fire(requests) -> list:
    """Run callables at the same moment from as many threads; return their results."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def run(index, request):
        barrier.wait()
        results[index] = request()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifty_concurrent_vote_requests_of_one_voter_make_exactly_one_vote(
    app, make_poll, make_user, districts
):
    poll = make_poll(options=("A", "B", "C"))
    poll_id, option_ids = poll.id, [o.id for o in poll.options]
    voter = make_user(verified_district=districts["porto"])
    clients = []
    for _ in range(50):
        client = app.test_client()
        sign_in(client, voter)
        clients.append(client)

    def vote(client, n):
        # Half the requests repeat one choice (a double click), half try other choices.
        option = option_ids[0] if n % 2 == 0 else option_ids[n % 3]
        return client.post(
            f"/polls/{poll_id}/vote",
            data={"option": option, "version": "0"},
            headers={"HX-Request": "true"},
        ).status_code

    statuses = _fire([lambda c=c, n=n: vote(c, n) for n, c in enumerate(clients)])
    assert set(statuses) <= {200, 409}, Counter(statuses)
    assert statuses.count(200) >= 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count(PollParticipation.id))) == 1
    assert db.session.scalar(select(func.count(PollBallot.id))) == 1
    poll = services.get_poll(poll_id)
    assert poll.participant_count == 1
    assert sum(o.vote_count for o in poll.options) == 1
    assert services.recount_poll(poll_id).is_exact


def test_two_hundred_voters_at_once_give_an_exact_tally(app, make_poll, make_user, districts):
    poll = make_poll(options=("A", "B", "C"), max_choices=2, threshold=150)
    poll_id, option_ids = poll.id, [o.id for o in poll.options]
    voters = [make_user(verified_district=districts["porto"]) for _ in range(200)]
    expected = Counter()
    requests = []
    for n, voter in enumerate(voters):
        client = app.test_client()
        sign_in(client, voter)
        chosen = [option_ids[n % 3]] + ([option_ids[(n + 1) % 3]] if n % 4 == 0 else [])
        expected.update(chosen)
        requests.append(
            lambda c=client, chosen=chosen: (
                c.post(
                    f"/polls/{poll_id}/vote",
                    data={"option": chosen, "version": "0"},
                    headers={"HX-Request": "true"},
                ).status_code
            )
        )
    statuses = _fire(requests)
    assert statuses == [200] * 200, Counter(statuses)
    db.session.expire_all()
    poll = services.get_poll(poll_id)
    assert poll.participant_count == 200
    assert {o.id: o.vote_count for o in poll.options} == dict(expected)
    counted = dict(
        db.session.execute(
            select(PollBallotChoice.option_id, func.count())
            .where(PollBallotChoice.poll_id == poll.id)
            .group_by(PollBallotChoice.option_id)
        ).all()
    )
    assert counted == dict(expected)
    assert services.recount_poll(poll_id).is_exact
    # The threshold was crossed, and exactly one agenda opened (the unique poll_id decides);
    # it records the participants it saw, at least the threshold.
    agendas = db.session.scalars(select(PollAgenda).where(PollAgenda.poll_id == poll_id)).all()
    assert len(agendas) == 1 and 150 <= agendas[0].participants_at_crossing <= 200


def test_concurrent_changes_of_one_vote_keep_the_counters_exact(
    app, make_poll, make_user, districts
):
    poll = make_poll(options=("A", "B", "C"))
    poll_id, option_ids = poll.id, [o.id for o in poll.options]
    voter = make_user(verified_district=districts["porto"])
    voter_id = voter.id
    services.cast_vote(voter_id, poll_id, [option_ids[0]])

    def change(target):
        with app.app_context():
            try:
                return services.cast_vote(voter_id, poll_id, [target], expected_version=1).outcome
            except services.Conflict:
                return "refused"
            finally:
                db.session.remove()

    outcomes = _fire([lambda t=option_ids[1 + n % 2]: change(t) for n in range(20)])
    assert outcomes.count("changed") == 1, Counter(outcomes)
    db.session.expire_all()
    poll = services.get_poll(poll_id)
    assert poll.participant_count == 1 and sum(o.vote_count for o in poll.options) == 1
    assert services.recount_poll(poll_id).is_exact
