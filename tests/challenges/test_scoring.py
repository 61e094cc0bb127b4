"""scoring.py against examples worked by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from civic.challenges.scoring import (
    METHODS,
    Criterion,
    Entry,
    Mark,
    ScoringError,
    balanced_assignment,
    check_rubric,
    score_challenge,
)

# Weights 50/30/20: a judge's total is 10*c1 + 6*c2 + 4*c3 (out of 100).
RUBRIC = (Criterion(1, 50), Criterion(2, 30), Criterion(3, 20))


def sheet(judge, sub, *values):
    return [Mark(judge, sub, cid, v) for cid, v in zip((1, 2, 3), values, strict=True)]


def flat(judge, sub, value):
    """The same value on every criterion: the total is 20 * value."""
    return sheet(judge, sub, value, value, value)


def entries(*ids, times=None):
    return [Entry(i, (times or {}).get(i, 0)) for i in ids]


def by_id(ranking):
    return {s.submission_id: s for s in ranking}


# -- raw ---------------------------------------------------------------------------------------


def test_raw_is_the_mean_of_the_judges_weighted_totals():
    marks = (
        sheet(1, 10, 5, 4, 3)  # 50 + 24 + 12 = 86
        + sheet(2, 10, 3, 4, 5)  # 30 + 24 + 20 = 74  -> S10 = 80
        + sheet(1, 20, 4, 4, 4)  # 80
        + sheet(2, 20, 2, 2, 2)  # 40                 -> S20 = 60
    )
    outcome = score_challenge(RUBRIC, marks, entries(10, 20), method="raw")
    first, second = outcome.ranking
    assert (first.submission_id, first.score, first.rank) == (10, pytest.approx(80), 1)
    assert (second.submission_id, second.score) == (20, pytest.approx(60))
    assert first.criteria_raw == {1: 4, 2: 4, 3: 4}
    assert second.criteria_raw == {1: 3, 2: 3, 3: 3}
    assert first.judges == 2 and first.spread == pytest.approx(12)
    assert outcome.method == "raw" and first.tie_broken_by is None


# -- z and its fallbacks -----------------------------------------------------------------------


def lenient_and_harsh():
    """Judge 1 (lenient) scores 1, 2, 3 with 5, 4, 3; judge 2 (harsh) scores 4, 5, 6 with
    3, 2, 1 (flat sheets).

    Raw: 100, 80, 60, 60, 40, 20.
    Each judge: mean 4 (or 2), population SD sqrt(2/3), so z = +sqrt(1.5), 0, -sqrt(1.5).
    Panel per criterion: values 5 4 3 3 2 1, mean 3, SD sqrt(10/6) = sqrt(5/3).
    Rescaled: 3 + sqrt(1.5) * sqrt(5/3) = 3 + sqrt(2.5) = 4.5811; 3; 3 - sqrt(2.5) = 1.4189.
    z totals (x 20): 91.623 for 1 and 4, 60 for 2 and 5, 28.377 for 3 and 6.
    Borda (share of the judge's other submissions beaten): 100, 50, 0 on each pile.
    """
    marks = []
    for sub, value in ((1, 5), (2, 4), (3, 3)):
        marks += flat(1, sub, value)
    for sub, value in ((4, 3), (5, 2), (6, 1)):
        marks += flat(2, sub, value)
    return marks


def test_z_removes_a_lenient_judges_offset():
    outcome = score_challenge(RUBRIC, lenient_and_harsh(), entries(1, 2, 3, 4, 5, 6), method="z")
    high = 20 * (3 + math.sqrt(2.5))
    low = 20 * (3 - math.sqrt(2.5))
    scores = {s.submission_id: s.score for s in outcome.ranking}
    assert scores == {
        1: pytest.approx(high),
        4: pytest.approx(high),
        2: pytest.approx(60),
        5: pytest.approx(60),
        3: pytest.approx(low),
        6: pytest.approx(low),
    }
    # Equal z scores: the raw mean breaks the tie (100 > 60, 80 > 40, 60 > 20).
    assert [s.submission_id for s in outcome.ranking] == [1, 4, 2, 5, 3, 6]
    assert [s.tie_broken_by for s in outcome.ranking] == [None, "raw", None, "raw", None, "raw"]
    # The raw mean stays visible next to the normalised score.
    assert by_id(outcome.ranking)[4].raw == pytest.approx(60)
    assert by_id(outcome.ranking)[1].criteria_normalised[1] == pytest.approx(3 + math.sqrt(2.5))
    assert {n.mode for n in outcome.normalisation} == {"z"}


def test_z_falls_back_to_raw_for_a_judge_with_fewer_than_three_submissions():
    # Judge 1 scores three submissions with spread; judge 2 only two: judge 2 keeps raw values.
    marks = flat(1, 1, 5) + flat(1, 2, 3) + flat(1, 3, 1) + flat(2, 1, 2) + flat(2, 2, 4)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2, 3), method="z")
    modes = {(n.judge_id, n.criterion_id): n.mode for n in outcome.normalisation}
    assert {modes[(2, c)] for c in (1, 2, 3)} == {"raw-few"}
    assert {modes[(1, c)] for c in (1, 2, 3)} == {"z"}
    # Judge 1: mean 3, SD sqrt(8/3), z = +-sqrt(1.5), 0. Panel: 5 3 1 2 4 -> mean 3,
    # SD sqrt(2). Rescaled: 3 +- sqrt(3) and 3. Judge 2 raw: 2 and 4.
    # Submission 2: (judge 1: 3 -> 60) and (judge 2: 4 -> 80): z = 70.
    # Submission 1: (3 + sqrt(3)) * 20 = 94.64 and 40 -> 67.32.
    s = by_id(outcome.ranking)
    assert s[2].score == pytest.approx(70)
    assert s[1].score == pytest.approx((20 * (3 + math.sqrt(3)) + 40) / 2)
    assert s[3].score == pytest.approx(20 * (3 - math.sqrt(3)))
    assert [x.submission_id for x in outcome.ranking] == [2, 1, 3]
    # Raw would put submission 1 first: (100 + 40) / 2 = 70 vs (60 + 80) / 2 = 70, tie broken
    # by the criteria (equal) then the earlier submission, so here: by id.
    raw = outcome.rankings["raw"]
    assert [x.submission_id for x in raw] == [1, 2, 3]
    assert raw[1].tie_broken_by == "id"


def test_z_falls_back_to_raw_for_a_judge_without_spread():
    # Judge 1 gives 3 everywhere (no spread): raw values kept; judge 2 has spread.
    marks = []
    for sub in (1, 2, 3):
        marks += flat(1, sub, 3)
    for sub, value in ((1, 5), (2, 3), (3, 1)):
        marks += flat(2, sub, value)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2, 3), method="z")
    modes = Counter(n.mode for n in outcome.normalisation)
    assert modes == {"raw-flat": 3, "z": 3}
    s = by_id(outcome.ranking)
    # Judge 2: mean 3, SD sqrt(8/3); panel: 3 3 3 5 3 1 -> mean 3, SD sqrt(8/6) = sqrt(4/3).
    # Rescaled: 3 + sqrt(1.5) * sqrt(4/3) = 3 + sqrt(2) -> total 20 * (3 + sqrt(2)).
    assert s[1].score == pytest.approx((60 + 20 * (3 + math.sqrt(2))) / 2)
    assert s[2].score == pytest.approx(60)


def test_z_clips_rescaled_values_to_the_scale():
    # Judge 1: 5, 0, 0 (mean 5/3, SD sqrt(50/9), z of the 5 = sqrt(2)); judge 2: 5, 5, 0 (z of a
    # 5 = sqrt(0.5)). Panel: 5 0 0 5 5 0, mean 2.5, SD 2.5. Judge 1's 5 rescales to
    # 2.5 + sqrt(2) * 2.5 = 6.04, clipped to 5; judge 2's to 2.5 + sqrt(0.5) * 2.5 = 4.27.
    marks = flat(1, 1, 5) + flat(1, 2, 0) + flat(1, 3, 0)
    marks += flat(2, 1, 5) + flat(2, 2, 5) + flat(2, 3, 0)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2, 3), method="z")
    s1 = by_id(outcome.ranking)[1]
    assert s1.criteria_normalised[1] == pytest.approx((5 + 2.5 + 2.5 * math.sqrt(0.5)) / 2)
    for s in outcome.ranking:
        assert all(0 <= v <= 5 for v in s.criteria_normalised.values())
        assert 0 <= s.score <= 100


# -- Borda -------------------------------------------------------------------------------------


def test_borda_counts_the_share_of_each_judges_pile_beaten():
    outcome = score_challenge(
        RUBRIC, lenient_and_harsh(), entries(1, 2, 3, 4, 5, 6), method="borda"
    )
    s = by_id(outcome.ranking)
    assert {k: v.score for k, v in s.items()} == {1: 100, 2: 50, 3: 0, 4: 100, 5: 50, 6: 0}
    assert [x.submission_id for x in outcome.ranking] == [1, 4, 2, 5, 3, 6]


def test_borda_counts_a_tie_within_a_pile_as_a_half_and_weighs_piles_equally():
    # Judge 1: S1 = 80, S2 = 80, S3 = 40 -> S1, S2 beat one and tie one: (1 + 0.5) / 2 = 75.
    # Judge 2 scores S3 and S4 only: S3 (60) beats S4 (20) -> share 1.
    marks = flat(1, 1, 4) + flat(1, 2, 4) + flat(1, 3, 2) + flat(2, 3, 3) + flat(2, 4, 1)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2, 3, 4), method="borda")
    s = by_id(outcome.ranking)
    assert s[1].score == pytest.approx(75) and s[2].score == pytest.approx(75)
    assert s[3].score == pytest.approx(50)  # mean of 0 (judge 1) and 100 (judge 2)
    assert s[4].score == pytest.approx(0)


def test_borda_leaves_out_a_judge_with_one_submission():
    marks = flat(1, 1, 5) + flat(2, 2, 1) + flat(2, 3, 4)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2, 3), method="borda")
    s = by_id(outcome.ranking)
    assert s[1].score is None and s[3].score == 100 and s[2].score == 0
    assert [x.submission_id for x in outcome.ranking] == [3, 2, 1]  # no Borda score: last


# -- Ties --------------------------------------------------------------------------------------


def test_tie_broken_by_the_heaviest_criterion():
    # Both total 50: S1 = (5, 0, 0) -> 50; S2 = (0, 5, 5) -> 30 + 20. Criterion 1 weighs most.
    marks = sheet(1, 2, 0, 5, 5) + sheet(1, 1, 5, 0, 0)
    for method in METHODS:
        outcome = score_challenge(RUBRIC, marks, entries(2, 1), method=method)
        if method == "borda":
            # one judge, two submissions: both have share 0.5 after the tie within the pile
            assert [s.score for s in outcome.ranking] == [50, 50]
        assert [s.submission_id for s in outcome.ranking] == [1, 2], method
        assert outcome.ranking[1].tie_broken_by == "criterion", method


def test_tie_broken_by_rubric_order_among_equal_weights():
    rubric = (Criterion(7, 40), Criterion(8, 40), Criterion(9, 20))
    # S1 = (5, 0, 0) and S2 = (0, 5, 0) both total 40; criterion 7 comes first in the rubric.
    marks = [Mark(1, 2, 7, 0), Mark(1, 2, 8, 5), Mark(1, 2, 9, 0)]
    marks += [Mark(1, 1, 7, 5), Mark(1, 1, 8, 0), Mark(1, 1, 9, 0)]
    outcome = score_challenge(rubric, marks, entries(1, 2), method="raw")
    assert [s.submission_id for s in outcome.ranking] == [1, 2]


def test_tie_broken_by_the_earlier_submission_then_by_number():
    marks = flat(1, 5, 3) + flat(1, 6, 3) + flat(1, 7, 3)
    times = {5: 30, 6: 10, 7: 30}
    outcome = score_challenge(RUBRIC, marks, entries(5, 6, 7, times=times), method="raw")
    assert [s.submission_id for s in outcome.ranking] == [6, 5, 7]
    assert [s.tie_broken_by for s in outcome.ranking] == [None, "submitted_at", "id"]


def test_float_noise_does_not_decide_a_place():
    # Weights 33/33/34. A = (0, 3, 1) and B = (2, 1, 1) both total 26.6, but in floating point
    # B's 13.2 + 6.6 + 6.8 = 26.599999999999998 < 26.6. Rounded, they tie; the heaviest criterion
    # (3, equal) then criterion 1 (B has 2, A has 0) puts B first.
    rubric = (Criterion(1, 33), Criterion(2, 33), Criterion(3, 34))
    marks = [Mark(1, 1, 1, 0), Mark(1, 1, 2, 3), Mark(1, 1, 3, 1)]
    marks += [Mark(1, 2, 1, 2), Mark(1, 2, 2, 1), Mark(1, 2, 3, 1)]
    outcome = score_challenge(rubric, marks, entries(1, 2), method="raw")
    assert [s.submission_id for s in outcome.ranking] == [2, 1]
    assert outcome.ranking[1].tie_broken_by == "criterion"


# -- Flags -------------------------------------------------------------------------------------


def test_method_sensitive_when_the_top_places_differ():
    marks = lenient_and_harsh()
    two = score_challenge(RUBRIC, marks, entries(1, 2, 3, 4, 5, 6), method="z", winners=2)
    assert two.top == {"raw": (1, 2), "z": (1, 4), "borda": (1, 4)}
    assert two.method_sensitive
    one = score_challenge(RUBRIC, marks, entries(1, 2, 3, 4, 5, 6), method="z", winners=1)
    assert one.top == {"raw": (1,), "z": (1,), "borda": (1,)}
    assert not one.method_sensitive


def test_order_of_the_top_places_matters():
    # Three judges score S1, S2, S3 (flat sheets):
    #   judge 1: 5, 1, 0 (S1 > S2 > S3); judges 2 and 3: 2, 3, 0 (S2 > S1 > S3).
    # Raw: S1 = (100 + 40 + 40) / 3 = 60, S2 = (20 + 60 + 60) / 3 = 46.7 -> S1, S2.
    # Borda: S1 = (1 + .5 + .5) / 3 = 66.7, S2 = (.5 + 1 + 1) / 3 = 83.3 -> S2, S1.
    # Same two submissions on top, in another order: the prize places differ.
    marks = flat(1, 1, 5) + flat(1, 2, 1) + flat(1, 3, 0)
    for judge in (2, 3):
        marks += flat(judge, 1, 2) + flat(judge, 2, 3) + flat(judge, 3, 0)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2, 3), winners=2, method="raw")
    assert outcome.top["raw"] == (1, 2) and outcome.top["borda"] == (2, 1)
    assert by_id(outcome.rankings["borda"])[2].score == pytest.approx(250 / 3)
    assert outcome.method_sensitive


def test_needs_consensus_when_totals_are_far_apart():
    # Totals 100 and 60: a spread of 40 > 30.
    marks = flat(1, 1, 5) + flat(2, 1, 3) + flat(1, 2, 3) + flat(2, 2, 3)
    outcome = score_challenge(RUBRIC, marks, entries(1, 2))
    s = by_id(outcome.ranking)
    assert s[1].needs_consensus and s[1].consensus_reasons == ("spread",)
    assert s[1].spread == pytest.approx(40)
    assert not s[2].needs_consensus
    assert outcome.needs_consensus() == (1,)
    # A spread of exactly the threshold is not beyond it.
    assert not by_id(score_challenge(RUBRIC, marks, entries(1, 2), spread_threshold=40).ranking)[
        1
    ].needs_consensus


def test_needs_consensus_when_one_criterion_differs_by_three():
    # Equal totals, far apart criteria: judge 1: (5, 2, 2) -> 50 + 12 + 8 = 70; judge 2: (2, 5, 5) -> 20 + 30 + 20 = 70.
    marks = sheet(1, 1, 5, 2, 2) + sheet(2, 1, 2, 5, 5)
    s = score_challenge(RUBRIC, marks, entries(1)).ranking[0]
    assert s.spread == pytest.approx(0)
    assert s.consensus_reasons == ("criterion:1", "criterion:2", "criterion:3")


def test_one_judge_never_needs_consensus():
    s = score_challenge(RUBRIC, flat(1, 1, 5), entries(1)).ranking[0]
    assert not s.needs_consensus and s.judges == 1


def test_a_submission_without_scores_ranks_last():
    outcome = score_challenge(RUBRIC, flat(1, 1, 1), entries(1, 2), method="raw")
    assert [s.submission_id for s in outcome.ranking] == [1, 2]
    assert outcome.ranking[1].score is None and outcome.ranking[1].judges == 0


# -- Bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rubric",
    [
        (Criterion(1, 50), Criterion(2, 50)),  # too few
        tuple(Criterion(i, 10) for i in range(7)),  # too many
        (Criterion(1, 50), Criterion(2, 30), Criterion(3, 30)),  # 110
        (Criterion(1, 110), Criterion(2, -5), Criterion(3, -5)),  # negative
        (Criterion(1, 50), Criterion(1, 30), Criterion(3, 20)),  # duplicate ids
    ],
)
def test_bad_rubrics_are_refused(rubric):
    with pytest.raises(ScoringError):
        check_rubric(rubric)


def test_bad_marks_are_refused():
    with pytest.raises(ScoringError, match="outside"):
        score_challenge(RUBRIC, sheet(1, 1, 6, 1, 1), entries(1))
    with pytest.raises(ScoringError, match="two scores"):
        score_challenge(RUBRIC, flat(1, 1, 3) + [Mark(1, 1, 1, 4)], entries(1))
    with pytest.raises(ScoringError, match="every criterion"):
        score_challenge(RUBRIC, [Mark(1, 1, 1, 4)], entries(1))
    with pytest.raises(ScoringError, match="unknown criterion"):
        score_challenge(RUBRIC, [Mark(1, 1, 9, 4)], entries(1))
    with pytest.raises(ScoringError, match="not entries"):
        score_challenge(RUBRIC, flat(1, 2, 3), entries(1))
    with pytest.raises(ScoringError, match="unknown method"):
        score_challenge(RUBRIC, flat(1, 1, 3), entries(1), method="kemeny")


def test_inputs_are_not_mutated():
    marks = lenient_and_harsh()
    copy = list(marks)
    score_challenge(RUBRIC, marks, entries(1, 2, 3, 4, 5, 6))
    assert marks == copy


# -- Assignment --------------------------------------------------------------------------------


def test_balanced_assignment_gives_three_judges_each_and_even_loads():
    result = balanced_assignment(list(range(1, 7)), [11, 12, 13, 14], seed=1)
    per_sub = Counter(s for s, _j in result.pairs)
    loads = Counter(j for _s, j in result.pairs)
    assert set(per_sub.values()) == {3} and len(result.pairs) == 18
    assert sorted(loads.values()) == [4, 4, 5, 5]
    assert result.short == {}
    assert len(set(result.pairs)) == 18


def test_assignment_respects_conflicts_and_existing_judges():
    existing = [(1, 11)]
    excluded = [(1, 12), (2, 12)]
    result = balanced_assignment(
        [1, 2, 3], [11, 12, 13, 14], existing=existing, excluded=excluded, seed=3
    )
    pairs = set(result.pairs)
    assert (1, 12) not in pairs and (2, 12) not in pairs and (1, 11) not in pairs
    assert Counter(s for s, _ in pairs) == {1: 2, 2: 3, 3: 3}  # 1 already had judge 11
    assert result.short == {}


def test_assignment_reports_submissions_left_short():
    result = balanced_assignment([1, 2], [11, 12], seed=0)
    assert result.short == {1: 2, 2: 2}
    blocked = balanced_assignment([1], [11, 12], excluded=[(1, 11)], seed=0)
    assert blocked.pairs == ((1, 12),) and blocked.short == {1: 1}


def test_assignment_is_random_but_reproducible():
    a = balanced_assignment(list(range(10)), list(range(100, 106)), seed=7)
    b = balanced_assignment(list(range(10)), list(range(100, 106)), seed=7)
    c = balanced_assignment(list(range(10)), list(range(100, 106)), seed=8)
    assert a == b and a.pairs != c.pairs
