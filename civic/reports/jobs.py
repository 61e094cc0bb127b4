"""Report jobs: tell followers about a change, daily subscription digests, hotspot binning.

Each takes ids or plain values, loads its rows, is safe to run twice, and commits itself."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from civic.accounts.models import User
from civic.core.mail import deliver_outbox_message, queue_email
from civic.core.time import utcnow
from civic.extensions import db
from civic.jobs import enqueue
from civic.reports import workflow
from civic.reports.hotspots import bin_reports
from civic.reports.models import (
    Report,
    ReportDigestLog,
    ReportFollower,
    ReportHotspot,
    ReportSubscription,
    ReportUpdate,
)

DIGEST_INTERVAL = timedelta(hours=23, minutes=30)


def _link_context():
    """A request context for url_for(_external=True) when a worker runs the job."""
    if has_request_context():
        return nullcontext()
    from civic.reports.services import setting

    return current_app.test_request_context("/", base_url=setting("CIVIC_BASE_URL"))


def _recipients(report: Report, exclude_user_id: int | None) -> dict[str, tuple[str | None, bool]]:
    """E-mail -> (locale, is the e-mail-only reporter) for everyone following the report."""
    default = current_app.config["CIVIC_DEFAULT_LOCALE"]
    people: dict[str, tuple[str | None, bool]] = {}
    if report.reporter_id and report.reporter_id != exclude_user_id:
        user = db.session.get(User, report.reporter_id)
        if user is not None:
            people[user.email] = (user.locale or report.locale or default, False)
    elif report.reporter_email and report.is_confirmed:
        people[report.reporter_email] = (report.locale or default, True)
    followers = db.session.scalars(
        select(ReportFollower).where(
            ReportFollower.report_id == report.id, ReportFollower.is_confirmed.is_(True)
        )
    )
    for follower in followers:
        if follower.user_id:
            if follower.user_id == exclude_user_id:
                continue
            user = db.session.get(User, follower.user_id)
            if user is not None and user.is_active_account:
                people.setdefault(user.email, (user.locale or default, False))
        elif follower.email:
            people.setdefault(follower.email, (follower.locale or default, False))
    return people


def notify_followers(update_id: int) -> int:
    """E-mail the reporter and followers about one public change, each in their language."""
    entry = db.session.get(ReportUpdate, update_id)
    if entry is None or not entry.is_public or (entry.data or {}).get("notified") is not None:
        return 0
    report = entry.report
    if not report.is_public:
        return 0
    from civic.reports.services import reopen_link_token

    messages = []
    with _link_context():
        from flask import url_for

        link = url_for("reports.detail", report_id=report.id, _external=True)
        for email, (locale, is_email_reporter) in _recipients(report, entry.author_id).items():
            reopen_link = None
            if is_email_reporter and entry.to_state == "resolved":
                reopen_link = url_for(
                    "reports.reopen_by_link", token=reopen_link_token(report), _external=True
                )
            with force_locale(locale):
                messages.append(
                    queue_email(
                        email,
                        str(
                            _l(
                                "Report #%(id)s: %(state)s",
                                id=report.id,
                                state=workflow.STATE_LABELS[report.state],
                            )
                        ),
                        "emails/report_update.txt",
                        report=report,
                        entry=entry,
                        link=link,
                        reopen_link=reopen_link,
                        state_labels=workflow.STATE_LABELS,
                        reason_labels=workflow.CLOSE_REASON_LABELS,
                    )
                )
    entry.data = {**(entry.data or {}), "notified": len(messages)}
    db.session.commit()
    for message in messages:
        enqueue(deliver_outbox_message, message.id)
    return len(messages)


def _subscription_filter(subscription: ReportSubscription):
    conditions = []
    if subscription.district_id:
        conditions.append(Report.district_id == subscription.district_id)
    if subscription.category_id:
        conditions.append(Report.category_id == subscription.category_id)
    return conditions


def send_daily_digests(now: datetime | None = None) -> int:
    """One e-mail a day at most per person, grouping new reports by subscription, newest first.
    Nobody gets an empty digest. Returns how many digests went out."""
    now = now or utcnow()
    user_ids = list(db.session.scalars(select(ReportSubscription.user_id).distinct()))
    sent = []
    with _link_context():
        from flask import url_for

        for user_id in user_ids:
            user = db.session.get(User, user_id)
            if user is None or not user.is_active_account:
                continue
            log = db.session.get(ReportDigestLog, user_id)
            if log is not None and now - log.last_sent_at < DIGEST_INTERVAL:
                continue
            since = log.last_sent_at if log else now - timedelta(days=1)
            last_id = log.last_report_id if log else 0
            groups = []
            seen: set[int] = set()
            subscriptions = db.session.scalars(
                select(ReportSubscription).where(ReportSubscription.user_id == user_id)
            )
            for subscription in subscriptions:
                reports = [
                    r
                    for r in db.session.scalars(
                        select(Report)
                        .where(
                            Report.is_confirmed.is_(True),
                            Report.is_hidden.is_(False),
                            or_(Report.confirmed_at > since, Report.id > last_id),
                            Report.confirmed_at <= now,
                            *_subscription_filter(subscription),
                        )
                        .order_by(Report.created_at.desc(), Report.id.desc())
                        .limit(50)
                    )
                    if r.id not in seen and (r.confirmed_at > since or r.id > last_id)
                ]
                seen.update(r.id for r in reports)
                if reports:
                    groups.append((subscription, reports))
            if not groups:
                continue
            with force_locale(user.locale or current_app.config["CIVIC_DEFAULT_LOCALE"]):
                message = queue_email(
                    user.email,
                    str(_l("New reports near you: %(count)s", count=len(seen))),
                    "emails/report_digest.txt",
                    user=user,
                    groups=groups,
                    link_for=lambda report_id: url_for(
                        "reports.detail", report_id=report_id, _external=True
                    ),
                    manage_link=url_for("reports.subscriptions", _external=True),
                )
            if log is None:
                db.session.add(
                    ReportDigestLog(user_id=user_id, last_sent_at=now, last_report_id=max(seen))
                )
            else:
                log.last_sent_at = now
                log.last_report_id = max(log.last_report_id, max(seen))
            db.session.commit()
            sent.append(message.id)
    for message_id in sent:
        enqueue(deliver_outbox_message, message_id)
    return len(sent)


def compute_hotspots(category_id: int | None, period_days: int, resolution: int = 9) -> int:
    """Bin the period's reports into H3 cells and keep the result; returns the cell count."""
    from civic.reports.services import hotspot_key

    now = utcnow()
    query = select(Report.latitude, Report.longitude, Report.created_at).where(
        Report.is_confirmed.is_(True), Report.created_at >= now - timedelta(days=period_days)
    )
    if category_id:
        query = query.where(Report.category_id == category_id)
    points = db.session.execute(query).all()
    cells = [cell.as_dict() for cell in bin_reports(points, resolution)]
    key = hotspot_key(category_id, period_days, resolution)
    row = db.session.scalar(select(ReportHotspot).where(ReportHotspot.key == key))
    if row is None:
        row = ReportHotspot(
            key=key, category_id=category_id, period_days=period_days, resolution=resolution
        )
        db.session.add(row)
    row.cells = cells
    row.report_count = len(points)
    row.computed_at = now
    try:
        db.session.commit()
    except IntegrityError:  # another worker wrote the same key first; its result is as good
        db.session.rollback()
    return len(cells)
