"""Public figures of the city, drawn from the modules' public data only, for workshop charts,
the dashboard and the catalogue.

Each module is read through a guard: polls, reports and challenges are built in parallel, and
a figure whose module is not installed (or lacks what it needs) reports itself unavailable
instead of pretending. Only public rows are read: confirmed, unhidden reports at their public
positions; published polls; published budget results.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from civic.core.i18n import pick_text
from civic.core.models import District
from civic.core.time import utcnow
from civic.extensions import db
from civic.workshops.charts import Chart, MapPoint, Series


def _has(module: str, names: dict[str, tuple[str, ...]]) -> bool:
    """True when `module` imports and each named class has the named attributes."""
    try:
        loaded = importlib.import_module(module)
    except ImportError:
        return False
    for class_name, attributes in names.items():
        cls = getattr(loaded, class_name, None)
        if cls is None or not all(hasattr(cls, a) for a in attributes):
            return False
    return True


def reports_available() -> bool:
    """The reports module is installed with the public columns these figures read."""
    return _has(
        "civic.reports.models",
        {
            "Report": (
                "public_latitude",
                "public_longitude",
                "is_confirmed",
                "is_hidden",
                "created_at",
                "resolved_at",
                "category_id",
                "district_id",
                "state",
            ),
            "Category": ("name", "code", "is_sensitive"),
        },
    )


def polls_available() -> bool:
    """The polls module is installed with what these figures read."""
    return _has(
        "civic.polls.models",
        {
            "Poll": ("question", "status", "opens_at", "closes_at", "participant_count", "options"),
            "PollOption": ("label", "vote_count", "position"),
        },
    ) and _has("civic.polls.services", {})


def challenges_available() -> bool:
    """The challenges module is installed with the public services these figures read."""
    if not _has(
        "civic.challenges.models",
        {
            "Challenge": ("title", "slug", "published_at", "results_published_at"),
            "ChallengeResult": ("outcome", "method", "published_at"),
            "Dataset": ("access", "title", "description", "licence", "file_kind", "created_at"),
        },
    ):
        return False
    services = importlib.import_module("civic.challenges.services")
    needed = ("list_challenges", "get_result", "scores_csv", "current_phase", "list_submissions")
    return all(callable(getattr(services, n, None)) for n in needed) and hasattr(
        services, "PHASE_LABELS"
    )


def _week_start(now: datetime) -> datetime:
    """Monday 00:00 of this week in the city's time zone, as UTC."""
    tz = ZoneInfo(current_app.config["CIVIC_TIMEZONE"])
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday.astimezone(ZoneInfo("UTC"))


def _public_reports():
    from civic.reports.models import Report

    return (Report.is_confirmed.is_(True), Report.is_hidden.is_(False))


# -- Reports --------------------------------------------------------------------------------


def reports_by_category(days: int | None = None, now: datetime | None = None) -> Chart:
    """Public reports per category this week (days=None) or over the last `days` days."""
    from civic.reports.models import Category, Report

    now = now or utcnow()
    since = _week_start(now) if days is None else now - timedelta(days=days)
    rows = db.session.execute(
        select(Report.category_id, func.count(Report.id))
        .where(*_public_reports(), Report.created_at >= since)
        .group_by(Report.category_id)
    ).all()
    # Grouped by id only: PostgreSQL cannot group by a JSON column.
    names = dict(db.session.execute(select(Category.id, Category.name)).all())
    pairs = sorted(
        ((pick_text(names.get(cid)).text, n) for cid, n in rows), key=lambda x: (-x[1], x[0])
    )
    title = (
        _("Reports this week by category")
        if days is None
        else _("Reports of the last %(days)s days by category", days=days)
    )
    return Chart(
        title=title,
        labels=tuple(p[0] for p in pairs),
        series=(Series(_("Reports"), tuple(float(p[1]) for p in pairs)),),
        label_heading=_("Category"),
    )


def reports_by_district(days: int = 90, now: datetime | None = None) -> Chart:
    """Public reports per district over the last `days` days."""
    from civic.reports.models import Report

    now = now or utcnow()
    rows = db.session.execute(
        select(Report.district_id, func.count(Report.id))
        .where(*_public_reports(), Report.created_at >= now - timedelta(days=days))
        .group_by(Report.district_id)
    ).all()
    names = dict(db.session.execute(select(District.id, District.name)).all())
    pairs = sorted(
        ((pick_text(names.get(did)).text, n) for did, n in rows), key=lambda x: (-x[1], x[0])
    )
    return Chart(
        title=_("Reports of the last %(days)s days by district", days=days),
        labels=tuple(p[0] for p in pairs),
        series=(Series(_("Reports"), tuple(float(p[1]) for p in pairs)),),
        label_heading=_("District"),
    )


def reports_by_week(weeks: int = 12, now: datetime | None = None) -> Chart:
    """Public reports made and resolved per week, for the last `weeks` weeks."""
    from civic.reports.models import Report

    now = now or utcnow()
    first = _week_start(now) - timedelta(weeks=weeks - 1)
    made = db.session.scalars(
        select(Report.created_at).where(*_public_reports(), Report.created_at >= first)
    ).all()
    resolved = db.session.scalars(
        select(Report.resolved_at).where(*_public_reports(), Report.resolved_at >= first)
    ).all()
    starts = [first + timedelta(weeks=i) for i in range(weeks)]

    def bucket(values: list[datetime]) -> tuple[float, ...]:
        counts = [0] * weeks
        for value in values:
            index = int((value - first).total_seconds() // (7 * 86400))
            if 0 <= index < weeks:
                counts[index] += 1
        return tuple(float(c) for c in counts)

    tz = ZoneInfo(current_app.config["CIVIC_TIMEZONE"])
    from flask_babel import format_date

    return Chart(
        title=_("Reports per week"),
        labels=tuple(format_date(s.astimezone(tz).date(), "short") for s in starts),
        series=(Series(_("Reported"), bucket(made)), Series(_("Resolved"), bucket(resolved))),
        label_heading=_("Week starting"),
    )


def _resolution_days(days: int, now: datetime) -> list[tuple[object, float]]:
    from civic.reports.models import Category, Report

    rows = db.session.execute(
        select(Category.name, Report.created_at, Report.resolved_at)
        .join(Category, Category.id == Report.category_id)
        .where(*_public_reports(), Report.resolved_at >= now - timedelta(days=days))
    ).all()
    return [
        (name, (resolved - created).total_seconds() / 86400) for name, created, resolved in rows
    ]


def median_days_to_resolve(days: int = 90, now: datetime | None = None) -> float | None:
    """The median time from report to resolution, in days, of reports resolved lately."""
    values = [d for _name, d in _resolution_days(days, now or utcnow())]
    return median(values) if values else None


def resolution_times(days: int = 90, now: datetime | None = None) -> Chart:
    """Median days to resolve per category, for reports resolved in the last `days` days."""
    groups: dict[str, list[float]] = {}
    for name, value in _resolution_days(days, now or utcnow()):
        groups.setdefault(pick_text(name).text, []).append(value)
    pairs = sorted(((k, median(v)) for k, v in groups.items()), key=lambda x: (-x[1], x[0]))
    return Chart(
        title=_("Median days to resolve a report, by category"),
        labels=tuple(p[0] for p in pairs),
        series=(Series(_("Median days"), tuple(round(p[1], 1) for p in pairs)),),
        label_heading=_("Category"),
    )


HOTSPOT_CELL_DEGREES = 0.003  # about 300 m: coarser than the 100 m of sensitive categories


def report_hotspots(days: int = 90, now: datetime | None = None) -> Chart:
    """Public report positions counted in ~300 m cells (places with at least two reports)."""
    from civic.reports.models import Report

    now = now or utcnow()
    rows = db.session.execute(
        select(Report.public_latitude, Report.public_longitude).where(
            *_public_reports(), Report.created_at >= now - timedelta(days=days)
        )
    ).all()
    cells: dict[tuple[int, int], int] = {}
    for lat, lon in rows:
        key = (math.floor(lat / HOTSPOT_CELL_DEGREES), math.floor(lon / HOTSPOT_CELL_DEGREES))
        cells[key] = cells.get(key, 0) + 1
    points = tuple(
        MapPoint(
            round((i + 0.5) * HOTSPOT_CELL_DEGREES, 5),
            round((j + 0.5) * HOTSPOT_CELL_DEGREES, 5),
            n,
            ngettext("%(num)s report", "%(num)s reports", n),
        )
        for (i, j), n in sorted(cells.items(), key=lambda item: -item[1])
        if n >= 2
    )
    return Chart(
        title=_("Where reports gather (last %(days)s days)", days=days),
        points=points,
        outlines=district_outlines(),
        label_heading=_("Place"),
    )


def district_outlines() -> tuple[tuple[tuple[float, float], ...], ...]:
    """Each district's outer rings as (longitude, latitude) pairs."""
    from civic.core.geo import list_districts

    rings = []
    for district in list_districts():
        geometry = district.geometry or {}
        polygons = (
            [geometry.get("coordinates", [])]
            if geometry.get("type") == "Polygon"
            else geometry.get("coordinates", [])
        )
        for polygon in polygons:
            if polygon:
                rings.append(tuple((float(x), float(y)) for x, y, *_rest in polygon[0]))
    return tuple(rings)


# -- Polls ----------------------------------------------------------------------------------


def list_closed_polls(limit: int = 50) -> list[tuple[int, str]]:
    """Closed published polls (their results are public), newest first."""
    from civic.polls.models import Poll

    polls = db.session.scalars(
        select(Poll)
        .where(Poll.status == "published", Poll.closes_at <= utcnow())
        .order_by(Poll.closes_at.desc())
        .limit(limit)
    )
    return [(p.id, pick_text(p.question).text) for p in polls]


def poll_results(poll_id: int, now: datetime | None = None) -> Chart | None:
    """A closed poll's votes per option (None when the poll's results are not public)."""
    from civic.polls.models import Poll

    poll = db.session.get(Poll, poll_id)
    if poll is None or not poll.is_closed(now or utcnow()):
        return None
    return Chart(
        title=pick_text(poll.question).text,
        labels=tuple(pick_text(o.label).text for o in poll.options),
        series=(Series(_("Votes"), tuple(float(o.vote_count) for o in poll.options)),),
        label_heading=_("Option"),
        note=ngettext("%(num)s participant", "%(num)s participants", poll.participant_count),
    )


def open_polls(now: datetime | None = None) -> list[dict]:
    """Polls open now, with their participation."""
    from civic.polls.models import Poll

    now = now or utcnow()
    polls = db.session.scalars(
        select(Poll)
        .where(Poll.status == "published", Poll.opens_at <= now, Poll.closes_at > now)
        .order_by(Poll.closes_at)
    ).all()
    return [
        {
            "id": p.id,
            "question": pick_text(p.question).text,
            "participants": p.participant_count,
            "threshold": p.threshold,
            "closes_at": p.closes_at,
        }
        for p in polls
    ]


def open_polls_chart(now: datetime | None = None) -> Chart:
    """Participants in each open poll."""
    rows = open_polls(now)
    return Chart(
        title=_("Open polls and their participation"),
        labels=tuple(r["question"] for r in rows),
        series=(Series(_("Participants"), tuple(float(r["participants"]) for r in rows)),),
        label_heading=_("Poll"),
    )


# -- Budgets --------------------------------------------------------------------------------


def list_published_budgets() -> list[tuple[int, str]]:
    """Budgets whose results are published, newest first."""
    from civic.budgeting.models import Budget, Process, ResultSet

    rows = db.session.execute(
        select(Budget, Process)
        .join(ResultSet, ResultSet.budget_id == Budget.id)
        .join(Process, Process.id == Budget.process_id)
        .where(ResultSet.published_at.is_not(None))
        .order_by(ResultSet.published_at.desc())
    ).all()
    return [(b.id, f"{pick_text(p.title).text} · {pick_text(b.name).text}") for b, p in rows]


def budget_results(budget_id: int) -> Chart | None:
    """Votes per project of a published result, funded and not funded apart."""
    from civic.budgeting.models import Budget, ResultSet

    result = db.session.scalar(select(ResultSet).where(ResultSet.budget_id == budget_id))
    budget = db.session.get(Budget, budget_id)
    if result is None or result.published_at is None or budget is None:
        return None
    data = result.outcome.get("projects", {})
    selected = set(result.outcome.get("selected", []))
    projects = sorted(budget.projects, key=lambda p: -(data.get(p.code, {}).get("votes") or 0))
    votes = [float(data.get(p.code, {}).get("votes") or 0) for p in projects]
    return Chart(
        title=pick_text(budget.name).text,
        labels=tuple(pick_text(p.title).text for p in projects),
        series=(
            Series(
                _("Funded"),
                tuple(
                    v if p.code in selected else None for p, v in zip(projects, votes, strict=True)
                ),
            ),
            Series(
                _("Not funded"),
                tuple(
                    None if p.code in selected else v for p, v in zip(projects, votes, strict=True)
                ),
            ),
        ),
        label_heading=_("Project"),
        note=ngettext("%(num)s ballot", "%(num)s ballots", result.voters),
    )


def funding_by_district() -> Chart:
    """Money for funded projects of published results, per district (city-wide apart)."""
    from civic.budgeting.models import Budget, Project, ResultSet

    rows = db.session.execute(
        select(func.coalesce(Project.district_id, Budget.district_id), func.sum(Project.cost))
        .join(Budget, Budget.id == Project.budget_id)
        .join(ResultSet, ResultSet.budget_id == Budget.id)
        .where(ResultSet.published_at.is_not(None), Project.is_funded.is_(True))
        .group_by(func.coalesce(Project.district_id, Budget.district_id))
    ).all()
    names = {d.id: pick_text(d.name).text for d in db.session.scalars(select(District))}
    pairs = sorted(
        ((names.get(did, _("City-wide")), float(total or 0)) for did, total in rows),
        key=lambda x: (-x[1], x[0]),
    )
    return Chart(
        title=_("Budget funding by district"),
        labels=tuple(p[0] for p in pairs),
        series=(Series(_("Funded"), tuple(p[1] for p in pairs)),),
        label_heading=_("District"),
        extra={"money": True},
    )


# -- Challenges -----------------------------------------------------------------------------


def _view_url(endpoint: str, **values) -> str | None:
    from flask import url_for

    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except RuntimeError:  # a job, outside any request: no address to give
        return None


def public_challenges() -> list[dict]:
    """Published challenges with their phase, through the challenges module's services (which
    leave drafts out for anyone but the innovation team; no viewer here)."""
    services = importlib.import_module("civic.challenges.services")
    rows = []
    for challenge in services.list_challenges(None):
        phase = services.current_phase(challenge)
        result = services.get_result(challenge.id) if challenge.results_published_at else None
        rows.append(
            {
                "id": challenge.id,
                "title": pick_text(challenge.title).text,
                "state": phase,
                "state_label": str(services.PHASE_LABELS.get(phase, phase)),
                "url": _view_url("challenges.detail", slug=challenge.slug),
                "results_url": _view_url("challenges.results", slug=challenge.slug),
                "updated_at": challenge.results_published_at or challenge.published_at,
                "has_results": result is not None,
            }
        )
    return rows


def _published_ranking(challenge_id: int) -> tuple[object, list[dict]] | None:
    services = importlib.import_module("civic.challenges.services")
    result = services.get_result(challenge_id)
    if result is None:
        return None
    submissions = {s.id: s for s in services.list_submissions(challenge_id)}
    ranking = []
    for entry in result.outcome["rankings"][result.method]:
        submission = submissions.get(entry["submission_id"])
        ranking.append({**entry, "team": submission.team.name if submission else ""})
    return result, ranking


def challenge_results(challenge_id: int) -> Chart | None:
    """A challenge's published ranking: each team's final score by the published method."""
    published = _published_ranking(challenge_id)
    if published is None:
        return None
    result, ranking = published
    return Chart(
        title=_("Challenge results"),
        labels=tuple(f"{r['rank']}. {r['team']}" for r in ranking),
        series=(Series(_("Score"), tuple(r["score"] for r in ranking)),),
        label_heading=_("Team"),
        note=_("Method: %(method)s", method=result.method),
    )


def challenge_ranking_data(challenge_id: int) -> dict | None:
    """The published ranking for open data: scores per team, never a judge."""
    published = _published_ranking(challenge_id)
    if published is None:
        return None
    result, ranking = published
    keep = (
        "rank",
        "submission_id",
        "team",
        "score",
        "raw",
        "z",
        "borda",
        "criteria_raw",
        "criteria_normalised",
    )
    return {
        "challenge_id": challenge_id,
        "method": result.method,
        "method_note": result.method_note,
        "published_at": result.published_at.isoformat(),
        "ranking": [{k: r.get(k) for k in keep} for r in ranking],
    }


def open_challenge_datasets() -> list:
    """Datasets the city shares openly with everyone (challenge data with access 'open')."""
    from civic.challenges.models import Dataset

    return list(
        db.session.scalars(
            select(Dataset).where(Dataset.access == "open").order_by(Dataset.id.desc())
        )
    )


AVAILABILITY: dict[str, Callable[[], bool]] = {
    "reports": reports_available,
    "polls": polls_available,
    "budgeting": lambda: True,
    "challenges": challenges_available,
}
