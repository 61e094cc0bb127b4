"""The pure maths: results, age bands, small-group suppression, answer clocks."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from civic.polls import tally

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_results_share_is_of_participants():
    results = tally.compute_results(4, {1: 3, 2: 2}, [1, 2, 3])
    assert [(o.option_id, o.votes, o.share) for o in results.options] == [
        (1, 3, 0.75),
        (2, 2, 0.5),
        (3, 0, 0.0),
    ]
    assert results.leader_ids == {1}


def test_results_without_voters_have_no_leader():
    results = tally.compute_results(0, {}, [1, 2])
    assert results.leader_ids == frozenset()
    assert all(o.share == 0 for o in results.options)


def test_a_tie_has_two_leaders():
    assert tally.compute_results(4, {1: 2, 2: 2}, [1, 2]).leader_ids == {1, 2}


@pytest.mark.parametrize(
    "birth_year, band",
    [
        (2010, "0-24"),
        (2002, "0-24"),
        (2001, "25-34"),
        (1992, "25-34"),
        (1991, "35-44"),
        (1972, "45-54"),
        (1962, "55-64"),
        (1961, "65+"),
        (1930, "65+"),
        (None, None),
        (2030, None),
    ],
)
def test_age_band(birth_year, band):
    assert tally.age_band(birth_year, 2026) == band


@pytest.mark.parametrize(
    "sizes, total, shown, hidden",
    [
        # Every group large enough, nobody else: all shown.
        ({"a": 12, "b": 10}, 22, {"a", "b"}, 0),
        # A group of 9 is hidden; the rest (9) could be worked out, so... it is the hidden group
        # itself: 9 < 10, so the next smallest shown group is hidden too.
        ({"a": 20, "b": 12, "c": 9}, 41, {"a"}, 2),
        # Non-sharers (15) mask the small group: the remainder 9 + 15 = 24 is safe.
        ({"a": 20, "b": 12, "c": 9}, 56, {"a", "b"}, 1),
        # Only non-sharers outside the groups, but fewer than 10 of them: suppress.
        ({"a": 30, "b": 11}, 45, {"a"}, 1),
        # Nobody shared anything.
        ({}, 30, set(), 0),
        # Everything small: nothing shown.
        ({"a": 3, "b": 4}, 7, set(), 2),
    ],
)
def test_small_groups_are_hidden_and_cannot_be_derived(sizes, total, shown, hidden):
    got_shown, got_hidden = tally.suppress_small_groups(sizes, total)
    assert set(got_shown) == shown
    assert got_hidden == hidden
    remainder = total - sum(sizes[g] for g in got_shown)
    assert remainder == 0 or remainder >= tally.MIN_GROUP_SIZE or not got_shown


def test_breakdown_rows_follow_the_given_order_and_count_votes_per_group():
    sizes = {"man": 10, "woman": 12}
    votes = {("woman", 1): 8, ("woman", 2): 4, ("man", 1): 1, ("man", 2): 9}
    breakdown = tally.compute_breakdown(22, sizes, votes, [1, 2], ["woman", "man", "other"])
    assert [r.group for r in breakdown.rows] == ["woman", "man"]
    woman = breakdown.rows[0]
    assert (woman.participants, [o.votes for o in woman.results.options]) == (12, [8, 4])
    assert breakdown.hidden_groups == 0


@pytest.mark.parametrize(
    "due_in, answered_after_due, state, days",
    [
        (timedelta(days=12), None, "due", 12),
        (timedelta(days=11, hours=2), None, "due", 11),
        (timedelta(hours=3), None, "due", 0),  # due later today
        (-timedelta(hours=1), None, "due", 0),  # the deadline passed an hour ago, still today
        (-timedelta(days=3), None, "overdue", 3),
        (-timedelta(days=3, hours=1), None, "overdue", 3),
        (timedelta(days=5), -timedelta(days=2), "answered", 0),
        (-timedelta(days=10), timedelta(days=4), "answered", 4),
    ],
)
def test_answer_clock_counts_calendar_days(due_in, answered_after_due, state, days):
    due = T0 + due_in
    answered = None if answered_after_due is None else due + answered_after_due
    clock = tally.answer_clock(due, answered, T0)
    assert (clock.state, clock.days) == (state, days)
    assert clock.is_overdue == (state == "overdue")


def test_answer_clock_uses_the_city_time_zone():
    # 02:00 UTC on 2 March is still 1 March in São Paulo: due today there, tomorrow in UTC.
    now = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    due = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert tally.answer_clock(due, None, now).days == 1
    assert tally.answer_clock(due, None, now, ZoneInfo("America/Sao_Paulo")).days == 0


@pytest.mark.parametrize(
    "participants, threshold, progress", [(0, 1000, 0.0), (250, 1000, 0.25), (1500, 1000, 1.0)]
)
def test_threshold_progress(participants, threshold, progress):
    assert tally.threshold_progress(participants, threshold) == progress
