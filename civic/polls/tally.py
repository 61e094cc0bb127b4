"""Poll maths, pure: results, shares, age bands, small-group suppression, deadline clocks.

Plain data in, frozen dataclasses out; no database, no app.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

MIN_GROUP_SIZE = 10
AGE_BAND_LIMITS = ((24, "0-24"), (34, "25-34"), (44, "35-44"), (54, "45-54"), (64, "55-64"))
OLDEST_BAND = "65+"


@dataclass(frozen=True)
class OptionCount:
    """How many voters chose one option, and their share of all voters."""

    option_id: int
    votes: int
    share: float


@dataclass(frozen=True)
class Results:
    """A poll's results: participants and, per option, votes and share of participants."""

    participants: int
    options: tuple[OptionCount, ...]

    @property
    def leader_ids(self) -> frozenset[int]:
        """The option(s) with the most votes (none when nobody voted)."""
        top = max((o.votes for o in self.options), default=0)
        return frozenset(o.option_id for o in self.options if top and o.votes == top)


def compute_results(
    participants: int, votes_by_option: Mapping[int, int], option_ids: Iterable[int]
) -> Results:
    """Shares are of participants, so multi-choice shares may add up to more than 100 %."""
    options = tuple(
        OptionCount(
            option_id,
            votes_by_option.get(option_id, 0),
            (votes_by_option.get(option_id, 0) / participants) if participants else 0.0,
        )
        for option_id in option_ids
    )
    return Results(participants, options)


def age_band(birth_year: int | None, year: int) -> str | None:
    """The age band of someone born in `birth_year`, in `year` (None when unknown)."""
    if birth_year is None or birth_year > year:
        return None
    age = year - birth_year
    for upper, band in AGE_BAND_LIMITS:
        if age <= upper:
            return band
    return OLDEST_BAND


@dataclass(frozen=True)
class GroupRow:
    """One demographic group's results (shown only when large enough)."""

    group: str
    participants: int
    results: Results


@dataclass(frozen=True)
class Breakdown:
    """Groups shown, and how many groups were hidden for being too small."""

    rows: tuple[GroupRow, ...]
    hidden_groups: int


def suppress_small_groups(
    sizes: Mapping[str, int], total: int, minimum: int = MIN_GROUP_SIZE
) -> tuple[frozenset[str], int]:
    """Groups that may be shown, and the number hidden.

    A group under `minimum` people is hidden. If what stays hidden (the small groups plus people
    in no group) adds up to fewer than `minimum` but more than zero, it could be worked out by
    subtracting the shown groups from the total; then the next smallest group is hidden too,
    until the hidden remainder is safe.
    """
    shown = {group for group, size in sizes.items() if size >= minimum}
    while True:
        remainder = total - sum(sizes[g] for g in shown)
        if remainder == 0 or remainder >= minimum or not shown:
            break
        smallest = min(shown, key=lambda g: (sizes[g], g))
        shown.discard(smallest)
    hidden = sum(1 for group, size in sizes.items() if size > 0 and group not in shown)
    return frozenset(shown), hidden


def compute_breakdown(
    total_participants: int,
    group_sizes: Mapping[str, int],
    votes: Mapping[tuple[str, int], int],
    option_ids: Iterable[int],
    order: Iterable[str],
    minimum: int = MIN_GROUP_SIZE,
) -> Breakdown:
    """Per-group results for the groups that survive suppression, in `order`."""
    option_ids = tuple(option_ids)
    shown, hidden = suppress_small_groups(group_sizes, total_participants, minimum)
    rows = tuple(
        GroupRow(
            group,
            group_sizes[group],
            compute_results(
                group_sizes[group],
                {oid: votes.get((group, oid), 0) for oid in option_ids},
                option_ids,
            ),
        )
        for group in order
        if group in shown
    )
    return Breakdown(rows, hidden)


@dataclass(frozen=True)
class Clock:
    """Where an official answer stands against its deadline.

    state: 'due' (days left, 0 = today), 'overdue' (days late), 'answered' (days = 0 on time,
    otherwise days late).
    """

    state: str
    days: int

    @property
    def is_overdue(self) -> bool:
        return self.state == "overdue"


def answer_clock(
    due_at: datetime, answered_at: datetime | None, now: datetime, tz: tzinfo = UTC
) -> Clock:
    """The public clock of an agenda, in calendar days of the city's time zone: due in N days
    (0 = today), overdue by N days, or answered (N days late, 0 when on time)."""
    due = due_at.astimezone(tz).date()
    if answered_at is not None:
        return Clock("answered", max(0, (answered_at.astimezone(tz).date() - due).days))
    days = (due - now.astimezone(tz).date()).days
    if days >= 0:
        return Clock("due", days)
    return Clock("overdue", -days)


def threshold_progress(participants: int, threshold: int) -> float:
    """Share of the threshold reached, capped at 1."""
    if threshold <= 0:
        return 1.0
    return min(1.0, participants / threshold)
