"""Location maths for reports, pure: the ~100 m snapping that hides where a sensitive report
really is, and the grid the map aggregates into at each zoom level."""

from __future__ import annotations

import math

METRES_PER_DEGREE_LAT = 111_320.0
PRIVATE_CELL_M = 100.0
MAP_CELL_PX = 64  # server-side clusters are about this many screen pixels wide


def snap_to_cell(lat: float, lon: float, cell_m: float = PRIVATE_CELL_M) -> tuple[float, float]:
    """The centre of the ~cell_m square containing the point: what the public sees of a
    sensitive report. Stable (the same point always snaps to the same centre), so repeating a
    query never narrows the position down."""
    step_lat = cell_m / METRES_PER_DEGREE_LAT
    snapped_lat = (math.floor(lat / step_lat) + 0.5) * step_lat
    # The longitude step is fixed per latitude band so that cells stay ~cell_m wide.
    step_lon = cell_m / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(snapped_lat)), 0.01))
    snapped_lon = (math.floor(lon / step_lon) + 0.5) * step_lon
    return round(snapped_lat, 6), round(snapped_lon, 6)


def grid_size_for_zoom(zoom: int) -> float:
    """Degrees of longitude covered by MAP_CELL_PX pixels at a web-map zoom level."""
    zoom = max(0, min(int(zoom), 22))
    return 360.0 / (256 * 2**zoom) * MAP_CELL_PX


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """'minLon,minLat,maxLon,maxLat' (the order Leaflet and Open311 extensions use) into
    (min_lat, min_lon, max_lat, max_lon), or None when absent or malformed."""
    if not value:
        return None
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in value.split(","))
    except ValueError:
        return None
    if any(math.isnan(v) or math.isinf(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        return None
    min_lat, max_lat = max(min(min_lat, max_lat), -90.0), min(max(min_lat, max_lat), 90.0)
    min_lon, max_lon = max(min(min_lon, max_lon), -180.0), min(max(min_lon, max_lon), 180.0)
    return (min_lat, min_lon, max_lat, max_lon)
