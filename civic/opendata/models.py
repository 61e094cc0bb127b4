"""Open data: exports built by jobs and cached in storage, so downloads never run a big query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civic.core.time import UTCDateTime
from civic.extensions import db

EXPORT_STATES = ("building", "ready", "failed")


class OpenDataExport(db.Model):
    """One file of the catalogue (a source's item in one format), cached in storage."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<source>:<item>:<format>", e.g. "poll-results:12:csv".
    key: Mapped[str] = mapped_column(String(160), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="building")
    storage_key: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("state IN ('building', 'ready', 'failed')", name="known_state"),
    )
