"""Workshops: sessions of slides (data, question, text), uploaded datasets and the room's answers.

One answer per device per question is a database rule: `WorkshopAnswer` has a unique
(slide, device) pair. The device is a random id kept in a signed cookie on the phone; nothing
else about the person is stored, so answers are anonymous.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civic.core.models import created_at_column
from civic.core.time import UTCDateTime, utcnow
from civic.extensions import db

SESSION_STATES = ("draft", "live", "closed")
SLIDE_KINDS = ("data", "question", "text")
QUESTION_TYPES = ("single", "multiple", "rating", "text", "ranking")
CHART_TYPES = ("bar", "stacked_bar", "line", "map")
MAX_TEXT_ANSWER = 120
CODE_LENGTH = 6


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WorkshopSession(db.Model):
    """A facilitator's session: slides shown in a room, joined by a short code."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON)
    facilitator_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(10), default="draft")
    # The slide on the screen; the audience sees its question (when it is one).
    current_slide_id: Mapped[int | None] = mapped_column(Integer)
    # Self-paced: every open question is live at once (the readiness check), not only the
    # slide on the screen.
    is_self_paced: Mapped[bool] = mapped_column(Boolean, default=False)
    template: Mapped[str | None] = mapped_column(String(40))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    slides: Mapped[list[Slide]] = relationship(
        back_populates="session", order_by="Slide.position", cascade="all, delete-orphan"
    )

    __table_args__ = (CheckConstraint(_in("state", SESSION_STATES), name="known_state"),)


class WorkshopDataset(db.Model):
    """A CSV a facilitator uploaded for data slides, parsed and kept as rows."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_session.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(160))
    columns: Mapped[list[str]] = mapped_column(JSON)
    rows: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at_column()


class Slide(db.Model):
    """One slide: a chart of city data, a question to the room, or text."""

    __tablename__ = "workshop_slide"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_session.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Text slides: the text; data slides: the caption; questions: a hint under the question.
    body: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    chart_source: Mapped[str | None] = mapped_column(String(40))
    chart_type: Mapped[str | None] = mapped_column(String(20))
    chart_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_dataset.id", ondelete="SET NULL")
    )
    question_type: Mapped[str | None] = mapped_column(String(10))
    # [{"key": "a", "label": {"en": ..., "es": ...}}, ...]; rating: the two end labels.
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The readiness check's area and question key ("governing", "g1").
    area: Mapped[str | None] = mapped_column(String(20))
    item_key: Mapped[str | None] = mapped_column(String(20))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # Results stay hidden from the screen until the facilitator reveals them.
    is_revealed: Mapped[bool] = mapped_column(Boolean, default=False)

    session: Mapped[WorkshopSession] = relationship(back_populates="slides")
    dataset: Mapped[WorkshopDataset | None] = relationship()

    __table_args__ = (
        UniqueConstraint("session_id", "position"),
        CheckConstraint(_in("kind", SLIDE_KINDS), name="known_kind"),
        CheckConstraint(
            f"question_type IS NULL OR {_in('question_type', QUESTION_TYPES)}",
            name="known_question_type",
        ),
        CheckConstraint(
            f"chart_type IS NULL OR {_in('chart_type', CHART_TYPES)}", name="known_chart_type"
        ),
        CheckConstraint("kind <> 'question' OR question_type IS NOT NULL", name="question_typed"),
    )


class WorkshopAnswer(db.Model):
    """One device's answer to one question: no account, no name, one per (question, device)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slide_id: Mapped[int] = mapped_column(ForeignKey("workshop_slide.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(40))
    # single/multiple: option keys; ranking: option keys best first.
    choices: Mapped[list[str] | None] = mapped_column(JSON)
    rating: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(String(MAX_TEXT_ANSWER))
    locale: Mapped[str | None] = mapped_column(String(10))
    is_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (
        UniqueConstraint("slide_id", "device_id"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
    )
