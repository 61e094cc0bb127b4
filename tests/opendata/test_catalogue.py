"""The open data catalogue: what it lists, its DCAT-AP JSON-LD, and files built by jobs."""

from __future__ import annotations

import csv
import io
import json

import pytest

from civic.opendata import stats
from civic.opendata.catalogue import SOURCES, list_entries


def _entries(city):
    return {(e.source.key, e.item.id) for e in list_entries()}


def test_catalogue_lists_everything_public_and_nothing_unpublished(app, city):
    entries = _entries(city)
    assert ("budget-results", str(city.published_budget_id)) in entries
    assert ("budget-results", str(city.unpublished_budget_id)) not in entries
    assert ("budget-funding", "all") in entries
    assert ("workshop-results", str(city.published_session_id)) in entries
    assert ("workshop-results", str(city.unpublished_session_id)) not in entries
    if stats.polls_available():
        assert ("poll-results", str(city.closed_poll_id)) in entries
        assert ("poll-results", str(city.open_poll_id)) not in entries
    if stats.reports_available():
        assert ("reports", "all") in entries
    if stats.challenges_available():
        assert ("challenge-results", str(city.challenge_id)) in entries
        assert ("challenge-datasets", str(city.open_dataset_id)) in entries
        assert len([e for e in entries if e[0] == "challenge-datasets"]) == 1  # not the closed one
    else:
        assert not [e for e in entries if e[0] == "challenge-results"]


def test_catalogue_page_shows_licence_description_update_time_and_formats(client, city):
    html = client.get("/data").get_data(as_text=True)
    assert "Participatory budgeting results" in html
    assert "Testville 2024" in html
    assert "CC BY 4.0" in html and 'rel="license"' in html
    assert "Updated" in html
    assert f"/data/budget-results/{city.published_budget_id}.csv" in html
    assert f"/budgets/results/{city.published_budget_id}.pb" in html  # the anonymised ballots
    assert f"/data/workshop-results/{city.published_session_id}.json" in html
    if stats.reports_available():
        assert "/data/reports/all.geojson" in html


def test_dcat_ap_json_ld_describes_every_dataset_and_distribution(client, city):
    response = client.get("/data/catalog.jsonld")
    assert response.mimetype == "application/ld+json"
    catalog = response.get_json()
    assert catalog["@type"] == "dcat:Catalog"
    assert catalog["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert catalog["dct:publisher"]["foaf:name"]
    datasets = {d["dct:identifier"]: d for d in catalog["dcat:dataset"]}
    assert set(datasets) == {f"{e.source.key}/{e.item.id}" for e in list_entries()}
    budget = datasets[f"budget-results/{city.published_budget_id}"]
    assert budget["@type"] == "dcat:Dataset"
    assert budget["dct:license"]["@id"].startswith("https://creativecommons.org/")
    assert budget["dct:modified"]["@type"] == "xsd:dateTime"
    formats = {d["dct:format"]["@id"].rsplit("/", 1)[-1] for d in budget["dcat:distribution"]}
    assert formats == {"CSV", "JSON", "TXT"}
    for dataset in datasets.values():
        assert dataset["dct:title"]["@value"] and dataset["dct:description"]["@value"]
        for distribution in dataset["dcat:distribution"]:
            assert distribution["@type"] == "dcat:Distribution"
            assert distribution["dcat:downloadURL"]["@id"].startswith("http")
            assert distribution["dcat:mediaType"]["@id"].startswith(
                "http://www.iana.org/assignments/media-types/"
            )


def test_budget_result_csv_and_json_match_the_published_outcome(client, city):
    csv_text = client.get(f"/data/budget-results/{city.published_budget_id}.csv").get_data(
        as_text=True
    )
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["project"] for r in rows} == {"9", "10", "3", "4", "5"}
    by_code = {r["project"]: r for r in rows}
    assert by_code["9"]["votes"] == "4" and by_code["9"]["selected"] == "1"
    assert by_code["5"]["selected"] == "0"  # costs more than the whole budget
    data = json.loads(client.get(f"/data/budget-results/{city.published_budget_id}.json").data)
    assert data["rule"] and data["voters"] == 8 and data["pb_sha256"]


@pytest.mark.skipif(not stats.polls_available(), reason="the polls module is not installed")
def test_closed_poll_results_are_downloadable_and_open_ones_are_not(client, city):
    ok = client.get(f"/data/poll-results/{city.closed_poll_id}.csv")
    assert ok.status_code == 200 and ok.mimetype == "text/csv"
    assert client.get(f"/data/poll-results/{city.open_poll_id}.csv").status_code == 404


@pytest.mark.skipif(not stats.reports_available(), reason="the reports module is not installed")
def test_reports_export_is_anonymised_and_rounds_sensitive_places(client, city):
    rows = list(
        csv.DictReader(io.StringIO(client.get("/data/reports/all.csv").get_data(as_text=True)))
    )
    by_id = {int(r["id"]): r for r in rows}
    assert set(by_id) == {
        city.report_ids["plain"],
        city.report_ids["resolved"],
        city.report_ids["sensitive"],
    }
    assert by_id[city.report_ids["sensitive"]]["latitude"] == "-22.99"  # about 1 km
    assert by_id[city.report_ids["plain"]]["latitude"] == "-22.9812"
    assert set(rows[0]) == {
        "id",
        "category",
        "sensitive",
        "district",
        "state",
        "reported_on",
        "resolved_on",
        "latitude",
        "longitude",
    }
    geojson = client.get("/data/reports/all.geojson").get_json(force=True)
    assert geojson["type"] == "FeatureCollection" and len(geojson["features"]) == 3
    assert geojson["features"][0]["geometry"]["type"] == "Point"


@pytest.mark.skipif(
    not stats.challenges_available(), reason="the challenges module is not installed"
)
def test_challenge_ranking_is_exported_without_judges(client, city):
    data = json.loads(client.get(f"/data/challenge-results/{city.challenge_id}.json").data)
    assert len(data["ranking"]) == 3 and data["ranking"][0]["rank"] == 1
    assert all("judges" not in row for row in data["ranking"])
    csv_text = client.get(f"/data/challenge-results/{city.challenge_id}.csv").get_data(as_text=True)
    assert csv_text.startswith("rank,submission,team")


def test_unknown_sources_items_and_formats_are_404(client, city):
    assert client.get("/data/nope/1.csv").status_code == 404
    assert client.get(f"/data/budget-results/{city.unpublished_budget_id}.csv").status_code == 404
    assert client.get(f"/data/budget-results/{city.published_budget_id}.geojson").status_code == 404
    assert (
        client.get(f"/data/workshop-results/{city.unpublished_session_id}.json").status_code == 404
    )


def test_a_file_withdrawn_from_publication_is_no_longer_served(client, auth, city):
    from civic.workshops import services

    url = f"/data/workshop-results/{city.published_session_id}.csv"
    assert client.get(url).status_code == 200
    session = services.get_session(city.published_session_id)
    services.set_results_published(session.facilitator_id, session.id, False)
    assert client.get(url).status_code == 404


@pytest.mark.redis
def test_with_redis_a_download_is_built_by_a_worker_and_then_cached(queue, city):
    client = queue.flask_app.test_client()
    url = f"/data/budget-results/{city.published_budget_id}.csv"
    first = client.get(url)
    assert first.status_code == 202 and first.headers["Retry-After"] == "5"
    assert client.get(url).status_code == 202  # asked again: queued once, not twice
    jobs = queue.rq_queue().get_jobs()
    assert [j.func_name for j in jobs].count("civic.opendata.jobs.build_export") == 1
    queue.work()
    ready = client.get(url)
    assert ready.status_code == 200 and b"project,title" in ready.data
    status = client.get(f"/data/status/budget-results/{city.published_budget_id}.csv").get_json()
    assert status["state"] == "ready" and len(status["sha256"]) == 64


def test_every_source_declares_licence_description_and_formats():
    for source in SOURCES.values():
        assert source.licence.startswith("https://")
        assert str(source.title) and str(source.description)
        assert source.formats or source.key == "challenge-datasets"  # links to its own files


def test_the_refresh_command_builds_every_file(app, city):
    from civic.opendata.models import OpenDataExport

    result = app.test_cli_runner().invoke(args=["opendata", "refresh"])
    assert result.exit_code == 0, result.output
    expected = sum(len(e.source.formats) for e in list_entries())
    assert f"{expected} open data files queued" in result.output
    from civic.extensions import db

    rows = db.session.scalars(db.select(OpenDataExport)).all()
    assert len(rows) == expected and {r.state for r in rows} == {"ready"}
