"""The report workflow's rules, as pure functions: which state may follow which, who may reopen
and until when, due dates, overdue, and the words the public reads for each state."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l

STATES = ("new", "acknowledged", "in_progress", "resolved", "closed")
OPEN_STATES = frozenset({"new", "acknowledged", "in_progress"})
CLOSE_REASONS = ("duplicate", "not_responsible", "cannot_find")
REOPEN_WINDOW = timedelta(days=14)

# What staff may move a report to from each state. "closed" needs a reason; a reopened report
# starts again at "new" so that it shows up in the triage queue.
STAFF_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "in_progress", "resolved", "closed"}),
    "acknowledged": frozenset({"in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"acknowledged", "resolved", "closed"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset({"acknowledged", "in_progress"}),
}

# Words residents read. "Not the city's responsibility" reads as a brush-off (FixMyStreet
# #4457): we say who it was passed to instead.
STATE_LABELS = {
    "new": _l("Received"),
    "acknowledged": _l("Acknowledged"),
    "in_progress": _l("Work in progress"),
    "resolved": _l("Fixed"),
    "closed": _l("Closed"),
}
STATE_HINTS = {
    "new": _l("The city has received the report and will look at it."),
    "acknowledged": _l("Staff have read the report and planned the work."),
    "in_progress": _l("Someone is working on it."),
    "resolved": _l(
        "The city says the problem is fixed. Not fixed? The reporter can reopen it within 14 days."
    ),
    "closed": _l("The city will not act on this report; the reason is given below."),
}
CLOSE_REASON_LABELS = {
    "duplicate": _l("Already reported"),
    "not_responsible": _l("Passed to another organisation"),
    "cannot_find": _l("Could not be found"),
}
STATE_CODES = {state: index for index, state in enumerate(STATES)}


def can_staff_move(from_state: str, to_state: str) -> bool:
    """True when staff may change a report from one state to the other."""
    return to_state in STAFF_TRANSITIONS.get(from_state, frozenset())


def due_at(created_at: datetime, target_days: int) -> datetime:
    """When a report is due: its creation plus the category's target resolution time."""
    return created_at + timedelta(days=target_days)


def is_overdue(state: str, due: datetime, now: datetime) -> bool:
    """Open past its due date."""
    return state in OPEN_STATES and now > due


def reopen_deadline(resolved_at: datetime | None) -> datetime | None:
    """The last moment the reporter may reopen a fixed report."""
    return resolved_at + REOPEN_WINDOW if resolved_at else None


def can_reopen(state: str, resolved_at: datetime | None, now: datetime) -> bool:
    """A fixed report may be reopened by its reporter within 14 days of being marked fixed."""
    deadline = reopen_deadline(resolved_at)
    return state == "resolved" and deadline is not None and now <= deadline


def open311_status(state: str) -> str:
    """GeoReport v2 knows only open and closed."""
    return "open" if state in OPEN_STATES else "closed"


def states_for_open311(statuses: list[str]) -> set[str]:
    """Our states matching Open311 status values ('open', 'closed')."""
    wanted: set[str] = set()
    if "open" in statuses:
        wanted |= OPEN_STATES
    if "closed" in statuses:
        wanted |= {"resolved", "closed"}
    return wanted
