"""The audit log of staff actions."""

from __future__ import annotations

from civic.core.models import AuditEvent
from civic.extensions import db


def record(
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | str | None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller's service commits)."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before,
        after=after,
    )
    db.session.add(event)
    return event


def list_events(limit: int = 200, action: str | None = None) -> list[AuditEvent]:
    """Newest audit events first."""
    query = db.select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query.limit(limit)))
