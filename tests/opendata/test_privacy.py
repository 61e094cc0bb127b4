"""Nothing private reaches /data or /dashboard: a city full of private data, every export and
every panel read, each private string searched for."""

from __future__ import annotations

import re

from civic.opendata import stats
from civic.opendata.catalogue import SOURCES, list_entries
from civic.opendata.dashboard import PANELS
from tests.opendata.conftest import PRIVATE


def _public_texts(client, city) -> dict[str, str]:
    texts: dict[str, str] = {}

    def read(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        texts[url] = response.get_data(as_text=True)

    read("/data")
    read("/data/catalog.jsonld")
    for entry in list_entries():
        for fmt in entry.source.formats:
            read(f"/data/{entry.source.key}/{entry.item.id}.{fmt}")
        for url in entry.item.links.values():
            read(re.sub(r"^https?://[^/]+", "", url))
    read("/dashboard")
    read("/dashboard/kiosk")
    for key, panel in PANELS.items():
        if not panel.is_available():
            continue
        read(f"/dashboard/kiosk/{key}")
        with client.application.test_request_context():
            has_chart = panel.build().chart is not None
        if has_chart:
            read(f"/dashboard/{key}.svg")
            read(f"/dashboard/{key}.csv")
    read(f"/workshops/published/{city.published_session_id}")
    return texts


def test_no_private_data_in_any_export_or_panel(client, city):
    texts = _public_texts(client, city)
    # The exports really hold data (the search is not vacuous).
    assert any("Testville" in t for t in texts.values())
    assert any("benches" in t for t in texts.values())
    if stats.reports_available():
        assert any("pothole" in t for url, t in texts.items() if url.startswith("/data/reports"))
    needles = {name: value for name, value in PRIVATE.items()}
    for pseudonym in city.pseudonyms:
        needles[f"pseudonym {pseudonym[:8]}"] = pseudonym
    leaks = [
        (name, url)
        for url, text in texts.items()
        for name, needle in needles.items()
        if needle.lower() in text.lower()
    ]
    assert leaks == []


def test_sensitive_report_positions_are_never_exact(client, city):
    if not stats.reports_available():
        return
    texts = _public_texts(client, city)
    exact = (PRIVATE["sensitive_lat"][:8], PRIVATE["sensitive_lon"][:8])  # -22.9876, -46.6543
    for url, text in texts.items():
        for value in exact:
            assert value not in text, (url, value)


def test_every_registered_source_and_panel_is_checked_or_guarded():
    """A new source must be reachable by the search above: listed through list_entries, or
    unavailable while its module is missing."""
    for source in SOURCES.values():
        assert source.is_available() or source.items() == []
    for panel in PANELS.values():
        assert panel.is_available() or panel.module in stats.AVAILABILITY
