"""Complaint reports: categories (Open311 services) with questions, reports, photos, the public
timeline, followers, subscriptions, Open311 API clients and cached hotspots.

Location privacy: every report keeps its true position (for staff and routing) and a public one,
equal to it except in sensitive categories, where it is snapped to the centre of a ~100 m cell.
Everything public (map, list, page, Open311) reads the public columns only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.models import Department, District, StoredFile, created_at_column
from civic.core.time import UTCDateTime, utcnow
from civic.extensions import db

STATES = ("new", "acknowledged", "in_progress", "resolved", "closed")
OPEN_STATES = ("new", "acknowledged", "in_progress")
CLOSE_REASONS = ("duplicate", "not_responsible", "cannot_find")
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
UPDATE_KINDS = (
    "created",
    "confirmed",
    "state",
    "message",
    "note",
    "reopened",
    "merged",
    "assigned",
    "category",
    "hidden",
)
SOURCES = ("web", "open311", "staff", "seed")
MAX_PHOTOS = 3
MAX_DESCRIPTION = 4000


class Category(db.Model):
    """A kind of problem residents report (an Open311 service), owned by a department."""

    __tablename__ = "report_category"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[dict[str, str]] = mapped_column(JSON)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    icon: Mapped[str] = mapped_column(String(40), default="pin")
    group: Mapped[str | None] = mapped_column(String(60))
    keywords: Mapped[str | None] = mapped_column(String(300))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    target_days: Mapped[int] = mapped_column(Integer, default=7)
    is_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    department: Mapped[Department] = relationship()
    questions: Mapped[list[CategoryQuestion]] = relationship(
        back_populates="category",
        cascade="all, delete-orphan",
        order_by="CategoryQuestion.position",
    )

    __table_args__ = (
        CheckConstraint("target_days >= 1 AND target_days <= 365", name="target_days"),
    )


class CategoryQuestion(db.Model):
    """An extra question of a category (an Open311 attribute)."""

    __tablename__ = "report_category_question"
    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("report_category.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40))
    datatype: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[dict[str, str]] = mapped_column(JSON)
    help_text: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    is_required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer)
    # [{"key": "deep", "name": {"en": "Deeper than 5 cm", ...}}, ...] for list datatypes.
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    category: Mapped[Category] = relationship(back_populates="questions")

    __table_args__ = (
        UniqueConstraint("category_id", "code"),
        UniqueConstraint("category_id", "position"),
        CheckConstraint(
            "datatype IN ('string', 'number', 'datetime', 'text', 'singlevaluelist', "
            "'multivaluelist')",
            name="datatype",
        ),
        CheckConstraint("position >= 1", name="position"),
    )


class Report(db.Model):
    """A problem at a place, reported by a resident (or an Open311 client)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("report_category.id", ondelete="RESTRICT"))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"))
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id", ondelete="RESTRICT"))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    public_latitude: Mapped[float] = mapped_column(Float)
    public_longitude: Mapped[float] = mapped_column(Float)
    is_location_approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="new")
    close_reason: Mapped[str | None] = mapped_column(String(20))
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("report.id", ondelete="SET NULL")
    )
    referral: Mapped[str | None] = mapped_column(Text)
    # The latest public message from staff (Open311's status_notes), kept here so that lists
    # and the API need no extra query per report.
    status_notes: Mapped[str | None] = mapped_column(Text)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reporter_email: Mapped[str | None] = mapped_column(String(254))
    reporter_name: Mapped[str] = mapped_column(String(120), default="")
    is_name_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # The language the reporter wrote in: e-mails to a reporter without an account use it.
    locale: Mapped[str | None] = mapped_column(String(10))
    is_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20), default="web")
    api_client_id: Mapped[int | None] = mapped_column(
        ForeignKey("open311_client.id", ondelete="SET NULL")
    )
    # A random handle for Open311's GET /tokens/{token}.
    token: Mapped[str] = mapped_column(String(40), unique=True)
    supporter_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    category: Mapped[Category] = relationship()
    department: Mapped[Department] = relationship()
    district: Mapped[District] = relationship()
    photos: Mapped[list[ReportPhoto]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportPhoto.position"
    )
    updates: Mapped[list[ReportUpdate]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="[ReportUpdate.created_at, ReportUpdate.id]",
    )

    __table_args__ = (
        CheckConstraint(
            "state IN ('new', 'acknowledged', 'in_progress', 'resolved', 'closed')", name="state"
        ),
        CheckConstraint(
            "(state = 'closed' AND close_reason IN ('duplicate', 'not_responsible', 'cannot_find'))"
            " OR (state <> 'closed' AND close_reason IS NULL)",
            name="close_reason",
        ),
        CheckConstraint(
            "duplicate_of_id IS NULL OR duplicate_of_id <> id", name="not_own_duplicate"
        ),
        CheckConstraint("latitude >= -90 AND latitude <= 90", name="latitude"),
        CheckConstraint("longitude >= -180 AND longitude <= 180", name="longitude"),
        CheckConstraint("supporter_count >= 0", name="supporter_count"),
        CheckConstraint("source IN ('web', 'open311', 'staff', 'seed')", name="source"),
        # The map reads public positions by bounding box; the list and Open311 filter by these.
        Index("ix_report_public_position", "public_latitude", "public_longitude"),
        Index("ix_report_position", "latitude", "longitude"),
        Index("ix_report_state_created", "state", "created_at"),
        Index("ix_report_category_created", "category_id", "created_at"),
        # Open311's most common query: a service's open requests, newest first.
        Index(
            "ix_report_open_category_created",
            "category_id",
            "created_at",
            postgresql_where=text("state IN ('new', 'acknowledged', 'in_progress')"),
            sqlite_where=text("state IN ('new', 'acknowledged', 'in_progress')"),
        ),
        Index("ix_report_district_created", "district_id", "created_at"),
        Index("ix_report_department_state", "department_id", "state"),
        Index("ix_report_created_at", "created_at"),
        Index("ix_report_updated_at", "updated_at"),
        Index("ix_report_reporter_id", "reporter_id"),
        Index("ix_report_assignee_id", "assignee_id"),
    )

    @property
    def is_open(self) -> bool:
        """True while the city still has to act."""
        return self.state in OPEN_STATES

    @property
    def is_public(self) -> bool:
        """True when anyone may see the report."""
        return self.is_confirmed and not self.is_hidden

    def is_overdue(self, now: datetime | None = None) -> bool:
        """Open past its due date."""
        return self.is_open and (now or utcnow()) > self.due_at


class ReportPhoto(db.Model):
    """One of up to three photos of a report (stored with metadata stripped)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()

    report: Mapped[Report] = relationship(back_populates="photos")
    file: Mapped[StoredFile] = relationship()

    __table_args__ = (
        UniqueConstraint("report_id", "position"),
        CheckConstraint("position >= 1 AND position <= 3", name="position"),
    )


class ReportUpdate(db.Model):
    """One entry of a report's timeline; internal notes are never public."""

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    is_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = created_at_column()

    report: Mapped[Report] = relationship(back_populates="updates")

    __table_args__ = (
        CheckConstraint(
            "kind IN ('created', 'confirmed', 'state', 'message', 'note', 'reopened', 'merged', "
            "'assigned', 'category', 'hidden')",
            name="kind",
        ),
        CheckConstraint("kind <> 'note' OR is_public = false", name="notes_are_internal"),
    )


class ReportFollower(db.Model):
    """Someone who hears of every public change: the reporter, a "me too" supporter, a follower.

    People without an account follow by e-mail after confirming a link."""

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254))
    is_supporter: Mapped[bool] = mapped_column(Boolean, default=False)
    is_confirmed: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("report_id", "user_id"),
        UniqueConstraint("report_id", "email"),
        CheckConstraint("user_id IS NOT NULL OR email IS NOT NULL", name="who"),
    )


class ReportSubscription(db.Model):
    """A resident's daily digest of new reports in a district and/or a category."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_category.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = created_at_column()

    district: Mapped[District | None] = relationship()
    category: Mapped[Category | None] = relationship()

    __table_args__ = (
        CheckConstraint("district_id IS NOT NULL OR category_id IS NOT NULL", name="scope"),
        UniqueConstraint("user_id", "district_id", "category_id"),
    )


class ReportDigestLog(db.Model):
    """When a user's last digest went out: at most one a day, whatever they subscribed to."""

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_report_id: Mapped[int] = mapped_column(Integer, default=0)


class Open311Client(db.Model):
    """A client application allowed to POST to the Open311 API; only the key's hash is kept."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(254))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    request_count: Mapped[int] = mapped_column(Integer, default=0)


class ReportHotspot(db.Model):
    """Cached hotspot binning (H3 cells) for one category (or all) over one period."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_category.id", ondelete="CASCADE")
    )
    period_days: Mapped[int] = mapped_column(Integer)
    resolution: Mapped[int] = mapped_column(Integer)
    cells: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
