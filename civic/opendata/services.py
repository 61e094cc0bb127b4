"""Open data rules: which files exist, and getting one without blocking a web worker."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from civic.core.errors import NotFound
from civic.core.time import utcnow
from civic.core.uploads import get_storage
from civic.extensions import db
from civic.jobs import enqueue
from civic.opendata.catalogue import SOURCES, Source, export_key
from civic.opendata.jobs import build_export, is_stale
from civic.opendata.models import OpenDataExport

# A file asked for again within this time is not queued twice.
REQUEST_AGAIN_AFTER = timedelta(minutes=2)


def get_source(source_key: str) -> Source:
    """The catalogue source, or NotFound."""
    source = SOURCES.get(source_key)
    if source is None or not source.is_available():
        raise NotFound(_l("This dataset does not exist."))
    return source


def get_export(key: str) -> OpenDataExport | None:
    """The cache row of one file."""
    return db.session.scalar(select(OpenDataExport).where(OpenDataExport.key == key))


def _has_file(row: OpenDataExport | None) -> bool:
    return bool(
        row is not None
        and row.state == "ready"
        and row.storage_key
        and get_storage().exists(row.storage_key)
    )


def request_export(source_key: str, item_id: str, fmt: str) -> OpenDataExport | None:
    """The built file if there is one (a stale one is served while a job rebuilds it); else
    queue the build and return None. Without Redis the job runs inline, as everywhere."""
    source = get_source(source_key)
    if fmt not in source.formats or source.get_item(item_id) is None:
        raise NotFound(_l("This dataset does not exist."))
    key = export_key(source.key, item_id, fmt)
    row = get_export(key)
    if _has_file(row) and not is_stale(row, source.max_age):
        return row
    now = utcnow()
    if row is None:
        row = OpenDataExport(key=key, state="building", requested_at=now)
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent request queued it
            db.session.rollback()
            return get_export(key) if _has_file(get_export(key)) else None
    elif (
        row.state == "failed"
        or row.requested_at is None
        or now - row.requested_at > REQUEST_AGAIN_AFTER
    ):
        row.requested_at = now
        if row.state == "failed":
            row.state = "building"
        db.session.commit()
    else:
        return row if _has_file(row) else None
    enqueue(build_export, key)
    db.session.expire_all()
    row = get_export(key)
    return row if _has_file(row) else None
