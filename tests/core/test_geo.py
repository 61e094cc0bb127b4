import pytest

from civic.core import geo


@pytest.mark.parametrize(
    "lat, lon, code",
    [
        (-22.98, -46.675, "centro"),
        (-22.98, -46.625, "porto"),
        (-22.98, -46.57, "jardim-das-flores"),
        (-22.94, -46.68, "vila-nova"),
        (-22.93, -46.62, "alto-da-serra"),
        (-22.93, -46.56, "ribeira"),
    ],
)
def test_point_to_district(districts, lat, lon, code):
    assert geo.district_for_point(lat, lon).code == code


def test_point_outside_the_city_has_no_district(districts):
    assert geo.district_for_point(-23.5, -46.6) is None
    assert geo.district_for_point(48.85, 2.35) is None


def test_jittered_boundary_follows_the_polygon_not_the_grid(districts):
    # On a plain grid, longitude -46.65 would split centro from porto. The seeded boundary bends
    # east of it (the shared corner sits at -46.644, -22.964), so these points fall elsewhere.
    assert geo.district_for_point(-22.962, -46.6465).code == "vila-nova"
    assert geo.district_for_point(-22.99, -46.648).code == "centro"


def test_distance_and_bounding_box():
    # One degree of latitude is about 111.2 km.
    assert geo.distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)
    assert geo.distance_m(-22.98, -46.6, -22.98, -46.6) == 0
    min_lat, min_lon, max_lat, max_lon = geo.bbox_around(-22.98, -46.6, 50)
    assert geo.distance_m(-22.98, -46.6, max_lat, -46.6) == pytest.approx(50, rel=1e-3)
    assert geo.distance_m(-22.98, -46.6, -22.98, max_lon) == pytest.approx(50, rel=1e-3)
    assert min_lat < -22.98 < max_lat and min_lon < -46.6 < max_lon


def test_bbox_query_selects_only_rows_inside(app, db):
    from sqlalchemy import literal, select, union_all

    rows = [("near", -22.9801, -46.6001), ("far", -22.99, -46.6), ("west", -22.98, -46.61)]
    points = union_all(
        *[
            select(literal(n).label("name"), literal(la).label("lat"), literal(lo).label("lon"))
            for n, la, lo in rows
        ]
    ).subquery()
    bbox = geo.bbox_around(-22.98, -46.6, 150)
    query = geo.within_bbox(select(points.c.name), points.c.lat, points.c.lon, bbox)
    assert db.session.scalars(query).all() == ["near"]


def test_city_bounds(districts):
    min_lat, min_lon, max_lat, max_lon = geo.city_bounds()
    assert (min_lat, max_lat) == (-23.0, -22.92)
    assert min_lon == pytest.approx(-46.70) and max_lon == pytest.approx(-46.55)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"type": "Feature"}, "FeatureCollection"),
        ({"type": "FeatureCollection", "features": []}, "no features"),
        (
            {
                "type": "FeatureCollection",
                "features": [{"properties": {"name": "A"}, "geometry": None}],
            },
            "no 'code'",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "properties": {"code": "a", "name": "A"},
                        "geometry": {"type": "Point", "coordinates": [0, 0]},
                    }
                ],
            },
            "Polygon",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "properties": {"code": "bow", "name": "Bow tie"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                        },
                    }
                ],
            },
            "invalid polygon",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "properties": {"code": "far", "name": "Far"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 1], [0, 0]]],
                        },
                    }
                ],
            },
            "outside",
        ),
    ],
)
def test_invalid_district_files_are_refused(app, data, message):
    with pytest.raises(geo.GeoError, match=message):
        geo.parse_district_collection(data)
