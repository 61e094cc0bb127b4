"""Server-side SVG charts: valid, accessible, escaped; CSV safe in spreadsheets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from civic.workshops import charts
from civic.workshops.charts import Chart, MapPoint, Series

NS = "{http://www.w3.org/2000/svg}"

CHART = Chart(
    title="Reports <by> category & more",
    labels=("Potholes", '=HYPERLINK("x")', "Lights"),
    series=(Series("Reported", (3.0, 1.0, None)), Series("Resolved", (2.0, 0.0, 1.0))),
    label_heading="Category",
)


@pytest.mark.parametrize("kind", ["bar", "stacked_bar", "line"])
def test_every_chart_type_is_well_formed_svg_with_a_title_and_description(kind):
    svg = charts.render_svg(CHART, kind, "c1", "Chart: the same figures are in the table.")
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-t c1-d"
    assert root.find(f"{NS}title").text == "Reports <by> category & more"
    assert "table" in root.find(f"{NS}desc").text
    texts = " ".join(t.text or "" for t in root.iter(f"{NS}text"))
    assert "Reported" in texts and "Resolved" in texts  # the legend names both series
    assert "style=" not in svg  # the CSP forbids style attributes


def test_bar_lengths_follow_the_values():
    chart = Chart("t", ("a", "b"), (Series("n", (10.0, 5.0)),))
    root = ET.fromstring(charts.render_svg(chart, "bar", "c", "d"))
    widths = [
        float(r.get("width")) for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None
    ]
    assert widths[0] == pytest.approx(2 * widths[1])


def test_map_draws_outlines_and_one_circle_per_place():
    chart = Chart(
        "Hotspots",
        points=(MapPoint(-22.98, -46.66, 4, "4 reports"), MapPoint(-22.95, -46.60, 1, "1 report")),
        outlines=(((-46.7, -23.0), (-46.5, -23.0), (-46.5, -22.9), (-46.7, -22.9)),),
    )
    root = ET.fromstring(charts.render_svg(chart, "map", "m", "d"))
    assert len(list(root.iter(f"{NS}polygon"))) == 1
    circles = list(root.iter(f"{NS}circle"))
    assert len(circles) == 2
    assert float(circles[0].get("r")) > float(circles[1].get("r"))  # biggest first, biggest circle


def test_csv_has_the_table_and_defuses_formulas():
    text = charts.to_csv(CHART)
    lines = text.splitlines()
    assert lines[0] == "Category,Reported,Resolved"
    assert lines[1] == "Potholes,3.0,2.0"
    assert lines[2].startswith("\"'=HYPERLINK")
    assert lines[3] == "Lights,,1.0"


def test_empty_chart_knows_it_is_empty():
    assert Chart("t", ("a",), (Series("n", (0.0,)),)).is_empty
    assert not CHART.is_empty
