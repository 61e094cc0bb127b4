"""Charts drawn on the server as small, accessible SVG (no JavaScript), with the same data as a
table and as CSV. Pure: plain data in, text out; numbers are formatted by the caller's function.

Every chart carries a <title> and a <desc> and is paired in the page with a data table, so a
screen reader (or a person at the back of the room) gets the numbers either way.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

# Okabe-Ito colours: tell-apart for the common colour-vision deficiencies, dark enough on white.
PALETTE = ("#0b5cad", "#b35900", "#007a5a", "#a1487a", "#4d4d4d", "#8c6d00", "#2b8cc4")
WIDTH = 720


@dataclass(frozen=True)
class Series:
    """One named row of values, aligned with the chart's labels (None: no value)."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class MapPoint:
    """A counted place on a map: its centre, how many, and a label."""

    latitude: float
    longitude: float
    count: int
    label: str = ""


@dataclass(frozen=True)
class Chart:
    """What a chart shows: labels and series, or points within outlines (maps)."""

    title: str
    labels: tuple[str, ...] = ()
    series: tuple[Series, ...] = ()
    label_heading: str = ""
    points: tuple[MapPoint, ...] = ()
    # Each outline is a ring of (longitude, latitude) pairs: district boundaries.
    outlines: tuple[tuple[tuple[float, float], ...], ...] = ()
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def is_empty(self) -> bool:
        """True when there is nothing to draw."""
        if self.points:
            return False
        return not any(v for s in self.series for v in s.values if v)


Formatter = Callable[[float], str]


def _plain(value: float) -> str:
    return f"{value:g}"


def _svg_open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" class="chart-svg" '
        f'font-family="system-ui, sans-serif" direction="ltr">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend(series: Sequence[Series], y: int) -> list[str]:
    parts, x = [], 12
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{y - 14}" width="18" height="18" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 20}" y="{y}" font-size="15" fill="#1b1f24">{escape(_clip(s.name, 28))}</text>'
        )
        x += 40 + min(len(s.name), 28) * 8
    return parts


def render_bar(
    chart: Chart, chart_id: str, desc: str, fmt: Formatter = _plain, stacked: bool = False
) -> str:
    """Horizontal bars, one row per label with the label above its bar (long labels and narrow
    screens both fit); grouped by series, or stacked."""
    labels, series = chart.labels, chart.series
    groups = 1 if stacked else max(len(series), 1)
    bar_h, gap = 24, 4
    row = 30 + groups * (bar_h + gap) + 10
    legend = 36 if len(series) > 1 else 0
    height = 10 + legend + row * max(len(labels), 1)
    left, value_w = 8, 150
    plot_w = WIDTH - left - value_w
    totals = [
        sum(s.values[i] or 0 for s in series)
        if stacked
        else max((s.values[i] or 0 for s in series), default=0)
        for i in range(len(labels))
    ]
    top = max(totals, default=0) or 1
    out = _svg_open(chart_id, chart.title, desc, WIDTH, height)
    if legend:
        out += _legend(series, 26)
    for i, label in enumerate(labels):
        y0 = 10 + legend + i * row
        out.append(
            f'<text x="{left}" y="{y0 + 22}" font-size="20" fill="#1b1f24">{escape(_clip(label, 64))}</text>'
        )
        x = left
        for j, s in enumerate(series):
            value = s.values[i] or 0
            w = plot_w * value / top
            colour = PALETTE[j % len(PALETTE)]
            y = y0 + 30 if stacked else y0 + 30 + j * (bar_h + gap)
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{max(w, 2):.1f}" height="{bar_h}" fill="{colour}"><title>{escape(label)}, {escape(s.name)}: {escape(fmt(value))}</title></rect>'
                )
            if stacked:
                x += w
            elif s.values[i] is not None:
                out.append(
                    f'<text x="{x + w + 8:.1f}" y="{y + 19}" font-size="19" font-weight="600" fill="#1b1f24">{escape(fmt(value))}</text>'
                )
        if stacked:
            out.append(
                f'<text x="{x + 8:.1f}" y="{y0 + 49}" font-size="19" font-weight="600" fill="#1b1f24">{escape(fmt(totals[i]))}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _nice_top(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def render_line(chart: Chart, chart_id: str, desc: str, fmt: Formatter = _plain) -> str:
    """Lines over the labels (weeks, days), with a value axis and a legend."""
    labels, series = chart.labels, chart.series
    height = 360
    left, right, top_y, bottom = 70, 20, 50, 300
    top = _nice_top(max((v or 0 for s in series for v in s.values), default=0))
    out = _svg_open(chart_id, chart.title, desc, WIDTH, height)
    out += _legend(series, 24)
    for k in range(5):
        value = top * k / 4
        y = bottom - (bottom - top_y) * k / 4
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="#c9d1da" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 8}" y="{y + 5:.1f}" font-size="14" text-anchor="end" fill="#4a5360">{escape(fmt(value))}</text>'
        )
    n = len(labels)
    step_x = (WIDTH - left - right) / max(n - 1, 1)
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            x = left + i * step_x
            out.append(
                f'<text x="{x:.1f}" y="{bottom + 24}" font-size="13" text-anchor="middle" fill="#4a5360">{escape(_clip(label, 12))}</text>'
            )
    for j, s in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        points = [
            (left + i * step_x, bottom - (bottom - top_y) * (v / top))
            for i, v in enumerate(s.values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="3"/>'
            )
        for (x, y), (i, v) in zip(
            points, [(i, v) for i, v in enumerate(s.values) if v is not None], strict=True
        ):
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>{escape(labels[i])}, {escape(s.name)}: {escape(fmt(v))}</title></circle>'
            )
    out.append("</svg>")
    return "\n".join(out)


def render_map(chart: Chart, chart_id: str, desc: str, fmt: Formatter = _plain) -> str:
    """Counted places as circles (area grows with the count) inside the district outlines."""
    lons = [p[0] for ring in chart.outlines for p in ring] + [p.longitude for p in chart.points]
    lats = [p[1] for ring in chart.outlines for p in ring] + [p.latitude for p in chart.points]
    height = 480
    out = _svg_open(chart_id, chart.title, desc, WIDTH, height)
    if not lons:
        out.append("</svg>")
        return "\n".join(out)
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    # Equirectangular, with longitude shrunk by the cosine of the latitude: right for a city.
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x = max((max_lon - min_lon) * kx, 1e-9)
    span_y = max(max_lat - min_lat, 1e-9)
    scale = min((WIDTH - 40) / span_x, (height - 40) / span_y)
    off_x = (WIDTH - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2

    def project(lon: float, lat: float) -> tuple[float, float]:
        return off_x + (lon - min_lon) * kx * scale, off_y + (max_lat - lat) * scale

    for ring in chart.outlines:
        path = " ".join("{:.1f},{:.1f}".format(*project(lon, lat)) for lon, lat in ring)
        out.append(f'<polygon points="{path}" fill="#f3f6f9" stroke="#6b7785" stroke-width="1.5"/>')
    top = max((p.count for p in chart.points), default=1) or 1
    for p in sorted(chart.points, key=lambda p: -p.count):
        x, y = project(p.longitude, p.latitude)
        r = 4 + 18 * math.sqrt(p.count / top)
        label = f"{p.label}: {fmt(p.count)}" if p.label else fmt(p.count)
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="#b3261e" fill-opacity="0.55" stroke="#7a1a14" stroke-width="1"><title>{escape(label)}</title></circle>'
        )
    out.append("</svg>")
    return "\n".join(out)


def render_svg(
    chart: Chart, chart_type: str, chart_id: str, desc: str, fmt: Formatter = _plain
) -> str:
    """The chart as a standalone SVG document fragment of the given type."""
    if chart_type == "map" or chart.points:
        return render_map(chart, chart_id, desc, fmt)
    if chart_type == "line":
        return render_line(chart, chart_id, desc, fmt)
    return render_bar(chart, chart_id, desc, fmt, stacked=chart_type == "stacked_bar")


def table_rows(chart: Chart) -> tuple[list[str], list[list[object]]]:
    """The chart's data as a header and rows, for the HTML table and the CSV."""
    if chart.points:
        header = [chart.label_heading or "place", "latitude", "longitude", "count"]
        return header, [[p.label, p.latitude, p.longitude, p.count] for p in chart.points]
    header = [chart.label_heading, *(s.name for s in chart.series)]
    rows = [[label, *(s.values[i] for s in chart.series)] for i, label in enumerate(chart.labels)]
    return header, rows


def _csv_cell(value: object) -> object:
    # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if value is None:
        return ""
    return value


def to_csv(chart: Chart) -> str:
    """The chart's data as CSV (UTF-8, comma separated, one header row)."""
    header, rows = table_rows(chart)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue()
