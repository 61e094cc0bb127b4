"""City geography: districts as GeoJSON, point to district, distances, bounding boxes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.validation import explain_validity
from sqlalchemy import text

from civic.core import audit
from civic.core.errors import DomainError
from civic.core.models import District
from civic.extensions import db

EARTH_RADIUS_M = 6_371_008.8


class GeoError(DomainError):
    """Geographic input that Civic cannot use."""


@dataclass(frozen=True)
class DistrictShape:
    """A district's parsed boundary, ready for point queries."""

    code: str
    names: dict[str, str]
    geometry: dict[str, Any]
    population: int | None = None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def bbox_around(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of a box that contains the circle."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return (lat - dlat, lon - dlon, lat + dlat, lon + dlon)


def within_bbox(query, lat_column, lon_column, bbox: tuple[float, float, float, float]):
    """Filter a select() to rows whose coordinates fall inside bbox (index-friendly)."""
    min_lat, min_lon, max_lat, max_lon = bbox
    return query.where(lat_column.between(min_lat, max_lat), lon_column.between(min_lon, max_lon))


def check_coordinates(lat: float, lon: float) -> None:
    """Refuse coordinates that are not on Earth."""
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
        raise GeoError(_l("These coordinates are not valid."), field="latitude")


def parse_district_collection(data: Any) -> list[DistrictShape]:
    """Validate a GeoJSON FeatureCollection of districts (properties: code, name or name_<lang>)."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise GeoError(_l("The file must be a GeoJSON FeatureCollection."))
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise GeoError(_l("The FeatureCollection has no features."))
    districts: list[DistrictShape] = []
    seen: set[str] = set()
    for number, feature in enumerate(features, start=1):
        props = (feature or {}).get("properties") or {}
        code = str(props.get("code") or "").strip()
        if not code:
            raise GeoError(_l("Feature %(number)s has no 'code' property.", number=number))
        if code in seen:
            raise GeoError(_l("District code %(code)s appears twice.", code=code))
        seen.add(code)
        names = {
            key.removeprefix("name_"): str(value)
            for key, value in props.items()
            if key.startswith("name_") and value
        }
        if props.get("name"):
            names.setdefault(current_app.config["CIVIC_DEFAULT_LOCALE"], str(props["name"]))
        if not names:
            raise GeoError(_l("District %(code)s has no name.", code=code))
        geometry = feature.get("geometry")
        try:
            geom = shape(geometry)
        except Exception as exc:  # shapely raises several types for bad geometry
            raise GeoError(
                _l("District %(code)s has a geometry Civic cannot read.", code=code)
            ) from exc
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise GeoError(_l("District %(code)s must be a Polygon or MultiPolygon.", code=code))
        if not geom.is_valid:
            raise GeoError(
                _l(
                    "District %(code)s has an invalid polygon: %(reason)s",
                    code=code,
                    reason=explain_validity(geom),
                )
            )
        minx, miny, maxx, maxy = geom.bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise GeoError(
                _l("District %(code)s lies outside longitude/latitude bounds.", code=code)
            )
        population = props.get("population")
        districts.append(
            DistrictShape(code, names, geometry, int(population) if population else None)
        )
    return districts


def import_districts(data: Any, actor_id: int | None = None) -> list[District]:
    """Create or update districts from a validated GeoJSON FeatureCollection."""
    shapes = parse_district_collection(data)
    existing = {d.code: d for d in db.session.scalars(db.select(District))}
    result = []
    for item in shapes:
        district = existing.get(item.code)
        if district is None:
            district = District(code=item.code, name=item.names, geometry=item.geometry)
            db.session.add(district)
        else:
            district.name = item.names
            district.geometry = item.geometry
        district.population = item.population
        result.append(district)
    audit.record(
        actor_id,
        "districts.import",
        "district",
        None,
        after={"codes": list(existing.keys() | {s.code for s in shapes})},
    )
    db.session.commit()
    _index_cache.clear()
    return result


_index_cache: dict[str, Any] = {}
# Asked on every point lookup (each report): plain SQL, half the cost of the ORM construct.
_DISTRICTS_VERSION = text("SELECT count(id), max(updated_at) FROM district")


def _district_index() -> tuple[STRtree | None, list[int], list]:
    """An STRtree over district polygons, rebuilt when the districts change."""
    version = db.session.execute(_DISTRICTS_VERSION).one()
    key = f"{current_app.config['SQLALCHEMY_DATABASE_URI']}|{version[0]}|{version[1]}"
    if _index_cache.get("key") != key:
        rows = db.session.execute(db.select(District.id, District.geometry)).all()
        geoms = [shape(geometry) for _id, geometry in rows]
        _index_cache.update(
            key=key,
            tree=STRtree(geoms) if geoms else None,
            ids=[row[0] for row in rows],
            geoms=geoms,
        )
    return _index_cache["tree"], _index_cache["ids"], _index_cache["geoms"]


def district_id_for_point(lat: float, lon: float) -> int | None:
    """The id of the district containing the point, or None outside the city."""
    tree, ids, geoms = _district_index()
    if tree is None:
        return None
    point = Point(lon, lat)  # GeoJSON order: x = longitude
    for index in tree.query(point):
        if geoms[index].covers(point):
            return ids[index]
    return None


def district_for_point(lat: float, lon: float) -> District | None:
    """The district containing the point, or None outside the city."""
    district_id = district_id_for_point(lat, lon)
    return db.session.get(District, district_id) if district_id else None


def city_bounds() -> tuple[float, float, float, float] | None:
    """(min_lat, min_lon, max_lat, max_lon) around all districts, or None without districts."""
    _tree, _ids, geoms = _district_index()
    if not geoms:
        return None
    minx = min(g.bounds[0] for g in geoms)
    miny = min(g.bounds[1] for g in geoms)
    maxx = max(g.bounds[2] for g in geoms)
    maxy = max(g.bounds[3] for g in geoms)
    return (miny, minx, maxy, maxx)


def list_districts() -> list[District]:
    """All districts, ordered by code."""
    return list(db.session.scalars(db.select(District).order_by(District.code)))


def districts_feature_collection() -> dict[str, Any]:
    """All districts as GeoJSON, for maps."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": d.code, "id": d.id, "name": d.name},
                "geometry": d.geometry,
            }
            for d in list_districts()
        ],
    }
