"""Report fixtures: departments, categories with questions, staff, and a report factory."""

from __future__ import annotations

import io

import pytest
from PIL import Image

CENTRO = (-22.98, -46.675)
PORTO = (-22.98, -46.625)
RIBEIRA = (-22.94, -46.575)
OUTSIDE = (-23.2, -46.0)


@pytest.fixture
def departments(app):
    from civic.accounts.services import create_department

    return {
        "roads": create_department(
            None, "roads", {"en": "Roads", "es": "Vías"}, "roads@example.org"
        ),
        "parks": create_department(None, "parks", {"en": "Parks", "es": "Parques"}, None),
    }


@pytest.fixture
def categories(app, departments, districts):
    from civic.reports import services

    roads, parks = departments["roads"], departments["parks"]
    pothole = services.save_category(
        None,
        None,
        code="pothole",
        name={"en": "Pothole", "es": "Bache"},
        department_id=roads.id,
        target_days=5,
    )
    services.add_question(
        None,
        pothole.id,
        code="size",
        datatype="singlevaluelist",
        prompt={"en": "How big is it?", "es": "¿Qué tamaño tiene?"},
        is_required=True,
        options=[
            ("small", {"en": "Small", "es": "Pequeño"}),
            ("large", {"en": "Large", "es": "Grande"}),
        ],
    )
    services.add_question(
        None, pothole.id, code="depth", datatype="number", prompt={"en": "Depth (cm)"}
    )
    services.add_question(
        None, pothole.id, code="seen", datatype="datetime", prompt={"en": "Seen on"}
    )
    services.add_question(
        None,
        pothole.id,
        code="lanes",
        datatype="multivaluelist",
        prompt={"en": "Which lanes?"},
        options=[
            ("bus", {"en": "Bus lane"}),
            ("cycle", {"en": "Cycle lane"}),
            ("car", {"en": "Car lane"}),
        ],
    )
    light = services.save_category(
        None,
        None,
        code="streetlight",
        name={"en": "Street light"},
        department_id=roads.id,
        target_days=3,
    )
    noise = services.save_category(
        None,
        None,
        code="noise",
        name={"en": "Noise"},
        department_id=parks.id,
        target_days=7,
        is_sensitive=True,
    )
    tree = services.save_category(
        None, None, code="tree", name={"en": "Fallen tree"}, department_id=parks.id, target_days=10
    )
    return {"pothole": pothole, "streetlight": light, "noise": noise, "tree": tree}


@pytest.fixture
def make_staff(make_user, departments):
    """Factory: a staff member of the named departments."""
    from civic.accounts.services import set_departments

    def factory(*codes, **overrides):
        user = make_user(roles=("staff",), **overrides)
        set_departments(None, user.id, [departments[c].id for c in codes])
        return user

    return factory


@pytest.fixture
def submit(categories, make_user):
    """Factory: submit_report with sensible defaults (a signed-in resident, a pothole in Centro)."""
    from civic.reports import services

    state = {"reporter": None}

    def factory(category="pothole", at=CENTRO, now=None, **overrides):
        if "reporter_id" not in overrides and "reporter_email" not in overrides:
            if state["reporter"] is None:
                state["reporter"] = make_user(email="reporter@example.org", locale="en")
            overrides["reporter_id"] = state["reporter"].id
        data = {
            "category_id": categories[category].id,
            "description": "A deep hole in the bus lane.",
            "latitude": at[0],
            "longitude": at[1],
            "answers": {"size": "large"} if category == "pothole" else {},
            "skip_duplicate_check": True,
        }
        data.update(overrides)
        return services.submit_report(services.ReportInput(**data), now=now)

    return factory


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF carries a GPS position, a camera and a time."""
    image = Image.new("RGB", (800, 600), (90, 120, 60))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0110] = "Model X"
    exif[0x0132] = "2026:11:27 10:00:00"
    exif[0x8825] = {1: "S", 2: (22.0, 58.0, 48.0), 3: "W", 4: (46.0, 40.0, 30.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the fixture must carry GPS"
    return data


def assert_no_metadata(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    assert len(image.getexif()) == 0
    assert "exif" not in image.info
    assert b"TestCam" not in data and b"Exif" not in data and b"GPS" not in data
