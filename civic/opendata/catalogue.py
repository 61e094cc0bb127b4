"""The open data catalogue: a registry of sources, each listing its public items and building
each export (run by a job, cached in storage).

A source reads its module only through public services or public rows, and is guarded by the
module's availability check (civic.opendata.stats.AVAILABILITY): while a module is missing,
its source is registered but lists nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from civic.core.i18n import pick_text
from civic.core.time import utcnow
from civic.extensions import db
from civic.opendata import stats

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
LICENCE_NAMES = {CC_BY: "CC BY 4.0", CC0: "CC0 1.0"}

FORMATS = {
    # format: (media type, EU file type authority code, file extension)
    "csv": ("text/csv", "CSV", "csv"),
    "json": ("application/json", "JSON", "json"),
    "geojson": ("application/geo+json", "GEOJSON", "geojson"),
    "pb": ("text/plain", "TXT", "pb"),
    "file": ("application/octet-stream", "BIN", "bin"),
}


@dataclass(frozen=True)
class Item:
    """One dataset of a source (one poll's results, one budget's results...)."""

    id: str
    title: str
    modified: datetime | None
    landing_page: str | None = None
    description: str = ""
    # Files served by their module directly (e.g. the budget's .pb): format -> URL.
    links: dict[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    # An item's own licence (a shared dataset's), else its source's.
    licence: str | None = None


@dataclass(frozen=True)
class Source:
    """A kind of public dataset, its licence and how to build each of its formats."""

    key: str
    title: object
    description: object
    module: str
    formats: tuple[str, ...]
    list_items: Callable[[], list[Item]]
    build: Callable[[str, str], bytes]
    licence: str = CC_BY
    # How long a built file is served before a job rebuilds it (None: never changes).
    max_age: timedelta | None = timedelta(hours=1)

    def is_available(self) -> bool:
        """Whether the module this source reads is usable now."""
        check = stats.AVAILABILITY.get(self.module)
        return True if check is None else check()

    def items(self) -> list[Item]:
        """The source's public items, or none while its module is unavailable."""
        return self.list_items() if self.is_available() else []

    def get_item(self, item_id: str) -> Item | None:
        """The public item with this id, if it is (still) public."""
        return next((i for i in self.items() if i.id == item_id), None)


def _url(endpoint: str, **values) -> str | None:
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, _external=True, **values)
    except RuntimeError:  # no request and no SERVER_NAME: jobs build files without URLs
        return None


def _json_bytes(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1, default=str).encode("utf-8")


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                "'" + v
                if isinstance(v, str) and v[:1] in ("=", "+", "-", "@")
                else ("" if v is None else v)
                for v in row
            ]
        )
    return out.getvalue().encode("utf-8")


class ItemGone(LookupError):
    """The item is not (or no longer) public."""


# -- Budgets --------------------------------------------------------------------------------


def _budget_items() -> list[Item]:
    from civic.budgeting.models import Budget, Process, ResultSet

    rows = db.session.execute(
        select(ResultSet, Budget, Process)
        .join(Budget, Budget.id == ResultSet.budget_id)
        .join(Process, Process.id == Budget.process_id)
        .where(ResultSet.published_at.is_not(None))
        .order_by(ResultSet.published_at.desc())
    ).all()
    items = []
    for result, budget, process in rows:
        links = {}
        if result.pb_file_key:
            pb = _url("budgeting.results_file", budget_id=budget.id)
            if pb:
                links["pb"] = pb
        items.append(
            Item(
                id=str(budget.id),
                title=f"{pick_text(process.title).text} · {pick_text(budget.name).text}",
                modified=result.published_at,
                landing_page=_url("budgeting.results", slug=process.slug, budget_id=budget.id),
                links=links,
                keywords=("participatory budgeting", "pabulib"),
            )
        )
    return items


def _budget_result_rows(budget_id: int) -> tuple[list[str], list[list], dict]:
    from civic.budgeting.models import Budget, ResultSet

    result = db.session.scalar(select(ResultSet).where(ResultSet.budget_id == budget_id))
    budget = db.session.get(Budget, budget_id)
    if result is None or result.published_at is None or budget is None:
        raise ItemGone(budget_id)
    data = result.outcome.get("projects", {})
    header = ["project", "title", "district", "category", "cost", "votes", "selected", "status"]
    rows = []
    for project in budget.projects:
        d = data.get(project.code, {})
        rows.append(
            [
                project.code,
                pick_text(project.title).text,
                project.district.code if project.district else "",
                project.category or "",
                f"{project.cost:.2f}",
                d.get("votes", 0),
                int(bool(d.get("selected"))),
                project.status,
            ]
        )
    meta = {
        "budget_id": budget.id,
        "name": budget.name,
        "amount": f"{budget.amount:.2f}",
        "currency": current_app.config["CIVIC_CURRENCY"],
        "district": budget.district.code if budget.district else None,
        "ballot_type": budget.ballot_type,
        "rule": result.rule,
        "voters": result.voters,
        "published_at": result.published_at.isoformat(),
        "pb_sha256": result.pb_sha256,
        "total_cost": result.outcome.get("total_cost"),
        "selected": result.outcome.get("selected", []),
    }
    return header, rows, meta


def _build_budget(item_id: str, fmt: str) -> bytes:
    header, rows, meta = _budget_result_rows(int(item_id))
    if fmt == "csv":
        return _csv_bytes(header, rows)
    return _json_bytes({**meta, "projects": [dict(zip(header, r, strict=True)) for r in rows]})


def _funding_items() -> list[Item]:
    from civic.budgeting.models import ResultSet

    latest = db.session.scalar(
        select(ResultSet.published_at)
        .where(ResultSet.published_at.is_not(None))
        .order_by(ResultSet.published_at.desc())
    )
    if latest is None:
        return []
    return [
        Item(
            "all",
            str(_l("Budget funding by district")),
            latest,
            _url("budgeting.projects"),
            keywords=("participatory budgeting",),
        )
    ]


def _build_funding(item_id: str, fmt: str) -> bytes:
    chart = stats.funding_by_district()
    rows = [
        [label, f"{v:.2f}"] for label, v in zip(chart.labels, chart.series[0].values, strict=True)
    ]
    if fmt == "csv":
        return _csv_bytes(["district", "funded"], rows)
    return _json_bytes(
        {
            "currency": current_app.config["CIVIC_CURRENCY"],
            "districts": [{"district": d, "funded": f} for d, f in rows],
        }
    )


# -- Polls ----------------------------------------------------------------------------------


def _poll_items() -> list[Item]:
    from civic.polls.models import Poll

    polls = db.session.scalars(
        select(Poll)
        .where(Poll.status == "published", Poll.closes_at <= utcnow())
        .order_by(Poll.closes_at.desc())
    )
    return [
        Item(
            str(p.id),
            pick_text(p.question).text,
            p.closes_at,
            _url("polls.detail", poll_id=p.id),
            keywords=("poll",),
        )
        for p in polls
    ]


def _build_poll(item_id: str, fmt: str) -> bytes:
    from civic.core.errors import DomainError
    from civic.polls import services as polls

    try:
        if fmt == "csv":
            return polls.results_csv(int(item_id)).encode("utf-8")
        return _json_bytes(polls.results_data(int(item_id)))
    except DomainError:
        raise ItemGone(item_id) from None


# -- Reports --------------------------------------------------------------------------------

# Sensitive categories: positions to ~1 km (2 decimals); others to ~10 m (4 decimals). Dates
# are days. No description, address, name, photo or note leaves Civic through this export.
SENSITIVE_DECIMALS = 2
PUBLIC_DECIMALS = 4


def _report_items() -> list[Item]:
    from sqlalchemy import func

    from civic.reports.models import Report

    latest = db.session.scalar(
        select(func.max(Report.updated_at)).where(
            Report.is_confirmed.is_(True), Report.is_hidden.is_(False)
        )
    )
    if latest is None:
        return []
    return [
        Item(
            "all",
            str(_l("Reports of problems in public space")),
            latest,
            _url("reports.index"),
            description=str(
                _l(
                    "Every public report: category, district, state, dates (days) and position. "
                    "Positions in sensitive categories are rounded to about 1 km; no descriptions, "
                    "addresses, names or photos."
                )
            ),
            keywords=("open311", "reports"),
        )
    ]


def anonymised_reports() -> list[dict]:
    """Every public report, anonymised: coarse dates, rounded positions, no free text."""
    from civic.reports.models import Category, Report

    rows = db.session.execute(
        select(
            Report.id,
            Category.code,
            Category.is_sensitive,
            Report.district_id,
            Report.state,
            Report.created_at,
            Report.resolved_at,
            Report.public_latitude,
            Report.public_longitude,
        )
        .join(Category, Category.id == Report.category_id)
        .where(Report.is_confirmed.is_(True), Report.is_hidden.is_(False))
        .order_by(Report.id)
    ).all()
    from civic.core.models import District

    districts = {d.id: d.code for d in db.session.scalars(select(District))}
    out = []
    for rid, code, sensitive, district_id, state, created, resolved, lat, lon in rows:
        digits = SENSITIVE_DECIMALS if sensitive else PUBLIC_DECIMALS
        out.append(
            {
                "id": rid,
                "category": code,
                "sensitive": bool(sensitive),
                "district": districts.get(district_id, ""),
                "state": state,
                "reported_on": created.date().isoformat(),
                "resolved_on": resolved.date().isoformat() if resolved else None,
                "latitude": round(lat, digits),
                "longitude": round(lon, digits),
            }
        )
    return out


def _build_reports(item_id: str, fmt: str) -> bytes:
    rows = anonymised_reports()
    if fmt == "geojson":
        return _json_bytes(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [r["longitude"], r["latitude"]],
                        },
                        "properties": {
                            k: v for k, v in r.items() if k not in ("latitude", "longitude")
                        },
                    }
                    for r in rows
                    if not (math.isnan(r["latitude"]) or math.isnan(r["longitude"]))
                ],
            }
        )
    header = [
        "id",
        "category",
        "sensitive",
        "district",
        "state",
        "reported_on",
        "resolved_on",
        "latitude",
        "longitude",
    ]
    return _csv_bytes(header, [[r[h] for h in header] for r in rows])


# -- Challenges -----------------------------------------------------------------------------


def _challenge_items() -> list[Item]:
    return [
        Item(
            str(c["id"]),
            c["title"],
            c["updated_at"],
            c["results_url"] or c["url"],
            keywords=("challenge", "innovation"),
        )
        for c in stats.public_challenges()
        if c["has_results"]
    ]


def _build_challenge(item_id: str, fmt: str) -> bytes:
    import importlib

    data = stats.challenge_ranking_data(int(item_id))
    if data is None:
        raise ItemGone(item_id)
    if fmt == "csv":
        services = importlib.import_module("civic.challenges.services")
        return services.scores_csv(int(item_id), include_judges=False).encode("utf-8")
    return _json_bytes(data)


SPDX_URL = "https://spdx.org/licenses/{}.html"


def _dataset_items() -> list[Item]:
    items = []
    for dataset in stats.open_challenge_datasets():
        download = _url("challenges.download", dataset_id=dataset.id)
        fmt = (dataset.file_kind or "").lower()
        items.append(
            Item(
                str(dataset.id),
                pick_text(dataset.title).text,
                dataset.created_at,
                _url("challenges.dataset", dataset_id=dataset.id),
                description=pick_text(dataset.description).text,
                links={fmt if fmt in FORMATS else "file": download} if download else {},
                keywords=("challenge", "dataset"),
                licence=SPDX_URL.format(dataset.licence) if dataset.licence else None,
            )
        )
    return items


def _no_build(item_id: str, fmt: str) -> bytes:
    raise ItemGone(item_id)  # open datasets are served by the challenges module itself


# -- Workshops ------------------------------------------------------------------------------


def _workshop_items() -> list[Item]:
    from civic.workshops.services import list_published_sessions

    return [
        Item(
            str(s.id),
            pick_text(s.title).text,
            s.published_at,
            _url("workshops.public_results", session_id=s.id),
            keywords=("workshop",),
        )
        for s in list_published_sessions()
    ]


def _build_workshop(item_id: str, fmt: str) -> bytes:
    from civic.workshops.models import WorkshopSession
    from civic.workshops.services import session_results_csv, session_results_data

    session = db.session.get(WorkshopSession, int(item_id))
    if session is None or session.published_at is None:
        raise ItemGone(item_id)
    if fmt == "csv":
        return session_results_csv(session).encode("utf-8")
    return _json_bytes(session_results_data(session))


SOURCES: dict[str, Source] = {
    s.key: s
    for s in (
        Source(
            "budget-results",
            _l("Participatory budgeting results"),
            _l(
                "Each published budget: its projects with cost, votes and whether they were funded. The anonymised ballots are in Pabulib's .pb format, to recount with any tool."
            ),
            "budgeting",
            ("csv", "json"),
            _budget_items,
            _build_budget,
            max_age=timedelta(days=1),
        ),
        Source(
            "budget-funding",
            _l("Budget funding by district"),
            _l("Money given to funded projects of published budgets, per district."),
            "budgeting",
            ("csv", "json"),
            _funding_items,
            _build_funding,
        ),
        Source(
            "poll-results",
            _l("Poll results"),
            _l(
                "Each closed poll: votes per option, participation per district, age and gender groups large enough to publish, and the city's answer."
            ),
            "polls",
            ("csv", "json"),
            _poll_items,
            _build_poll,
            max_age=timedelta(days=1),
        ),
        Source(
            "reports",
            _l("Reports"),
            _l(
                "Problems residents reported, anonymised: category, district, state, dates and position (rounded in sensitive categories)."
            ),
            "reports",
            ("csv", "geojson"),
            _report_items,
            _build_reports,
        ),
        Source(
            "challenge-results",
            _l("Challenge results"),
            _l("The published ranking of each finished challenge."),
            "challenges",
            ("csv", "json"),
            _challenge_items,
            _build_challenge,
        ),
        Source(
            "challenge-datasets",
            _l("Open datasets"),
            _l(
                "Data the city shares openly for its innovation challenges, with each file's own licence."
            ),
            "challenges",
            (),
            _dataset_items,
            _no_build,
        ),
        Source(
            "workshop-results",
            _l("Workshop results"),
            _l(
                "What the room answered in workshops whose facilitator published the results: counts per option, ratings, word lists and rankings; never who answered."
            ),
            "workshops",
            ("csv", "json"),
            _workshop_items,
            _build_workshop,
            max_age=timedelta(minutes=5),
        ),
    )
}


@dataclass(frozen=True)
class Entry:
    """A catalogue entry: an item of a source, with its files."""

    source: Source
    item: Item

    @property
    def key(self) -> str:
        return f"{self.source.key}/{self.item.id}"


def list_entries() -> list[Entry]:
    """Everything public, source by source."""
    return [Entry(source, item) for source in SOURCES.values() for item in source.items()]


def export_key(source_key: str, item_id: str, fmt: str) -> str:
    """The cache key of one file."""
    return f"{source_key}:{item_id}:{fmt}"
