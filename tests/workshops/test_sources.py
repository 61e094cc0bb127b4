"""Every chart source a data slide can use, drawn from a city with data in every module."""

from __future__ import annotations

import pytest

from civic.workshops import services
from civic.workshops.services import SlideInput
from civic.workshops.sources import CHART_SOURCES, available_sources
from tests.challenges.conftest import innovation, make_team  # noqa: F401 - used by `city`
from tests.opendata.conftest import city  # noqa: F401 - a city with public and private data


def _params(key: str, city, session_id: int, facilitator_id: int) -> dict:
    if key == "poll_results":
        return {"poll_id": city.closed_poll_id}
    if key == "budget_results":
        return {"budget_id": city.published_budget_id}
    if key == "challenge_results":
        return {"challenge_id": city.challenge_id}
    if key == "challenge_dataset":
        return {"challenge_dataset_id": city.open_dataset_id}
    if key == "dataset":
        data = b"district,trees planted\nCentro,12\nPorto,30\n"
        return {"dataset_id": services.upload_dataset(facilitator_id, session_id, "Trees", data).id}
    return {"days": 30}


def test_every_available_source_draws_its_chart_on_the_presenter_view(
    client, auth, city, make_user
):
    facilitator = make_user(roles=("facilitator",), email="fac.sources@example.org")
    auth.login(facilitator)
    session = services.create_session(facilitator.id, {"en": "All the data"})
    sources = [s for s in available_sources() if s.key != "readiness"]
    assert {"budget_results", "funding_by_district", "dataset"} <= {s.key for s in sources}
    slides = {}
    for source in sources:
        slides[source.key] = services.add_slide(
            facilitator.id,
            session.id,
            SlideInput(
                kind="data",
                locale="en",
                title=f"Slide {source.key}",
                chart_source=source.key,
                chart_type=source.chart_types[0],
                params=_params(source.key, city, session.id, facilitator.id),
            ),
        )
    for key, slide in slides.items():
        html = client.get(f"/workshops/{session.id}/present?slide={slide.id}").get_data(
            as_text=True
        )
        assert f"Slide {key}" in html
        chart = services.slide_chart(slide)
        assert chart is not None, key
        if not chart.is_empty:
            assert "<svg" in html and "Show the figures as a table" in html, key
            csv_text = client.get(f"/workshops/slides/{slide.id}/chart.csv").get_data(as_text=True)
            assert len(csv_text.splitlines()) >= 2, key
    if "challenge_dataset" in slides:
        air = services.slide_chart(slides["challenge_dataset"])
        assert air.labels == ("Centro", "Porto") and [s.name for s in air.series] == [
            "pm10 2019",
            "pm10 2020",
        ]
    trees = services.slide_chart(slides["dataset"])
    assert trees.labels == ("Centro", "Porto") and trees.series[0].values == (12.0, 30.0)
    budget = services.slide_chart(slides["budget_results"])
    assert [s.name for s in budget.series] == ["Funded", "Not funded"]
    edit = client.get(f"/workshops/{session.id}").get_data(as_text=True)
    assert all(f"Slide {key}" in edit for key in slides)


def test_unavailable_sources_cannot_be_chosen(facilitator, monkeypatch):
    from civic.opendata import stats

    monkeypatch.setitem(stats.AVAILABILITY, "reports", lambda: False)
    assert "reports_by_category" not in {s.key for s in available_sources()}
    session = services.create_session(facilitator.id, {"en": "S"})
    with pytest.raises(services.DomainError):
        services.add_slide(
            facilitator.id,
            session.id,
            SlideInput(kind="data", locale="en", title="x", chart_source="reports_by_category"),
        )
    assert CHART_SOURCES["reports_by_category"].module == "reports"
