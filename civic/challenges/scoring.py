"""Rubric scoring for challenges: pure functions over frozen dataclasses, no database.

Every judge scores every criterion of a submission from 0 to 5. A judge's *total* for a
submission is the weighted sum rescaled to 0–100: ``sum(weight_c * value_c / 5)`` (weights sum
to 100). Three methods rank the submissions:

``raw``
    The mean of the judges' totals.

``z``
    Each judge's scores on each criterion are z-normalised over the submissions that judge
    scored (population standard deviation), then put back on the 0–5 scale of the whole panel
    for that criterion (``panel mean + z * panel SD``, clipped to 0–5), weighted to 0–100 and
    averaged over the judges. This removes a lenient or a harsh judge's offset. A judge who
    scored fewer than 3 submissions, or gave one value to every submission on a criterion (no
    spread), keeps their raw values for it: there is nothing to normalise against.

``borda``
    Each judge orders the submissions they scored by their own totals. A submission earns, from
    each judge, the share of that judge's *other* submissions it beats (a tie counts a half),
    so a judge with a pile of 4 and a judge with a pile of 6 weigh the same. The Borda score is
    100 times the mean share. Judges who scored a single submission express no order and are
    left out; a submission with no such judge has no Borda score and ranks last.

Ties (the documented rule, applied to every method, in this order):

1. the higher weighted raw mean;
2. the higher mean raw score on each criterion in turn, heaviest criterion first (rubric order
   among equal weights);
3. the earlier final submission (the judged version was received first);
4. the lower submission number.

Each ranked entry records which step separated it from the entry above it (``tie_broken_by``),
so the results page can say so. Scores are compared after rounding to 9 decimals, so float
noise never decides a place.

Flags:

* **method-sensitive**: the ordered top places (as many as there are prizes, at least one)
  differ between the three methods.
* **needs consensus**: a submission's judges disagree: their totals differ by more than
  ``spread_threshold`` points (of 100), or their scores on one criterion differ by
  ``criterion_gap`` points (of 5) or more.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

METHODS = ("raw", "z", "borda")
MAX_VALUE = 5
MIN_SCORED_FOR_Z = 3
DEFAULT_SPREAD_THRESHOLD = 30.0
DEFAULT_CRITERION_GAP = 3
TIE_STEPS = ("raw", "criterion", "submitted_at", "id")
_PRECISION = 9


@dataclass(frozen=True)
class Criterion:
    """A rubric criterion: its id and weight (the weights of a rubric sum to 100)."""

    id: int
    weight: int


@dataclass(frozen=True)
class Mark:
    """One judge's 0–5 score of one criterion of one submission."""

    judge_id: int
    submission_id: int
    criterion_id: int
    value: int


@dataclass(frozen=True)
class Entry:
    """A submission taking part: its id and when its judged version arrived (any comparable)."""

    submission_id: int
    submitted_at: Any = 0


@dataclass(frozen=True)
class Scored:
    """A submission's place and scores under one method."""

    submission_id: int
    rank: int
    score: float | None
    raw: float | None
    z: float | None
    borda: float | None
    criteria_raw: dict[int, float]
    criteria_normalised: dict[int, float]
    judges: int
    spread: float
    needs_consensus: bool
    consensus_reasons: tuple[str, ...]
    tie_broken_by: str | None


@dataclass(frozen=True)
class Normalisation:
    """How one judge's scores on one criterion were treated by the z method."""

    judge_id: int
    criterion_id: int
    mode: str  # "z", "raw-few" (fewer than 3 submissions) or "raw-flat" (no spread)
    mean: float
    sd: float


@dataclass(frozen=True)
class Outcome:
    """Every method's ranking, the flags, and which method is the challenge's default."""

    method: str
    rankings: dict[str, tuple[Scored, ...]]
    top: dict[str, tuple[int, ...]]
    winners: int
    method_sensitive: bool
    normalisation: tuple[Normalisation, ...] = field(default_factory=tuple)

    @property
    def ranking(self) -> tuple[Scored, ...]:
        """The ranking by the default method."""
        return self.rankings[self.method]

    def needs_consensus(self) -> tuple[int, ...]:
        """Ids of submissions whose judges disagree beyond the thresholds."""
        return tuple(s.submission_id for s in self.ranking if s.needs_consensus)


class ScoringError(ValueError):
    """Input the scoring cannot use (weights, values, duplicates, incomplete sheets)."""


# -- Helpers -----------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _sd(values: Sequence[float]) -> float:
    """Population standard deviation."""
    mu = _mean(values)
    return math.sqrt(sum((v - mu) ** 2 for v in values) / len(values))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _PRECISION)


def _weighted(values: Mapping[int, float], criteria: Sequence[Criterion]) -> float:
    return sum(c.weight * values[c.id] / MAX_VALUE for c in criteria)


def check_rubric(criteria: Sequence[Criterion]) -> None:
    """Raise ScoringError unless there are 3–6 criteria whose positive weights sum to 100."""
    if not 3 <= len(criteria) <= 6:
        raise ScoringError("a rubric has 3 to 6 criteria")
    if any(c.weight <= 0 for c in criteria):
        raise ScoringError("every weight is positive")
    if sum(c.weight for c in criteria) != 100:
        raise ScoringError("weights sum to 100")
    if len({c.id for c in criteria}) != len(criteria):
        raise ScoringError("criterion ids are unique")


def _sheets(
    criteria: Sequence[Criterion], marks: Iterable[Mark]
) -> dict[tuple[int, int], dict[int, int]]:
    """{(judge, submission): {criterion: value}}, checked complete and in range."""
    known = {c.id for c in criteria}
    sheets: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for mark in marks:
        if mark.criterion_id not in known:
            raise ScoringError(f"unknown criterion {mark.criterion_id}")
        if not isinstance(mark.value, int) or not 0 <= mark.value <= MAX_VALUE:
            raise ScoringError(f"score {mark.value!r} is outside 0–5")
        sheet = sheets[(mark.judge_id, mark.submission_id)]
        if mark.criterion_id in sheet:
            raise ScoringError("two scores for one judge, submission and criterion")
        sheet[mark.criterion_id] = mark.value
    for key, sheet in sheets.items():
        if set(sheet) != known:
            raise ScoringError(f"judge {key[0]} did not score every criterion of {key[1]}")
    return dict(sheets)


# -- Methods -----------------------------------------------------------------------------------


def _raw(criteria, sheets, entries):
    totals: dict[int, list[float]] = defaultdict(list)
    for (_judge, sub), sheet in sheets.items():
        totals[sub].append(_weighted(sheet, criteria))
    return {
        e.submission_id: _mean(totals[e.submission_id]) if totals[e.submission_id] else None
        for e in entries
    }


def _normalised_sheets(criteria, sheets):
    """Each sheet's values after per-judge, per-criterion z-normalisation (or raw fallback)."""
    by_judge: dict[int, list[int]] = defaultdict(list)
    for judge, sub in sheets:
        by_judge[judge].append(sub)
    panel: dict[int, tuple[float, float]] = {}
    for c in criteria:
        values = [sheet[c.id] for sheet in sheets.values()]
        panel[c.id] = (_mean(values), _sd(values)) if values else (0.0, 0.0)
    result: dict[tuple[int, int], dict[int, float]] = {key: {} for key in sheets}
    notes: list[Normalisation] = []
    for judge in sorted(by_judge):
        subs = by_judge[judge]
        for c in criteria:
            values = [sheets[(judge, s)][c.id] for s in subs]
            mu, sd = _mean(values), _sd(values)
            panel_mu, panel_sd = panel[c.id]
            if len(subs) < MIN_SCORED_FOR_Z:
                mode = "raw-few"
            elif sd == 0 or panel_sd == 0:
                mode = "raw-flat"
            else:
                mode = "z"
            notes.append(Normalisation(judge, c.id, mode, mu, sd))
            for s, value in zip(subs, values, strict=True):
                if mode == "z":
                    rescaled = panel_mu + (value - mu) / sd * panel_sd
                    result[(judge, s)][c.id] = min(float(MAX_VALUE), max(0.0, rescaled))
                else:
                    result[(judge, s)][c.id] = float(value)
    return result, tuple(notes)


def _z(criteria, sheets, entries):
    normalised, _notes = _normalised_sheets(criteria, sheets)
    totals: dict[int, list[float]] = defaultdict(list)
    for (_judge, sub), values in normalised.items():
        totals[sub].append(_weighted(values, criteria))
    return {
        e.submission_id: _mean(totals[e.submission_id]) if totals[e.submission_id] else None
        for e in entries
    }


def _borda(criteria, sheets, entries):
    by_judge: dict[int, dict[int, float]] = defaultdict(dict)
    for (judge, sub), sheet in sheets.items():
        by_judge[judge][sub] = round(_weighted(sheet, criteria), _PRECISION)
    shares: dict[int, list[float]] = defaultdict(list)
    for totals in by_judge.values():
        if len(totals) < 2:
            continue
        others = len(totals) - 1
        for sub, total in totals.items():
            beaten = sum(1 for s, t in totals.items() if s != sub and t < total)
            tied = sum(1 for s, t in totals.items() if s != sub and t == total)
            shares[sub].append((beaten + tied / 2) / others)
    return {
        e.submission_id: 100 * _mean(shares[e.submission_id]) if shares[e.submission_id] else None
        for e in entries
    }


# The registry: a method turns (criteria, sheets, entries) into {submission: score or None}.
METHOD_FUNCTIONS: dict[str, Callable[..., dict[int, float | None]]] = {
    "raw": _raw,
    "z": _z,
    "borda": _borda,
}


# -- Ranking -----------------------------------------------------------------------------------


def _tie_key(sub, score, raw, criteria_raw, tie_order, submitted_at):
    """The sort key that implements the documented tie rule (smaller sorts first)."""
    missing = score is None
    return (
        missing,
        0.0 if missing else -_round(score),
        0.0 if raw is None else -_round(raw),
        tuple(-_round(criteria_raw.get(cid, 0.0)) for cid in tie_order),
        submitted_at,
        sub,
    )


def _step_between(upper: tuple, lower: tuple) -> str | None:
    """Which step of the tie rule separated two neighbours (None: their scores differ)."""
    if upper[:2] != lower[:2]:
        return None
    for step, index in (("raw", 2), ("criterion", 3), ("submitted_at", 4)):
        if upper[index] != lower[index]:
            return step
    return "id"


def score_challenge(
    criteria: Sequence[Criterion],
    marks: Iterable[Mark],
    entries: Sequence[Entry],
    *,
    method: str = "z",
    winners: int = 1,
    spread_threshold: float = DEFAULT_SPREAD_THRESHOLD,
    criterion_gap: int = DEFAULT_CRITERION_GAP,
) -> Outcome:
    """Rank the entries by every method; flag method sensitivity and judges' disagreement."""
    if method not in METHOD_FUNCTIONS:
        raise ScoringError(f"unknown method {method!r}")
    check_rubric(criteria)
    if len({e.submission_id for e in entries}) != len(entries):
        raise ScoringError("submission ids are unique")
    sheets = _sheets(criteria, marks)
    entry_ids = {e.submission_id for e in entries}
    stray = {sub for (_judge, sub) in sheets} - entry_ids
    if stray:
        raise ScoringError(f"scores for submissions that are not entries: {sorted(stray)}")

    scores = {name: fn(criteria, sheets, entries) for name, fn in METHOD_FUNCTIONS.items()}
    normalised, notes = _normalised_sheets(criteria, sheets)
    per_sub: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for judge, sub in sheets:
        per_sub[sub].append((judge, sub))
    tie_order = [c.id for c in sorted(criteria, key=lambda c: -c.weight)]  # stable: rubric order

    details: dict[int, dict[str, Any]] = {}
    for entry in entries:
        keys = per_sub.get(entry.submission_id, [])
        criteria_raw = (
            {c.id: _mean([sheets[k][c.id] for k in keys]) for c in criteria} if keys else {}
        )
        criteria_norm = (
            {c.id: _mean([normalised[k][c.id] for k in keys]) for c in criteria} if keys else {}
        )
        totals = [_weighted(sheets[k], criteria) for k in keys]
        spread = (max(totals) - min(totals)) if totals else 0.0
        reasons: list[str] = []
        if len(keys) >= 2:
            if round(spread, _PRECISION) > spread_threshold:
                reasons.append("spread")
            for c in criteria:
                values = [sheets[k][c.id] for k in keys]
                if max(values) - min(values) >= criterion_gap:
                    reasons.append(f"criterion:{c.id}")
        details[entry.submission_id] = {
            "criteria_raw": criteria_raw,
            "criteria_normalised": criteria_norm,
            "judges": len(keys),
            "spread": spread,
            "reasons": tuple(reasons),
        }

    rankings: dict[str, tuple[Scored, ...]] = {}
    for name in METHODS:
        keyed = sorted(
            (
                _tie_key(
                    e.submission_id,
                    scores[name][e.submission_id],
                    scores["raw"][e.submission_id],
                    details[e.submission_id]["criteria_raw"],
                    tie_order,
                    e.submitted_at,
                ),
                e.submission_id,
            )
            for e in entries
        )
        ranked = []
        for position, (key, sub) in enumerate(keyed, start=1):
            d = details[sub]
            ranked.append(
                Scored(
                    submission_id=sub,
                    rank=position,
                    score=scores[name][sub],
                    raw=scores["raw"][sub],
                    z=scores["z"][sub],
                    borda=scores["borda"][sub],
                    criteria_raw=d["criteria_raw"],
                    criteria_normalised=d["criteria_normalised"],
                    judges=d["judges"],
                    spread=d["spread"],
                    needs_consensus=bool(d["reasons"]),
                    consensus_reasons=d["reasons"],
                    tie_broken_by=_step_between(keyed[position - 2][0], key)
                    if position > 1
                    else None,
                )
            )
        rankings[name] = tuple(ranked)

    k = max(1, min(winners, len(entries))) if entries else 0
    top = {name: tuple(s.submission_id for s in rankings[name][:k]) for name in METHODS}
    return Outcome(
        method=method,
        rankings=rankings,
        top=top,
        winners=k,
        method_sensitive=len(set(top.values())) > 1,
        normalisation=notes,
    )


# -- Assignment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """New judge assignments to add, and the submissions left with too few judges."""

    pairs: tuple[tuple[int, int], ...]  # (submission_id, judge_id)
    short: dict[int, int]  # submission_id -> judges it has after assignment, when < wanted


def balanced_assignment(
    submission_ids: Sequence[int],
    judge_ids: Sequence[int],
    *,
    per_submission: int = 3,
    existing: Iterable[tuple[int, int]] = (),
    excluded: Iterable[tuple[int, int]] = (),
    seed: int | None = None,
) -> Assignment:
    """Top every submission up to `per_submission` judges, at random with balanced loads.

    `existing` and `excluded` are (submission, judge) pairs: assignments already made, and
    conflicts of interest (or anything else that rules a judge out of a submission). The most
    constrained submissions are served first; among candidates the least loaded judge wins,
    ties drawn at random, so loads never differ by more than one unless conflicts force it.
    """
    rng = random.Random(seed)  # noqa: S311 - fairness, not secrecy
    have: dict[int, set[int]] = defaultdict(set)
    load: dict[int, int] = dict.fromkeys(judge_ids, 0)
    for sub, judge in existing:
        have[sub].add(judge)
        if judge in load:
            load[judge] += 1
    banned = set(excluded)

    def candidates(sub: int) -> list[int]:
        return [j for j in judge_ids if j not in have[sub] and (sub, j) not in banned]

    order = list(submission_ids)
    rng.shuffle(order)
    order.sort(key=lambda s: len(candidates(s)))
    pairs: list[tuple[int, int]] = []
    for sub in order:
        need = per_submission - len(have[sub])
        if need <= 0:
            continue
        pool = candidates(sub)
        rng.shuffle(pool)
        pool.sort(key=lambda j: load[j])
        for judge in pool[:need]:
            pairs.append((sub, judge))
            have[sub].add(judge)
            load[judge] += 1
    short = {s: len(have[s]) for s in submission_ids if len(have[s]) < per_submission}
    return Assignment(tuple(sorted(pairs)), short)
