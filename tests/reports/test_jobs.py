"""Report jobs through a real Redis queue: what a worker runs in production."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from civic.core.models import OutboxMessage, StoredFile
from civic.extensions import db
from civic.reports import services
from civic.reports.models import ReportHotspot
from tests.reports.conftest import CENTRO, jpeg_with_gps

pytestmark = pytest.mark.redis


def test_notifications_photos_and_hotspots_run_on_a_worker(queue, submit, make_staff):
    report = submit(photos=[jpeg_with_gps()])
    stored = db.session.scalar(select(StoredFile))
    assert stored.status == "processing"  # the derivative job waits for a worker
    staff = make_staff("roads")
    services.change_state(staff.id, report.id, "resolved", "Fixed")
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert services.get_hotspots(None, 90, 9) is None  # queued, not computed in the request
    stored_id, report_id = stored.id, report.id
    queue.work()
    assert db.session.get(StoredFile, stored_id).status == "ready"
    message = db.session.scalar(select(OutboxMessage))
    assert message.recipient == "reporter@example.org" and "Fixed" in message.body
    assert f"/reports/{report_id}" in message.body
    assert db.session.scalar(select(ReportHotspot)).report_count == 1


def test_digest_job_runs_on_a_worker(queue, submit, make_user, districts):
    from civic.jobs import enqueue
    from civic.reports.jobs import send_daily_digests

    subscriber = make_user(email="sub@example.org")
    services.subscribe(subscriber.id, districts["centro"].id, None)
    submit(at=CENTRO)
    enqueue(send_daily_digests)
    queue.work()
    assert (
        db.session.scalar(select(func.count()).where(OutboxMessage.recipient == "sub@example.org"))
        == 1
    )
