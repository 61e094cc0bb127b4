"""Public pages: the open data catalogue (/data, DCAT-AP JSON-LD) and the dashboard, with its
kiosk mode. No login; nothing here reads anything that is not already public."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask_babel import gettext as _

from civic.config import LANGUAGES
from civic.core.rendering import render
from civic.core.time import utcnow
from civic.core.uploads import get_storage
from civic.opendata import charting, dashboard, services
from civic.opendata.catalogue import FORMATS, LICENCE_NAMES, SOURCES, export_key, list_entries
from civic.opendata.jobs import is_stale

bp = Blueprint("opendata", __name__)

KIOSK_SECONDS = 15


@bp.record_once
def _register_chart_helpers(state):
    # Globals, not a context processor: the chart macro is imported without context.
    state.app.jinja_env.globals.update(chart_svg=charting.svg, chart_table=charting.table)


@bp.context_processor
def _catalogue_helpers():
    return {"licence_names": LICENCE_NAMES}


def _download_url(source_key: str, item_id: str, fmt: str, external: bool = False) -> str:
    return url_for(
        "opendata.download", source_key=source_key, item_id=item_id, fmt=fmt, _external=external
    )


def _files(entry) -> list[tuple[str, str]]:
    files = [
        (fmt, _download_url(entry.source.key, entry.item.id, fmt)) for fmt in entry.source.formats
    ]
    files += list(entry.item.links.items())
    return files


@bp.get("/data")
def index():
    """The catalogue of everything public, with licence, description, update time and formats."""
    entries = list_entries()
    groups = [
        (source, [e for e in entries if e.source.key == source.key]) for source in SOURCES.values()
    ]
    return render(
        "opendata/index.html",
        groups=[(s, es) for s, es in groups if es],
        files=_files,
        unavailable=[s for s in SOURCES.values() if not s.is_available()],
    )


def _literal(text: str) -> dict:
    return {
        "@value": text,
        "@language": current_app.config["CIVIC_DEFAULT_LOCALE"].replace("_", "-"),
    }


def _when(value) -> dict | None:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"} if value else None


@bp.get("/data/catalog.jsonld")
def catalog_jsonld():
    """The catalogue as DCAT-AP in JSON-LD, for portals and harvesters."""
    publisher = {"@type": "foaf:Agent", "foaf:name": current_app.config["CIVIC_CITY_NAME"]}
    datasets = []
    for entry in list_entries():
        source, item = entry.source, entry.item
        landing = item.landing_page or url_for("opendata.index", _external=True)
        distributions = []
        for fmt, url in [
            *((f, _download_url(source.key, item.id, f, external=True)) for f in source.formats),
            *item.links.items(),
        ]:
            media_type, code, _ext = FORMATS[fmt]
            distributions.append(
                {
                    "@type": "dcat:Distribution",
                    "dct:title": _literal(f"{item.title} ({fmt.upper()})"),
                    "dcat:accessURL": {"@id": url},
                    "dcat:downloadURL": {"@id": url},
                    "dcat:mediaType": {
                        "@id": f"http://www.iana.org/assignments/media-types/{media_type}"
                    },
                    "dct:format": {
                        "@id": f"http://publications.europa.eu/resource/authority/file-type/{code}"
                    },
                    "dct:license": {"@id": item.licence or source.licence},
                }
            )
        dataset = {
            "@id": url_for("opendata.index", _external=True) + f"#{source.key}-{item.id}",
            "@type": "dcat:Dataset",
            "dct:identifier": f"{source.key}/{item.id}",
            "dct:title": _literal(item.title),
            "dct:description": _literal(item.description or str(source.description)),
            "dct:publisher": publisher,
            "dcat:landingPage": {"@id": landing},
            "dcat:keyword": [_literal(k) for k in item.keywords],
            "dct:license": {"@id": item.licence or source.licence},
            "dcat:distribution": distributions,
        }
        if item.modified:
            dataset["dct:modified"] = _when(item.modified)
        datasets.append(dataset)
    catalog = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": url_for("opendata.catalog_jsonld", _external=True),
        "@type": "dcat:Catalog",
        "dct:title": _literal(_("%(city)s open data", city=current_app.config["CIVIC_CITY_NAME"])),
        "dct:description": _literal(
            _("Everything public in Civic: budgets, polls, reports, challenges and workshops.")
        ),
        "dct:publisher": publisher,
        "dct:language": [
            {"@id": f"http://publications.europa.eu/resource/authority/language/{code}"}
            for code in ("ENG", "SPA", "POR", "FRA", "DEU", "KOR", "IND", "HIN", "ARA")
        ][: len(LANGUAGES)],
        "dct:modified": _when(utcnow()),
        "foaf:homepage": {"@id": url_for("opendata.index", _external=True)},
        "dcat:dataset": datasets,
    }
    response = jsonify(catalog)
    response.mimetype = "application/ld+json"
    return response


@bp.get("/data/<source_key>/<item_id>.<fmt>")
def download(source_key: str, item_id: str, fmt: str):
    """A catalogue file, from the cache; if it is not built yet, a job builds it."""
    row = services.request_export(source_key, item_id, fmt)
    if row is None:
        body, status = render("opendata/preparing.html", status=202, seconds=5)
        response = Response(body, status=status, mimetype="text/html")
        response.headers["Retry-After"] = "5"
        return response
    source = SOURCES[source_key]
    # Files are built small enough to read whole (a city's reports are a few MB), which also
    # closes the handle before the response leaves.
    with get_storage().open(row.storage_key) as handle:
        data = handle.read()
    response = Response(data, mimetype=row.content_type)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=civic-{source_key}-{item_id}.{FORMATS[fmt][2]}"
    )
    response.set_etag(row.sha256)
    response.last_modified = row.built_at
    response.make_conditional(request)
    response.headers["Cache-Control"] = "public, max-age=300"
    if is_stale(row, source.max_age):
        response.headers["Warning"] = '110 - "Response is stale"'
    return response


@bp.get("/data/status/<source_key>/<item_id>.<fmt>")
def export_status(source_key: str, item_id: str, fmt: str):
    """Whether a file is built (JSON), for scripts that wait for one."""
    services.get_source(source_key)
    row = services.get_export(export_key(source_key, item_id, fmt))
    return jsonify(
        state=row.state if row else "missing",
        built_at=row.built_at.isoformat() if row and row.built_at else None,
        sha256=row.sha256 if row else None,
    )


# -- Dashboard ------------------------------------------------------------------------------


def _panel(key: str) -> dashboard.Panel:
    panel = dashboard.PANELS.get(key)
    if panel is None or not panel.is_available():
        abort(404)
    return panel


@bp.get("/dashboard")
def dashboard_page():
    """The city's participation at a glance; each panel links to its source."""
    panels = [(p, p.build()) for p in dashboard.available_panels()]
    return render("opendata/dashboard.html", panels=panels)


@bp.get("/dashboard/<key>.svg")
def panel_svg(key: str):
    """A dashboard panel's chart as SVG."""
    data = _panel(key).build()
    if data.chart is None:
        abort(404)
    return charting.svg_response(data.chart, data.chart_type, f"civic-dashboard-{key}")


@bp.get("/dashboard/<key>.csv")
def panel_csv(key: str):
    """A dashboard panel's chart data as CSV."""
    data = _panel(key).build()
    if data.chart is None:
        abort(404)
    return charting.csv_response(data.chart, f"civic-dashboard-{key}")


@bp.get("/dashboard/kiosk")
@bp.get("/dashboard/kiosk/<key>")
def kiosk(key: str | None = None):
    """Full-screen panels for public screens, moving on every few seconds (a meta refresh)."""
    panels = dashboard.available_panels()
    if not panels:
        abort(404)
    keys = [p.key for p in panels]
    if key is None:
        key = keys[0]
    if key not in keys:
        abort(404)
    index = keys.index(key)
    panel = panels[index]
    next_key = keys[(index + 1) % len(keys)]
    seconds = request.args.get("seconds", type=int) or KIOSK_SECONDS
    seconds = min(max(seconds, 5), 600)
    return render(
        "opendata/kiosk.html",
        panel=panel,
        data=panel.build(),
        next_url=url_for(
            "opendata.kiosk", key=next_key, seconds=seconds if seconds != KIOSK_SECONDS else None
        ),
        seconds=seconds,
        position=index + 1,
        count=len(keys),
    )


@bp.cli.command("refresh")
def refresh_command() -> None:
    """Queue a rebuild of every open data file (run it from cron, e.g. hourly)."""
    import click

    from civic.jobs import enqueue
    from civic.opendata.jobs import build_export

    count = 0
    for entry in list_entries():
        for fmt in entry.source.formats:
            enqueue(build_export, export_key(entry.source.key, entry.item.id, fmt))
            count += 1
    click.echo(f"{count} open data files queued for rebuilding.")
