"""Pure rules: the workflow, location privacy, map grid and hotspot binning."""

from datetime import UTC, datetime, timedelta

import h3
import pytest

from civic.core.geo import distance_m
from civic.reports import workflow
from civic.reports.hotspots import bin_reports
from civic.reports.location import grid_size_for_zoom, parse_bbox, snap_to_cell
from civic.reports.minimap import build_minimap

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "from_state, to_state, allowed",
    [
        ("new", "acknowledged", True),
        ("new", "resolved", True),
        ("new", "closed", True),
        ("acknowledged", "new", False),
        ("in_progress", "resolved", True),
        ("resolved", "in_progress", True),
        ("resolved", "acknowledged", False),
        ("closed", "acknowledged", True),
        ("closed", "resolved", False),
        ("new", "new", False),
        ("new", "bogus", False),
    ],
)
def test_staff_transitions(from_state, to_state, allowed):
    assert workflow.can_staff_move(from_state, to_state) is allowed


def test_reopen_window_is_fourteen_days_after_the_fix():
    resolved_at = T0
    assert workflow.can_reopen("resolved", resolved_at, T0 + timedelta(days=13, hours=23))
    assert workflow.can_reopen("resolved", resolved_at, T0 + timedelta(days=14))
    assert not workflow.can_reopen("resolved", resolved_at, T0 + timedelta(days=14, seconds=1))
    assert not workflow.can_reopen("closed", resolved_at, T0 + timedelta(days=1))
    assert not workflow.can_reopen("resolved", None, T0)


def test_due_date_and_overdue():
    due = workflow.due_at(T0, 5)
    assert due == T0 + timedelta(days=5)
    assert not workflow.is_overdue("new", due, due)
    assert workflow.is_overdue("in_progress", due, due + timedelta(minutes=1))
    assert not workflow.is_overdue("resolved", due, due + timedelta(days=30))


def test_open311_status_mapping():
    assert [workflow.open311_status(s) for s in workflow.STATES] == [
        "open",
        "open",
        "open",
        "closed",
        "closed",
    ]
    assert workflow.states_for_open311(["closed"]) == {"resolved", "closed"}
    assert workflow.states_for_open311(["open", "closed"]) == set(workflow.STATES)


@pytest.mark.parametrize(
    "lat, lon", [(-22.98, -46.675), (-22.9801234, -46.6759876), (51.5, -0.12), (60.17, 24.94)]
)
def test_snapping_hides_the_point_within_about_100_m(lat, lon):
    snapped = snap_to_cell(lat, lon)
    assert snapped != (lat, lon)
    # Within the cell: at most half a diagonal of a 100 m square away.
    assert distance_m(lat, lon, *snapped) <= 75
    # Stable: every point in the same cell gives the same public position.
    assert snap_to_cell(lat + 0.00001, lon + 0.00001) in (
        snapped,
        snap_to_cell(lat + 0.00001, lon + 0.00001),
    )
    assert snap_to_cell(*snapped) == snapped


def test_points_of_one_cell_share_one_public_position():
    base = snap_to_cell(-22.98, -46.675)
    near = [snap_to_cell(base[0] + d, base[1] - d) for d in (0.0001, -0.0002, 0.0003)]
    assert set(near) == {base}


def test_grid_halves_with_each_zoom_level():
    assert grid_size_for_zoom(10) == pytest.approx(2 * grid_size_for_zoom(11))
    assert grid_size_for_zoom(0) == pytest.approx(90.0)


def test_parse_bbox_orders_and_clamps():
    assert parse_bbox("-46.7,-23.0,-46.55,-22.9") == (-23.0, -46.7, -22.9, -46.55)
    assert parse_bbox("-46.55,-22.9,-46.7,-23.0") == (-23.0, -46.7, -22.9, -46.55)
    assert parse_bbox("-200,-95,200,95") == (-90.0, -180.0, 90.0, 180.0)
    for bad in (None, "", "1,2,3", "a,b,c,d", "nan,1,2,3"):
        assert parse_bbox(bad) is None


def test_hotspots_count_reports_per_h3_cell_and_weeks_with_reports():
    spot = (-22.9878, -46.6185)
    cell = h3.latlng_to_cell(*spot, 9)
    points = [(spot[0] + 0.0001 * i, spot[1], T0 + timedelta(weeks=i)) for i in range(4)]
    points += [
        (spot[0], spot[1], T0 + timedelta(hours=h)) for h in range(3)
    ]  # one burst, same week
    points += [(-22.94, -46.575, T0)]  # a lone report elsewhere
    cells = bin_reports(points, resolution=9)
    assert len(cells) == 1
    top = cells[0]
    assert top.cell == cell
    assert (top.count, top.weeks) == (7, 4)
    assert top.first_at == T0 and top.last_at == T0 + timedelta(weeks=3)
    assert len(top.boundary) == 6 and h3.latlng_to_cell(*top.center, 9) == cell
    assert top.as_dict()["count"] == 7


def test_recurring_places_rank_above_one_off_bursts():
    burst = [(-22.94, -46.575, T0 + timedelta(minutes=m)) for m in range(10)]
    recurring = [(-22.98, -46.675, T0 + timedelta(weeks=w)) for w in range(5)]
    cells = bin_reports(burst + recurring, resolution=9)
    assert [c.count for c in cells] == [5, 10]
    with pytest.raises(ValueError):
        bin_reports([], resolution=16)


def test_minimap_projects_the_pin_inside_its_district():
    square = {
        "type": "Polygon",
        "coordinates": [
            [[-46.7, -23.0], [-46.6, -23.0], [-46.6, -22.9], [-46.7, -22.9], [-46.7, -23.0]]
        ],
    }
    other = {
        "type": "Polygon",
        "coordinates": [
            [[-46.6, -23.0], [-46.5, -23.0], [-46.5, -22.9], [-46.6, -22.9], [-46.6, -23.0]]
        ],
    }
    mini = build_minimap([(1, square), (2, other)], 1, -22.95, -46.65)
    assert mini.width == 320 and 0 < mini.pin[0] < 160 and 0 < mini.pin[1] < mini.height
    assert [current for _points, current in mini.outlines] == [True, False]
    assert build_minimap([], 1, 0, 0) is None
