"""Hotspot binning, pure: reports counted in H3 hexagons, with how many different weeks each
hexagon had reports in, so that a place where a problem keeps coming back stands out from a
one-off burst of reports about the same event."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import h3

DEFAULT_RESOLUTION = 9  # hexagons of about 0.1 km² (edge ~200 m)


@dataclass(frozen=True)
class HotspotCell:
    """One hexagon with its reports."""

    cell: str
    count: int
    weeks: int
    first_at: datetime
    last_at: datetime
    center: tuple[float, float]
    boundary: tuple[tuple[float, float], ...]

    def as_dict(self) -> dict:
        """JSON-ready form (for the cache table and the map)."""
        return {
            "cell": self.cell,
            "count": self.count,
            "weeks": self.weeks,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "center": list(self.center),
            "boundary": [list(point) for point in self.boundary],
        }


def bin_reports(
    points: Iterable[tuple[float, float, datetime]],
    resolution: int = DEFAULT_RESOLUTION,
    min_count: int = 2,
) -> list[HotspotCell]:
    """Count (lat, lon, created_at) points per H3 cell; cells with at least min_count reports,
    most recurring first (distinct weeks, then count)."""
    if not 0 <= resolution <= 15:
        raise ValueError("H3 resolution must be between 0 and 15")
    groups: dict[str, list[datetime]] = {}
    for lat, lon, created_at in points:
        groups.setdefault(h3.latlng_to_cell(lat, lon, resolution), []).append(created_at)
    cells = []
    for cell, times in groups.items():
        if len(times) < min_count:
            continue
        weeks = {tuple(t.isocalendar())[:2] for t in times}
        cells.append(
            HotspotCell(
                cell=cell,
                count=len(times),
                weeks=len(weeks),
                first_at=min(times),
                last_at=max(times),
                center=tuple(round(c, 6) for c in h3.cell_to_latlng(cell)),
                boundary=tuple(
                    (round(lat, 6), round(lon, 6)) for lat, lon in h3.cell_to_boundary(cell)
                ),
            )
        )
    cells.sort(key=lambda c: (-c.weeks, -c.count, c.cell))
    return cells
