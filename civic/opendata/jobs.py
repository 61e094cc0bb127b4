"""Open data jobs: build one export file and keep it in storage. They take keys, are safe to run
twice, and commit themselves."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from civic.core.time import utcnow
from civic.core.uploads import get_storage
from civic.extensions import db
from civic.opendata.catalogue import FORMATS, SOURCES, ItemGone
from civic.opendata.models import OpenDataExport


def _row(key: str) -> OpenDataExport:
    row = db.session.scalar(select(OpenDataExport).where(OpenDataExport.key == key))
    if row is None:
        row = OpenDataExport(key=key, state="building", requested_at=utcnow())
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # another request or worker created it first
            db.session.rollback()
            row = db.session.scalar(select(OpenDataExport).where(OpenDataExport.key == key))
    return row


def build_export(key: str) -> str:
    """Build the file for "<source>:<item>:<format>" and store it; returns the new state."""
    source_key, item_id, fmt = key.split(":")
    source = SOURCES.get(source_key)
    row = _row(key)
    if source is None or fmt not in source.formats or source.get_item(item_id) is None:
        row.state, row.error = "failed", "not public"
        if row.storage_key:
            get_storage().delete(row.storage_key)
            row.storage_key = None
        db.session.commit()
        return row.state
    try:
        data = source.build(item_id, fmt)
    except ItemGone:
        row.state, row.error = "failed", "not public"
        db.session.commit()
        return row.state
    media_type, _code, extension = FORMATS[fmt]
    storage_key = f"opendata/{source_key}-{item_id}.{extension}"
    get_storage().save(storage_key, data)
    row.storage_key = storage_key
    row.content_type = media_type
    row.size = len(data)
    row.sha256 = hashlib.sha256(data).hexdigest()
    row.state, row.error = "ready", None
    row.built_at = utcnow()
    db.session.commit()
    return row.state


def refresh_all() -> int:
    """Rebuild every export of every public item (from cron or a worker); returns the count."""
    count = 0
    for source in SOURCES.values():
        for item in source.items():
            for fmt in source.formats:
                build_export(f"{source.key}:{item.id}:{fmt}")
                count += 1
    return count


def is_stale(row: OpenDataExport, max_age: timedelta | None) -> bool:
    """Whether a built file is older than its source allows."""
    if row.built_at is None:
        return True
    return max_age is not None and utcnow() - row.built_at > max_age
