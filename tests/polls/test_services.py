"""Poll rules: proposing, review, eligibility, voting, thresholds, answers, moderation, privacy."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from civic.core.errors import Conflict, DomainError, NotAllowed, NotFound
from civic.core.models import AuditEvent, OutboxMessage
from civic.core.time import utcnow
from civic.extensions import db
from civic.polls import services
from civic.polls.models import (
    Poll,
    PollAgenda,
    PollBallot,
    PollKey,
    PollNotification,
    PollOptionShard,
    PollParticipation,
)
from tests.polls.conftest import draft

# ---------------------------------------------------------------- proposing


def test_verified_resident_proposes_and_the_poll_waits_for_review(make_user, districts):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft(("Yes", "No", "Only weekends"), max_choices=2))
    assert (poll.status, poll.is_official, poll.max_choices) == ("pending", False, 2)
    assert [o.label for o in poll.options] == [{"en": "Yes"}, {"en": "No"}, {"en": "Only weekends"}]
    assert poll.opens_at is None and poll.threshold is None
    assert "only weekends" in poll.search_text


def test_unverified_account_cannot_propose(make_user):
    with pytest.raises(NotAllowed):
        services.propose_poll(make_user().id, draft())
    assert db.session.scalar(select(func.count(Poll.id))) == 0


@pytest.mark.parametrize(
    "options", [("Only one",), tuple(f"Option {n}" for n in range(11)), ("Same", "same ")]
)
def test_proposal_needs_two_to_ten_different_options(make_user, districts, options):
    author = make_user(verified_district=districts["porto"])
    with pytest.raises(DomainError) as caught:
        services.propose_poll(author.id, draft(options))
    assert caught.value.field == "options"
    assert db.session.scalar(select(func.count(Poll.id))) == 0


def test_blank_option_lines_are_ignored(make_user, districts):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft(("Yes", "", "  ", "No")))
    assert len(poll.options) == 2


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"question": "  "}, "question"),
        ({"question": "x" * 201}, "question"),
        ({"max_choices": 3}, "max_choices"),
        ({"max_choices": 0}, "max_choices"),
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": 31}, "duration_days"),
        ({"district_ids": [999999]}, "districts"),
    ],
)
def test_bad_proposals_are_refused_on_the_right_field(make_user, districts, overrides, field):
    author = make_user(verified_district=districts["porto"])
    with pytest.raises(DomainError) as caught:
        services.propose_poll(author.id, draft(**overrides))
    assert caught.value.field == field
    assert db.session.scalar(select(func.count(Poll.id))) == 0


def test_a_resident_has_a_limited_number_of_open_proposals(make_user, districts):
    author = make_user(verified_district=districts["porto"])
    for _ in range(3):
        services.propose_poll(author.id, draft())
    with pytest.raises(Conflict):
        services.propose_poll(author.id, draft())
    first = db.session.scalars(select(Poll).order_by(Poll.id)).first()
    services.withdraw_proposal(author.id, first.id)
    services.propose_poll(author.id, draft())
    assert services.count_open_proposals(author.id) == 3


def test_staff_publish_an_official_poll_without_review(staff, departments):
    poll = services.propose_poll(
        staff.id,
        draft(
            is_official=True,
            audience="registered",
            threshold=50,
            department_id=departments["parks"].id,
        ),
    )
    assert (poll.status, poll.is_official, poll.audience, poll.threshold) == (
        "published",
        True,
        "registered",
        50,
    )
    assert poll.closes_at - poll.opens_at == timedelta(days=10)
    assert db.session.get(PollKey, poll.id) is not None
    assert (
        db.session.scalar(select(AuditEvent.action).where(AuditEvent.target_id == str(poll.id)))
        == "poll.publish_official"
    )


def test_residents_cannot_open_polls_to_unverified_accounts(make_user, districts):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(
        author.id, draft(audience="registered", is_official=True, threshold=1)
    )
    assert (poll.status, poll.audience, poll.threshold) == ("pending", "verified", None)


# ---------------------------------------------------------------- review


def test_approve_publishes_with_the_city_default_threshold(
    make_user, districts, staff, departments
):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    services.approve_poll(staff.id, poll.id, departments["roads"].id)
    poll = services.get_poll(poll.id)
    assert (poll.status, poll.threshold, poll.department_id) == (
        "published",
        1000,
        departments["roads"].id,
    )
    assert (
        db.session.scalar(
            select(PollNotification.kind).where(PollNotification.user_id == author.id)
        )
        == "approved"
    )
    assert (
        db.session.scalar(
            select(OutboxMessage.subject).where(OutboxMessage.recipient == author.email)
        )
        == "Your poll is published"
    )


def test_a_proposal_is_decided_once(make_user, districts, staff, departments):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    services.reject_poll(staff.id, poll.id, "unclear", "Which park?")
    with pytest.raises(Conflict):
        services.approve_poll(staff.id, poll.id, departments["roads"].id)
    poll = services.get_poll(poll.id)
    assert (poll.status, poll.rejection_reason, poll.review_note) == (
        "rejected",
        "unclear",
        "Which park?",
    )


def test_reject_needs_a_listed_reason_and_an_explanation(make_user, districts, staff):
    poll = services.propose_poll(make_user(verified_district=districts["porto"]).id, draft())
    with pytest.raises(DomainError) as caught:
        services.reject_poll(staff.id, poll.id, "because", "x")
    assert caught.value.field == "reason"
    with pytest.raises(DomainError) as caught:
        services.reject_poll(staff.id, poll.id, "other", " ")
    assert caught.value.field == "note"
    assert services.get_poll(poll.id).status == "pending"


def test_only_staff_review(make_user, districts, departments):
    resident = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(resident.id, draft())
    with pytest.raises(NotAllowed):
        services.approve_poll(resident.id, poll.id, departments["roads"].id)


def test_changes_requested_then_edited_goes_back_to_review(make_user, districts, staff):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    services.request_changes(staff.id, poll.id, "Say which park.")
    assert services.get_poll(poll.id).status == "changes_requested"
    services.update_proposal(
        author.id, poll.id, draft(("In Parque Sul", "Nowhere"), question="Which park at night?")
    )
    poll = services.get_poll(poll.id)
    assert poll.status == "pending"
    assert [o.label["en"] for o in poll.options] == ["In Parque Sul", "Nowhere"]


def test_published_polls_keep_their_options(make_poll, make_user, districts):
    author = make_user(verified_district=districts["porto"])
    poll = make_poll(author=author)
    before = [(o.id, o.label) for o in poll.options]
    with pytest.raises(Conflict):
        services.update_proposal(author.id, poll.id, draft(("Changed", "Options")))
    poll = services.get_poll(poll.id)
    assert [(o.id, o.label) for o in poll.options] == before


def test_someone_else_cannot_edit_a_proposal(make_user, districts):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    with pytest.raises(NotAllowed):
        services.update_proposal(
            make_user(verified_district=districts["porto"]).id, poll.id, draft()
        )


def test_unpublished_polls_are_visible_to_author_and_staff_only(make_user, districts, staff):
    author = make_user(verified_district=districts["porto"])
    poll = services.propose_poll(author.id, draft())
    assert services.get_visible_poll(poll.id, author) is not None
    assert services.get_visible_poll(poll.id, staff) is not None
    with pytest.raises(NotFound):
        services.get_visible_poll(poll.id, make_user())
    with pytest.raises(NotFound):
        services.get_visible_poll(poll.id, None)


# ---------------------------------------------------------------- eligibility and voting


def test_eligibility(make_poll, make_user, districts):
    citywide = make_poll()
    local = make_poll(district_ids=[districts["porto"].id])
    open_to_all = make_poll(audience="registered")
    porto = make_user(verified_district=districts["porto"])
    centro = make_user(verified_district=districts["centro"])
    unverified = make_user(home_district_id=districts["porto"].id)
    assert services.voting_refusal(citywide, porto) is None
    assert services.voting_refusal(citywide, centro) is None
    assert isinstance(services.voting_refusal(citywide, unverified), NotAllowed)
    assert services.voting_refusal(local, porto) is None
    refusal = services.voting_refusal(local, centro)
    assert isinstance(refusal, NotAllowed) and "Porto" in str(refusal.message)
    assert services.voting_refusal(open_to_all, unverified) is None
    assert isinstance(services.voting_refusal(citywide, None), NotAllowed)


def test_voting_after_close_is_refused(make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=11)
    voter = make_user(verified_district=districts["porto"])
    with pytest.raises(Conflict):
        services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    assert poll.participant_count == 0


def test_vote_is_counted_and_shown_to_the_voter_only(make_poll, make_user, districts):
    poll = make_poll(options=("A", "B", "C"))
    voter = make_user(verified_district=districts["porto"])
    receipt = services.cast_vote(voter.id, poll.id, [poll.options[1].id])
    assert receipt.outcome == "counted"
    poll = services.get_poll(poll.id)
    assert poll.participant_count == 1
    assert [o.vote_count for o in poll.options] == [0, 1, 0]
    assert services.get_my_vote(poll, voter).option_ids == (poll.options[1].id,)
    assert services.get_my_vote(poll, make_user()) is None
    # The ballot carries no user and the participation no choice.
    ballot = db.session.scalars(select(PollBallot)).one()
    assert set(PollBallot.__table__.columns.keys()) == {
        "id",
        "poll_id",
        "pseudonym",
        "shard",
        "age_band",
        "gender",
    }
    assert len(ballot.pseudonym) == 64
    participation = db.session.scalars(select(PollParticipation)).one()
    assert participation.district_id == districts["porto"].id


@pytest.mark.parametrize(
    "choose, message",
    [
        (lambda p: [], "Please choose an option."),
        (lambda p: [p.options[0].id, p.options[1].id], "at most 1"),
        (lambda p: [999999], "not part of this poll"),
    ],
)
def test_bad_choices_are_refused_and_nothing_is_stored(
    make_poll, make_user, districts, choose, message
):
    poll = make_poll()
    voter = make_user(verified_district=districts["porto"])
    with pytest.raises(DomainError) as caught:
        services.cast_vote(voter.id, poll.id, choose(poll))
    assert message in str(caught.value.message)
    assert db.session.scalar(select(func.count(PollParticipation.id))) == 0
    assert db.session.scalar(select(func.count(PollBallot.id))) == 0


def test_option_of_another_poll_is_refused(make_poll, make_user, districts):
    poll, other = make_poll(), make_poll()
    voter = make_user(verified_district=districts["porto"])
    with pytest.raises(DomainError):
        services.cast_vote(voter.id, poll.id, [other.options[0].id])


def test_multi_choice_up_to_n(make_poll, make_user, districts):
    poll = make_poll(options=("A", "B", "C"), max_choices=2)
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id, poll.options[2].id])
    with pytest.raises(DomainError):
        services.cast_vote(
            make_user(verified_district=districts["porto"]).id,
            poll.id,
            [o.id for o in poll.options],
        )
    poll = services.get_poll(poll.id)
    assert [o.vote_count for o in poll.options] == [1, 0, 1]
    results = services.get_results(poll)
    assert [o.share for o in results.options] == [1.0, 0.0, 1.0]


def test_change_vote_moves_the_counts(make_poll, make_user, districts):
    poll = make_poll(options=("A", "B"))
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    receipt = services.cast_vote(voter.id, poll.id, [poll.options[1].id], expected_version=1)
    assert receipt.outcome == "changed"
    poll = services.get_poll(poll.id)
    assert (poll.participant_count, [o.vote_count for o in poll.options]) == (1, [0, 1])
    assert services.recount_poll(poll.id).is_exact


def test_voting_twice_from_a_stale_form_is_refused(make_poll, make_user, districts):
    poll = make_poll(options=("A", "B"))
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    with pytest.raises(Conflict) as caught:
        services.cast_vote(voter.id, poll.id, [poll.options[1].id], expected_version=0)
    assert caught.value.status_code == 409
    assert [o.vote_count for o in services.get_poll(poll.id).options] == [1, 0]


def test_sending_the_same_vote_again_is_harmless(make_poll, make_user, districts):
    poll = make_poll()
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    assert services.cast_vote(voter.id, poll.id, [poll.options[0].id]).outcome == "unchanged"
    assert services.get_poll(poll.id).participant_count == 1


def test_polls_can_forbid_changing_a_vote(make_poll, make_user, districts):
    poll = make_poll(allows_vote_change=False)
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    with pytest.raises(Conflict):
        services.cast_vote(voter.id, poll.id, [poll.options[1].id], expected_version=1)
    assert [o.vote_count for o in services.get_poll(poll.id).options] == [1, 0]


def test_closing_seals_the_ballots(make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=5)
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    later = utcnow() + timedelta(days=6)
    assert services.seal_closed_polls(later) == 1
    poll = services.get_poll(poll.id)
    mine = services.get_my_vote(poll, voter)
    assert mine is not None and mine.option_ids is None
    assert db.session.get(PollKey, poll.id) is None
    assert services.get_results(poll).options[0].votes == 1


def test_results_visibility(make_poll, make_user, districts):
    interim = make_poll()
    hidden = make_poll(shows_interim_results=False)
    now = utcnow()
    assert not services.results_are_visible(interim, has_voted=False, now=now)
    assert services.results_are_visible(interim, has_voted=True, now=now)
    assert not services.results_are_visible(hidden, has_voted=True, now=now)
    assert services.results_are_visible(hidden, has_voted=False, now=now + timedelta(days=11))


# ---------------------------------------------------------------- thresholds and answers


def test_crossing_the_threshold_opens_exactly_one_agenda(
    make_poll, make_user, districts, departments
):
    poll = make_poll(threshold=3)
    voters = [make_user(verified_district=districts["porto"]) for _ in range(4)]
    receipts = [services.cast_vote(v.id, poll.id, [poll.options[0].id]) for v in voters]
    assert [r.crossed_threshold for r in receipts] == [False, False, True, False]
    agenda = db.session.scalars(select(PollAgenda)).one()
    assert agenda.participants_at_crossing == 3
    assert agenda.department_id == departments["roads"].id
    assert agenda.answer_due_at - agenda.crossed_at == timedelta(days=30)
    clock = services.get_clock(agenda)
    assert (clock.state, clock.days) == ("due", 30)


def test_lowering_the_threshold_below_the_participants_opens_the_agenda(
    make_poll, make_user, districts, staff
):
    poll = make_poll()
    for _ in range(2):
        services.cast_vote(
            make_user(verified_district=districts["porto"]).id, poll.id, [poll.options[0].id]
        )
    services.set_threshold(staff.id, poll.id, 2)
    assert services.get_poll(poll.id).agenda.participants_at_crossing == 2
    with pytest.raises(Conflict):
        services.set_threshold(staff.id, poll.id, 1)


def test_city_settings_set_the_default_threshold_and_answer_period(make_user, make_poll, districts):
    admin = make_user(roles=("admin",))
    services.update_settings(admin.id, 2, 10, 3, 3)
    poll = make_poll()
    assert poll.threshold == 2
    for _ in range(2):
        services.cast_vote(
            make_user(verified_district=districts["porto"]).id, poll.id, [poll.options[0].id]
        )
    agenda = services.get_poll(poll.id).agenda
    assert agenda.answer_due_at - agenda.crossed_at == timedelta(days=10)
    with pytest.raises(NotAllowed):
        services.update_settings(make_user(roles=("staff",)).id, 5, 5, 5, 5)
    with pytest.raises(DomainError) as caught:
        services.update_settings(admin.id, 0, 10, 3, 3)
    assert caught.value.field == "default_threshold"


def _agenda_poll(make_poll, make_user, districts, days_ago=0):
    poll = make_poll(threshold=1, opened_days_ago=days_ago)
    voter = make_user(verified_district=districts["porto"], locale="ko")
    services.cast_vote(
        voter.id, poll.id, [poll.options[0].id], now=utcnow() - timedelta(days=days_ago)
    )
    return services.get_poll(poll.id), voter


def test_overdue_clock(make_poll, make_user, districts):
    poll, _voter = _agenda_poll(make_poll, make_user, districts, days_ago=33)
    clock = services.get_clock(poll.agenda)
    assert (clock.state, clock.days) == ("overdue", 3)


def test_department_answers_and_voters_are_notified(make_poll, make_user, districts, staff):
    poll, voter = _agenda_poll(make_poll, make_user, districts)
    answer = services.publish_answer(staff.id, poll.id, "under_study", "We are costing it.")
    assert answer.is_follow_up is False
    poll = services.get_poll(poll.id)
    assert poll.agenda.first_answered_at is not None
    assert services.get_clock(poll.agenda).state == "answered"
    notice = db.session.scalars(
        select(PollNotification).where(PollNotification.user_id == voter.id)
    ).one()
    assert (notice.kind, notice.answer_id) == ("answer", answer.id)
    mail = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == voter.email)
    ).one()
    assert "We are costing it." in mail.body
    assert mail.status == "logged"  # delivered by the job (inline here: no Redis)
    follow = services.publish_answer(staff.id, poll.id, "adopted", "Done from May.")
    assert follow.is_follow_up is True
    assert len(services.get_poll(poll.id).agenda.answers) == 2
    assert (
        db.session.scalar(
            select(func.count(PollNotification.id)).where(PollNotification.user_id == voter.id)
        )
        == 2
    )


def test_only_the_assigned_department_answers(make_poll, make_user, districts, departments):
    poll, _voter = _agenda_poll(make_poll, make_user, districts)
    outsider = make_user(roles=("staff",))
    with pytest.raises(NotAllowed):
        services.publish_answer(outsider.id, poll.id, "adopted", "Yes")
    admin = make_user(roles=("admin",))
    services.publish_answer(admin.id, poll.id, "adopted", "Yes")
    with pytest.raises(DomainError) as caught:
        services.publish_answer(admin.id, poll.id, "maybe", "Yes")
    assert caught.value.field == "status"


def test_no_answer_before_the_threshold(make_poll, staff):
    poll = make_poll()
    with pytest.raises(Conflict):
        services.publish_answer(staff.id, poll.id, "adopted", "Yes")


def test_staff_dashboard_lists_overdue_first(make_poll, make_user, districts, staff, departments):
    due_later, _ = _agenda_poll(make_poll, make_user, districts, days_ago=1)
    overdue, _ = _agenda_poll(make_poll, make_user, districts, days_ago=40)
    due_soon, _ = _agenda_poll(make_poll, make_user, districts, days_ago=25)
    answered, _ = _agenda_poll(make_poll, make_user, districts, days_ago=2)
    services.publish_answer(staff.id, answered.id, "adopted", "Yes")
    awaiting, done = services.list_staff_agendas()
    assert [row.agenda.poll_id for row in awaiting] == [overdue.id, due_soon.id, due_later.id]
    assert [row.clock.state for row in awaiting] == ["overdue", "due", "due"]
    assert [row.agenda.poll_id for row in done] == [answered.id]
    services.reassign_agenda(staff.id, overdue.id, departments["parks"].id)
    mine, _ = services.list_staff_agendas(department_ids=staff.department_ids)
    assert overdue.id not in [row.agenda.poll_id for row in mine]


# ---------------------------------------------------------------- results


def test_breakdowns_count_only_voters_who_share_and_hide_small_groups(
    make_poll, make_user, districts
):
    poll = make_poll()
    for n in range(25):
        voter = make_user(verified_district=districts["porto" if n % 2 else "centro"])
        if n < 12:
            services.set_demographics(voter.id, True, 1990, "woman")
        elif n < 15:
            services.set_demographics(voter.id, True, 1950, "man")
        services.cast_vote(voter.id, poll.id, [poll.options[n % 2].id])
    poll = services.get_poll(poll.id)
    breakdowns = services.demographic_breakdowns(poll)
    assert [(r.group, r.participants) for r in breakdowns["gender"].rows] == [("woman", 12)]
    assert breakdowns["gender"].hidden_groups == 1
    woman = breakdowns["gender"].rows[0]
    assert [o.votes for o in woman.results.options] == [6, 6]
    assert [(r.group, r.participants) for r in breakdowns["age_band"].rows] == [("35-44", 12)]
    turnout = {
        t.district.code: t.participants for t in services.district_participation(poll) if t.district
    }
    assert (turnout["porto"], turnout["centro"], turnout["ribeira"]) == (12, 13, 0)


def test_withdrawing_consent_erases_demographics_from_open_ballots(make_poll, make_user, districts):
    poll = make_poll()
    voter = make_user(verified_district=districts["porto"])
    services.set_demographics(voter.id, True, 1980, "non_binary")
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    ballot = db.session.scalars(select(PollBallot)).one()
    assert (ballot.age_band, ballot.gender) == ("45-54", "non_binary")
    services.set_demographics(voter.id, False, 1980, "non_binary")
    db.session.refresh(ballot)
    assert (ballot.age_band, ballot.gender) == (None, None)
    assert (voter.birth_year, voter.gender, voter.shares_demographics) == (None, None, False)


@pytest.mark.parametrize(
    "birth_year, gender, field",
    [
        (1800, None, "birth_year"),
        (3000, None, "birth_year"),
        (None, "robot", "gender"),
        (None, None, "birth_year"),
    ],
)
def test_bad_demographics_are_refused(make_user, birth_year, gender, field):
    user = make_user()
    with pytest.raises(DomainError) as caught:
        services.set_demographics(user.id, True, birth_year, gender)
    assert caught.value.field == field


def test_open_data_only_after_close_and_only_aggregates(make_poll, make_user, districts):
    poll = make_poll(opened_days_ago=12)
    with pytest.raises(Conflict):
        services.results_data(make_poll().id)
    later = poll.opens_at + timedelta(hours=1)
    for n in range(3):
        services.cast_vote(
            make_user(verified_district=districts["porto"]).id,
            poll.id,
            [poll.options[n % 2].id],
            now=later,
        )
    data = services.results_data(poll.id)
    assert data["participants"] == 3
    assert [o["votes"] for o in data["options"]] == [2, 1]
    assert "voter" not in str(data).lower() or "voters" not in data
    csv_text = services.results_csv(poll.id)
    assert f"{poll.id},option,,1,Yes,2" in csv_text
    assert [row["poll_id"] for row in services.list_open_data()] == [poll.id]


def test_recount_repairs_drifted_counters(make_poll, make_user, districts):
    poll = make_poll()
    services.cast_vote(
        make_user(verified_district=districts["porto"]).id, poll.id, [poll.options[0].id]
    )
    db.session.execute(
        update(PollOptionShard)
        .where(PollOptionShard.option_id == poll.options[0].id, PollOptionShard.shard == 3)
        .values(count=7)
    )
    db.session.commit()
    assert not services.recount_poll(poll.id).is_exact
    services.recount_poll(poll.id, repair=True)
    assert services.recount_poll(poll.id).is_exact


def test_listing_sorting_search_and_district(make_poll, make_user, districts):
    a = make_poll(question="Trees on Rua Azul?")
    b = make_poll(question="Buses at night?", district_ids=[districts["porto"].id])
    c = make_poll(question="Closed one?", opened_days_ago=20)
    services.cast_vote(make_user(verified_district=districts["porto"]).id, b.id, [b.options[0].id])
    assert [p.id for p in services.list_polls("open", "popular").polls] == [b.id, a.id]
    assert [p.id for p in services.list_polls("open", "ending").polls][0] in (a.id, b.id)
    assert [p.id for p in services.list_polls("closed").polls] == [c.id]
    assert [p.id for p in services.list_polls("open", search="RUA azul").polls] == [a.id]
    assert [p.id for p in services.list_polls("open", search="%").polls] == []
    assert {
        p.id for p in services.list_polls("open", district_id=districts["centro"].id).polls
    } == {a.id}
    assert services.list_polls("agendas").total == 0


# ---------------------------------------------------------------- comments


def test_flags_hide_a_comment_until_staff_decide(make_poll, make_user, staff, districts):
    poll = make_poll()
    author = make_user()
    comment = services.add_comment(author.id, poll.id, "Rude words")
    flaggers = [make_user() for _ in range(3)]
    services.flag_comment(flaggers[0].id, comment.id)
    with pytest.raises(Conflict):
        services.flag_comment(flaggers[0].id, comment.id)
    with pytest.raises(Conflict):
        services.flag_comment(author.id, comment.id)
    services.flag_comment(flaggers[1].id, comment.id)
    assert services.get_comment(comment.id).status == "visible"
    services.flag_comment(flaggers[2].id, comment.id)
    assert services.get_comment(comment.id).status == "flagged"
    assert [c.id for c in services.list_flagged_comments()] == [comment.id]
    services.moderate_comment(staff.id, comment.id, "hide", "abuse", "Insults")
    hidden = services.get_comment(comment.id)
    assert (hidden.status, hidden.hidden_reason, hidden.hidden_note, hidden.body) == (
        "hidden",
        "abuse",
        "Insults",
        "Rude words",
    )
    assert services.list_flagged_comments() == []
    assert [c.id for c in services.list_comments(poll.id)] == [comment.id]  # never deleted


def test_staff_keep_a_reported_comment(make_poll, make_user, staff):
    poll = make_poll()
    comment = services.add_comment(make_user().id, poll.id, "I disagree")
    for _ in range(3):
        services.flag_comment(make_user().id, comment.id)
    services.moderate_comment(staff.id, comment.id, "keep")
    services.flag_comment(make_user().id, comment.id)
    assert services.get_comment(comment.id).status == "visible"
    with pytest.raises(DomainError):
        services.moderate_comment(staff.id, comment.id, "hide", "nope")
    with pytest.raises(NotAllowed):
        services.moderate_comment(make_user().id, comment.id, "keep")


def test_comment_limits(make_poll, make_user, make_user_=None):
    poll = make_poll()
    user = make_user()
    with pytest.raises(DomainError):
        services.add_comment(user.id, poll.id, "   ")
    with pytest.raises(DomainError):
        services.add_comment(user.id, poll.id, "x" * 2001)


def test_export_of_a_person_s_poll_data(make_poll, make_user, districts):
    poll = make_poll()
    voter = make_user(verified_district=districts["porto"])
    services.cast_vote(voter.id, poll.id, [poll.options[0].id])
    data = services.export_user_polls(voter.id)
    assert [v["poll_id"] for v in data["votes"]] == [poll.id]
    assert "option" not in str(data["votes"])
