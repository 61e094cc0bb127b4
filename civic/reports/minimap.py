"""A small map drawn on the server as SVG: district outlines and one pin. It needs no script,
no tiles and no network, weighs a few hundred bytes, and so shows where a report is on any
phone (the interactive map is one tap away)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

WIDTH = 320.0


@dataclass(frozen=True)
class MiniMap:
    """What the template draws."""

    width: float
    height: float
    outlines: tuple[tuple[str, bool], ...]  # (SVG points, is the report's district)
    pin: tuple[float, float]


def _rings(geometry: dict[str, Any]) -> Iterable[list[list[float]]]:
    if geometry.get("type") == "Polygon":
        yield geometry["coordinates"][0]
    elif geometry.get("type") == "MultiPolygon":
        for polygon in geometry["coordinates"]:
            yield polygon[0]


def build_minimap(
    districts: Iterable[tuple[int, dict[str, Any]]], district_id: int, lat: float, lon: float
) -> MiniMap | None:
    """Project districts and the point (equirectangular, scaled by latitude) into a 320-wide box."""
    rings = [(did, ring) for did, geometry in districts for ring in _rings(geometry)]
    if not rings:
        return None
    xs = [p[0] for _d, ring in rings for p in ring] + [lon]
    ys = [p[1] for _d, ring in rings for p in ring] + [lat]
    min_x, max_x, min_y, max_y = min(xs), max(xs), min(ys), max(ys)
    scale_x = math.cos(math.radians((min_y + max_y) / 2))
    span_x = max((max_x - min_x) * scale_x, 1e-9)
    span_y = max(max_y - min_y, 1e-9)
    pad = 8.0
    factor = (WIDTH - 2 * pad) / span_x
    height = span_y * factor + 2 * pad

    def project(x: float, y: float) -> tuple[float, float]:
        return (
            round(pad + (x - min_x) * scale_x * factor, 1),
            round(pad + (max_y - y) * factor, 1),
        )

    outlines = tuple(
        (
            " ".join(f"{px},{py}" for px, py in (project(x, y) for x, y, *_ in ring)),
            did == district_id,
        )
        for did, ring in rings
    )
    return MiniMap(WIDTH, round(height, 1), outlines, project(lon, lat))
