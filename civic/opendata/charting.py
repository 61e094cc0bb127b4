"""Charts in pages and downloads: the SVG with the active locale's numbers, the CSV."""

from __future__ import annotations

from flask import Response
from flask_babel import gettext as _
from markupsafe import Markup

from civic.core.i18n import format_money, format_number
from civic.workshops import charts
from civic.workshops.charts import Chart


def formatter_for(chart: Chart):
    """Money for money charts, else the locale's number format (at most two decimals)."""
    if chart.extra.get("money"):
        return format_money
    return lambda value: format_number(round(value, 2))


def svg(chart: Chart, chart_type: str, chart_id: str) -> Markup:
    """The chart as inline SVG markup (its text escaped by the renderer)."""
    desc = _("Chart: %(title)s. The same figures are in the table next to it.", title=chart.title)
    return Markup(charts.render_svg(chart, chart_type, chart_id, desc, formatter_for(chart)))  # noqa: S704


def svg_response(chart: Chart, chart_type: str, filename: str) -> Response:
    """The chart as a downloadable standalone SVG file."""
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + str(svg(chart, chart_type, "chart"))
    response = Response(body, mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}.svg"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def csv_response(chart: Chart, filename: str) -> Response:
    """The chart's data as a downloadable CSV file."""
    response = Response(charts.to_csv(chart), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename={filename}.csv"
    return response


def table(chart: Chart) -> tuple[list[str], list[list[object]]]:
    """Header and rows for the data table next to a chart, numbers formatted."""
    header, rows = charts.table_rows(chart)
    fmt = formatter_for(chart)
    if chart.points:
        header = [chart.label_heading or _("Place"), _("Latitude"), _("Longitude"), _("Count")]
        return header, [[r[0], r[1], r[2], format_number(r[3])] for r in rows]
    return header, [[r[0], *("" if v is None else fmt(v) for v in r[1:])] for r in rows]
