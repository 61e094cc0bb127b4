"""Challenge jobs: profile a dataset, unpack and check a source archive, tell teams about
results. They take ids, load their rows, are safe to run twice and commit themselves."""

from __future__ import annotations

import csv
import hashlib
import shutil
import tempfile
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from civic.accounts.models import User
from civic.challenges import archives, files
from civic.challenges.models import (
    Challenge,
    ChallengeResult,
    Dataset,
    Submission,
    SubmissionVersion,
    TeamMember,
)
from civic.challenges.profiling import profile_file
from civic.core.i18n import pick_text
from civic.core.mail import deliver_outbox_message, queue_email
from civic.core.time import utcnow
from civic.extensions import db


def profile_dataset(dataset_id: int) -> str:
    """Record a dataset's SHA-256, size and what it holds (rows, columns, preview, bounds…)."""
    dataset = db.session.get(Dataset, dataset_id)
    if dataset is None:
        return "missing"
    if not files.exists(dataset.storage_key):
        dataset.profile_state, dataset.profile_error = "failed", "missing"
        db.session.commit()
        return "failed"
    digest = hashlib.sha256()
    size = 0
    with files.open_file(dataset.storage_key) as handle:
        while chunk := handle.read(files.CHUNK):
            digest.update(chunk)
            size += len(chunk)
    try:
        with files.open_file(dataset.storage_key) as handle:
            profile = profile_file(handle, dataset.file_kind, size)
    except (ValueError, UnicodeDecodeError, csv.Error, OSError) as exc:
        current_app.logger.warning("Dataset %s could not be profiled: %s", dataset_id, exc)
        dataset.profile_state, dataset.profile_error = "failed", "unreadable"
        dataset.profile = {"sha256": digest.hexdigest(), "size": size}
        db.session.commit()
        return "failed"
    profile.update(sha256=digest.hexdigest(), size=size)
    dataset.profile, dataset.profile_state, dataset.profile_error = profile, "ready", None
    dataset.sha256, dataset.size = digest.hexdigest(), size
    db.session.commit()
    return "ready"


def inspect_archive(version_id: int) -> str:
    """Unpack a submission's archive into a scratch folder (refusing traversal, links and
    bombs), list it, and compare its licence file with the declared licence."""
    version = db.session.get(SubmissionVersion, version_id)
    if version is None or not version.archive_key:
        return "missing"
    if version.archive_state in ("ok", "refused"):
        return version.archive_state
    if not files.exists(version.archive_key):
        version.archive_state, version.archive_problem, version.licence_check = (
            "refused",
            "storage",
            "none",
        )
        db.session.commit()
        return "refused"
    scratch = Path(tempfile.mkdtemp(prefix="civic-archive-"))
    try:
        with files.open_file(version.archive_key) as handle:
            kind = archives.archive_kind(version.archive_name or "", handle.read(8))
            handle.seek(0)
            entries = archives.extract_archive(handle, kind, version.archive_size or 0, scratch)
        check = archives.check_licence_file(scratch, version.licence)
    except archives.ArchiveRefused as exc:
        version.archive_state, version.archive_problem = "refused", exc.code
        version.licence_check, version.archive_listing = "none", None
        db.session.commit()
        return "refused"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    version.archive_state, version.archive_problem = "ok", None
    version.archive_listing = [{"name": e.name, "size": e.size} for e in entries[:500]]
    version.licence_check, version.licence_found, version.licence_file = (
        check.state,
        check.found,
        check.file,
    )
    db.session.commit()
    return "ok"


def notify_results(challenge_id: int) -> int:
    """E-mail every member of every submitting team that the results and feedback are out."""
    challenge = db.session.get(Challenge, challenge_id)
    result = db.session.scalar(
        select(ChallengeResult).where(ChallengeResult.challenge_id == challenge_id)
    )
    if challenge is None or result is None or result.notified_at is not None:
        return 0
    users = db.session.scalars(
        select(User)
        .join(TeamMember, TeamMember.user_id == User.id)
        .join(Submission, Submission.team_id == TeamMember.team_id)
        .where(Submission.challenge_id == challenge.id)
        .distinct()
    ).all()
    ids = []
    for user in users:
        with force_locale(user.locale or current_app.config["CIVIC_DEFAULT_LOCALE"]):
            message = queue_email(
                user.email,
                str(_l("Results and feedback: %(title)s", title=pick_text(challenge.title).text)),
                "challenges/emails/challenge_results.txt",
                user=user,
                title=pick_text(challenge.title).text,
                slug=challenge.slug,
            )
        ids.append(message.id)
    result.notified_at = utcnow()
    db.session.commit()
    from civic.jobs import enqueue

    for message_id in ids:
        enqueue(deliver_outbox_message, message_id)
    return len(ids)
