"""The room's answers counted: pure functions over plain data, frozen results out."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChoiceResults:
    """Answers per option of a single or multiple choice question."""

    answers: int
    counts: tuple[tuple[str, int], ...]

    def share(self, key: str) -> float:
        """The share of answers that chose this option (0 when nobody answered)."""
        count = dict(self.counts).get(key, 0)
        return count / self.answers if self.answers else 0.0


def count_choices(option_keys: Sequence[str], answers: Iterable[Sequence[str]]) -> ChoiceResults:
    """Count how many answers chose each option (unknown keys are ignored)."""
    counter: Counter[str] = Counter()
    total = 0
    known = set(option_keys)
    for chosen in answers:
        total += 1
        counter.update(key for key in set(chosen) if key in known)
    return ChoiceResults(total, tuple((key, counter[key]) for key in option_keys))


@dataclass(frozen=True)
class RatingResults:
    """Ratings from 1 to 5: how many of each, and the mean."""

    answers: int
    distribution: tuple[tuple[int, int], ...]
    mean: float | None


def rate(ratings: Iterable[int]) -> RatingResults:
    """The distribution and mean of 1-5 ratings (values outside 1-5 are ignored)."""
    values = [r for r in ratings if 1 <= r <= 5]
    counter = Counter(values)
    mean = sum(values) / len(values) if values else None
    return RatingResults(len(values), tuple((n, counter[n]) for n in range(1, 6)), mean)


@dataclass(frozen=True)
class WordCount:
    """One distinct short answer and how many gave it; size 1-5 for the word list."""

    text: str
    count: int
    size: int


_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Fold case and spaces so that 'Bike lanes' and ' bike  lanes' count as one answer."""
    return _SPACES.sub(" ", text).strip().casefold()


def word_list(texts: Iterable[str], limit: int = 60) -> tuple[WordCount, ...]:
    """Distinct answers, most given first, with a size class from 1 to 5 relative to the top."""
    counter: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for text in texts:
        key = normalise_text(text)
        if not key:
            continue
        counter[key] += 1
        forms.setdefault(key, Counter())[_SPACES.sub(" ", text).strip()] += 1
    # Show each answer as most people wrote it (ties: as it was first written).
    shown = {key: max(f.items(), key=lambda item: item[1])[0] for key, f in forms.items()}
    top = max(counter.values(), default=0)
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return tuple(
        WordCount(shown[key], count, 1 + round(4 * (count - 1) / (top - 1)) if top > 1 else 1)
        for key, count in ordered
    )


@dataclass(frozen=True)
class RankRow:
    """An option's mean position (1 is best) and Borda points over all rankings."""

    key: str
    mean_position: float | None
    points: int


def rank(option_keys: Sequence[str], rankings: Iterable[Sequence[str]]) -> tuple[RankRow, ...]:
    """Borda count: with n options, first place earns n-1 points, last 0; best first."""
    n = len(option_keys)
    points: Counter[str] = Counter()
    positions: dict[str, list[int]] = {key: [] for key in option_keys}
    for ranking in rankings:
        for place, key in enumerate(ranking):
            if key in positions:
                positions[key].append(place + 1)
                points[key] += n - 1 - place
    rows = [
        RankRow(
            key,
            sum(positions[key]) / len(positions[key]) if positions[key] else None,
            points[key],
        )
        for key in option_keys
    ]
    order = {key: i for i, key in enumerate(option_keys)}
    return tuple(sorted(rows, key=lambda r: (-r.points, order[r.key])))


@dataclass(frozen=True)
class QuestionScore:
    """The room's mean rating of one readiness statement."""

    area: str
    key: str
    answers: int
    mean: float | None


@dataclass(frozen=True)
class AreaScore:
    """An area's score: the mean of its statements' means (each statement weighs the same)."""

    area: str
    mean: float | None
    questions: int
    answered: int


@dataclass(frozen=True)
class ReadinessScores:
    """Per statement, per area and overall."""

    questions: tuple[QuestionScore, ...]
    areas: tuple[AreaScore, ...]
    overall: float | None


def readiness_scores(
    items: Sequence[tuple[str, str, Sequence[int]]], area_order: Sequence[str]
) -> ReadinessScores:
    """Score (area, key, ratings) items: a statement nobody rated has no mean and does not pull
    its area's mean down; an area's mean weighs its rated statements equally."""
    questions = []
    for area, key, ratings in items:
        result = rate(ratings)
        questions.append(QuestionScore(area, key, result.answers, result.mean))
    areas = []
    for area in area_order:
        means = [q.mean for q in questions if q.area == area and q.mean is not None]
        count = sum(1 for q in questions if q.area == area)
        areas.append(AreaScore(area, sum(means) / len(means) if means else None, count, len(means)))
    rated = [a.mean for a in areas if a.mean is not None]
    return ReadinessScores(
        tuple(questions), tuple(areas), sum(rated) / len(rated) if rated else None
    )
