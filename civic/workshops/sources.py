"""Where a data slide's chart comes from: a registry of chart sources.

Each source names the module it reads (checked by civic.opendata.stats' guards), the chart
types that suit it, the one parameter it takes and how to build the chart for a slide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from civic.opendata import stats
from civic.workshops.charts import Chart

PERIODS = (7, 30, 90, 365)


@dataclass(frozen=True)
class ChartSource:
    """A kind of chart a facilitator can put on a slide."""

    key: str
    label: object
    module: str
    chart_types: tuple[str, ...]
    # "days", "poll_id", "budget_id", "challenge_id", "challenge_dataset_id", "dataset_id", or None.
    param: str | None
    build: Callable[[object], Chart | None]

    def is_available(self) -> bool:
        """Whether the module this source reads is installed and usable."""
        check = stats.AVAILABILITY.get(self.module)
        return True if check is None else check()


def _days(slide) -> int:
    value = (slide.chart_params or {}).get("days")
    return value if value in PERIODS else 30


def _param(slide, name: str) -> int | None:
    value = (slide.chart_params or {}).get(name)
    return value if isinstance(value, int) else None


def _csv_chart(slide) -> Chart | None:
    from civic.workshops.services import dataset_chart

    return dataset_chart(slide)


def _challenge_dataset_chart(slide) -> Chart | None:
    from civic.workshops.services import challenge_dataset_chart

    return challenge_dataset_chart(slide)


def _readiness_chart(slide) -> Chart | None:
    from civic.workshops.services import readiness_chart

    return readiness_chart(slide.session)


def _optional(
    builder: Callable[[int], Chart | None], name: str
) -> Callable[[object], Chart | None]:
    def build(slide) -> Chart | None:
        value = _param(slide, name)
        return builder(value) if value is not None else None

    return build


CHART_SOURCES: dict[str, ChartSource] = {
    source.key: source
    for source in (
        ChartSource(
            "reports_by_category",
            _l("Reports by category"),
            "reports",
            ("bar",),
            "days",
            lambda s: stats.reports_by_category(_days(s)),
        ),
        ChartSource(
            "reports_by_district",
            _l("Reports by district"),
            "reports",
            ("bar",),
            "days",
            lambda s: stats.reports_by_district(_days(s)),
        ),
        ChartSource(
            "reports_by_week",
            _l("Reports per week (made and resolved)"),
            "reports",
            ("line", "bar", "stacked_bar"),
            None,
            lambda s: stats.reports_by_week(),
        ),
        ChartSource(
            "resolution_times",
            _l("Time to resolve reports, by category"),
            "reports",
            ("bar",),
            "days",
            lambda s: stats.resolution_times(_days(s)),
        ),
        ChartSource(
            "report_hotspots",
            _l("Map of report hotspots"),
            "reports",
            ("map",),
            "days",
            lambda s: stats.report_hotspots(_days(s)),
        ),
        ChartSource(
            "poll_results",
            _l("Results of a closed poll"),
            "polls",
            ("bar",),
            "poll_id",
            _optional(stats.poll_results, "poll_id"),
        ),
        ChartSource(
            "budget_results",
            _l("Results of a participatory budget"),
            "budgeting",
            ("stacked_bar", "bar"),
            "budget_id",
            _optional(stats.budget_results, "budget_id"),
        ),
        ChartSource(
            "funding_by_district",
            _l("Budget funding by district"),
            "budgeting",
            ("bar",),
            None,
            lambda s: stats.funding_by_district(),
        ),
        ChartSource(
            "challenge_results",
            _l("Results of a challenge"),
            "challenges",
            ("bar",),
            "challenge_id",
            _optional(stats.challenge_results, "challenge_id"),
        ),
        ChartSource(
            "challenge_dataset",
            _l("An open CSV dataset of the challenges"),
            "challenges",
            ("bar", "stacked_bar", "line"),
            "challenge_dataset_id",
            _challenge_dataset_chart,
        ),
        ChartSource(
            "dataset",
            _l("An uploaded CSV file"),
            "workshops",
            ("bar", "stacked_bar", "line"),
            "dataset_id",
            _csv_chart,
        ),
        ChartSource(
            "readiness",
            _l("Data readiness scores of this session"),
            "workshops",
            ("bar",),
            None,
            _readiness_chart,
        ),
    )
}


def available_sources() -> list[ChartSource]:
    """The chart sources whose module is usable now."""
    return [s for s in CHART_SOURCES.values() if s.is_available()]
