"""The public dashboard's panels: the city's participation at a glance, from public data only.

Panels are a registry, like the catalogue's sources: each names the module it reads and the
page it links to; a panel whose module is unavailable is left out, not faked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from civic.core.i18n import format_number
from civic.opendata import stats
from civic.workshops.charts import Chart


@dataclass(frozen=True)
class PanelLink:
    """A line of a panel's list: a label, a figure and where to read more."""

    label: str
    value: str
    url: str | None = None


@dataclass(frozen=True)
class PanelData:
    """What a panel shows: a big figure, a chart, a list; any of them."""

    figure: str | None = None
    figure_label: str | None = None
    chart: Chart | None = None
    chart_type: str = "bar"
    links: tuple[PanelLink, ...] = ()
    empty_text: str | None = None


@dataclass(frozen=True)
class Panel:
    """A dashboard panel: its title, the module it reads, its source page and its data."""

    key: str
    title: object
    module: str
    source_endpoint: str
    source_label: object
    build: Callable[[], PanelData]
    params: dict = field(default_factory=dict)

    def is_available(self) -> bool:
        """Whether the panel's module is usable now."""
        check = stats.AVAILABILITY.get(self.module)
        return True if check is None else check()

    def source_url(self) -> str | None:
        """The page the panel's figures come from (None when that page does not exist)."""
        if self.source_endpoint not in current_app.view_functions:
            return None
        return url_for(self.source_endpoint)


def _reports_week() -> PanelData:
    chart = stats.reports_by_category(None)
    total = int(sum(v or 0 for v in chart.series[0].values))
    if not total:
        # A quiet week (or a Monday morning): show the month, under its own title.
        chart = stats.reports_by_category(30)
    return PanelData(
        figure=format_number(total),
        figure_label=ngettext("report this week", "reports this week", total),
        chart=chart,
        empty_text=_("No reports yet this week."),
    )


def _resolution() -> PanelData:
    days = stats.median_days_to_resolve(90)
    chart = stats.resolution_times(90)
    if days is None:
        return PanelData(empty_text=_("No report was resolved in the last 90 days."))
    return PanelData(
        figure=format_number(round(days, 1)),
        figure_label=_("median days to resolve a report (last 90 days)"),
        chart=chart,
    )


def _polls() -> PanelData:
    rows = stats.open_polls()
    links = tuple(
        PanelLink(
            r["question"],
            ngettext("%(num)s participant", "%(num)s participants", r["participants"]),
            url_for("polls.detail", poll_id=r["id"])
            if "polls.detail" in current_app.view_functions
            else None,
        )
        for r in rows
    )
    total = sum(r["participants"] for r in rows)
    return PanelData(
        figure=format_number(len(rows)),
        figure_label=ngettext("open poll", "open polls", len(rows)),
        chart=stats.open_polls_chart() if rows else None,
        links=links,
        empty_text=_("No poll is open right now.")
        if not rows
        else ngettext(
            "%(num)s person has taken part so far.", "%(num)s people have taken part so far.", total
        ),
    )


def _funding() -> PanelData:
    chart = stats.funding_by_district()
    return PanelData(chart=chart, empty_text=_("No budget result is published yet."))


def _challenges() -> PanelData:
    rows = stats.public_challenges()
    return PanelData(
        figure=format_number(len(rows)),
        figure_label=ngettext("challenge", "challenges", len(rows)),
        links=tuple(
            PanelLink(str(r["title"]), str(r.get("state_label", r.get("state", ""))), r.get("url"))
            for r in rows
        ),
        empty_text=_("No challenge is published yet.") if not rows else None,
    )


PANELS: dict[str, Panel] = {
    p.key: p
    for p in (
        Panel(
            "reports",
            _l("Reports this week"),
            "reports",
            "reports.index",
            _l("All reports"),
            _reports_week,
        ),
        Panel(
            "resolution",
            _l("Time to resolve"),
            "reports",
            "reports.index",
            _l("All reports"),
            _resolution,
        ),
        Panel(
            "polls",
            _l("Open polls and participation"),
            "polls",
            "polls.index",
            _l("All polls"),
            _polls,
        ),
        Panel(
            "funding",
            _l("Budget funding by district"),
            "budgeting",
            "budgeting.index",
            _l("All budgets"),
            _funding,
        ),
        Panel(
            "challenges",
            _l("Challenges and their state"),
            "challenges",
            "challenges.index",
            _l("All challenges"),
            _challenges,
        ),
    )
}


def available_panels() -> list[Panel]:
    """The panels whose module is usable now, in order."""
    return [p for p in PANELS.values() if p.is_available()]
