"""The room's answers counted: pure functions, checked by hand."""

from __future__ import annotations

import pytest

from civic.workshops import tally


def test_choices_count_each_option_once_per_answer_and_ignore_unknown_keys():
    result = tally.count_choices(["a", "b", "c"], [["a"], ["a", "b"], ["b", "b"], ["zzz"], []])
    assert result.answers == 5
    assert dict(result.counts) == {"a": 2, "b": 2, "c": 0}
    assert result.share("a") == pytest.approx(0.4)
    assert tally.count_choices(["a"], []).share("a") == 0.0


@pytest.mark.parametrize(
    ("ratings", "mean", "distribution"),
    [
        ([1, 2, 3, 4, 5], 3.0, (1, 1, 1, 1, 1)),
        ([5, 5, 4], 14 / 3, (0, 0, 0, 1, 2)),
        ([0, 6, 3], 3.0, (0, 0, 1, 0, 0)),  # out of range values are ignored
        ([], None, (0, 0, 0, 0, 0)),
    ],
)
def test_rating_mean_and_distribution(ratings, mean, distribution):
    result = tally.rate(ratings)
    assert result.mean == (pytest.approx(mean) if mean is not None else None)
    assert tuple(count for _n, count in result.distribution) == distribution


def test_word_list_folds_case_and_spaces_and_sizes_by_frequency():
    words = tally.word_list(
        ["Bike lanes", "bike  lanes ", "BIKE LANES", "Trees", "trees", "Shade", "  "]
    )
    assert [(w.text, w.count) for w in words] == [("Bike lanes", 3), ("Trees", 2), ("Shade", 1)]
    assert [w.size for w in words] == [5, 3, 1]
    assert tally.word_list(["one"])[0].size == 1


def test_ranking_is_a_borda_count_best_first():
    rows = tally.rank(["a", "b", "c"], [["a", "b", "c"], ["b", "a", "c"], ["b", "c", "a"]])
    # points: a = 2 + 1 + 0 = 3; b = 1 + 2 + 2 = 5; c = 0 + 0 + 1 = 1
    assert [(r.key, r.points) for r in rows] == [("b", 5), ("a", 3), ("c", 1)]
    assert rows[0].mean_position == pytest.approx(4 / 3)


def test_readiness_area_is_the_mean_of_its_statements_means_and_unrated_ones_do_not_count():
    items = [
        ("governing", "g1", [5, 5]),  # mean 5
        ("governing", "g2", [1, 2, 3, 4, 5, 5]),  # mean 10/3
        ("governing", "g3", []),  # nobody rated it
        ("managing", "m1", [2]),
        ("value", "v1", []),
    ]
    scores = tally.readiness_scores(items, ["governing", "managing", "value"])
    areas = {a.area: a for a in scores.areas}
    assert areas["governing"].mean == pytest.approx((5 + 10 / 3) / 2)
    assert (areas["governing"].questions, areas["governing"].answered) == (3, 2)
    assert areas["managing"].mean == 2
    assert areas["value"].mean is None
    assert scores.overall == pytest.approx(((5 + 10 / 3) / 2 + 2) / 2)
    assert [q.key for q in scores.questions] == ["g1", "g2", "g3", "m1", "v1"]
