"""A city with public and private data in every module, built through the services where the
module's services are stable, and with its models where they are still moving."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from civic.core.models import Department
from civic.core.time import utcnow
from civic.extensions import db
from civic.opendata import stats
from tests.challenges.conftest import innovation, make_team  # noqa: F401 - fixtures for _challenge

TINY_PB = Path(__file__).resolve().parents[1] / "budgeting" / "fixtures" / "tiny_approval.pb"

# Private things a test searches every export and panel for.
PRIVATE = {
    "reporter_email": "zelda.secret.reporter@example.org",
    "reporter_name": "Zelda Quibbleworth",
    "description": "SECRETDESCRIPTION behind the bakery",
    "address": "Rua Secreta 4242",
    "staff_note": "STAFFNOTE: caller sounded drunk",
    "sensitive_lat": "-22.987654",
    "sensitive_lon": "-46.654321",
    "hidden_category": "hiddenonlycat",
    "unpublished_project": "UNPUBLISHEDPROJECTTITLE",
    "pending_poll": "PENDINGPOLLQUESTION",
    "open_poll_option": "OPENPOLLOPTIONLABEL",
    "unpublished_workshop_answer": "UNPUBLISHEDWORKSHOPANSWER",
    "hidden_workshop_answer": "HIDDENWORKSHOPANSWERTEXT",
    "voter_email": "voter.private@example.org",
    "voter_name": "Valentina Privatvoter",
    "facilitator_email": "facilitator.private@example.org",
    "judge_feedback": "Feedback from judge",
    "judge_comment": "Comment 0",
    "closed_dataset": "CLOSEDDATASETTITLE",
}


@dataclass
class City:
    staff_id: int
    published_budget_id: int
    unpublished_budget_id: int
    closed_poll_id: int | None = None
    open_poll_id: int | None = None
    published_session_id: int | None = None
    unpublished_session_id: int | None = None
    challenge_id: int | None = None
    open_dataset_id: int | None = None
    report_ids: dict = field(default_factory=dict)
    pseudonyms: list = field(default_factory=list)


def _budgets(staff_id: int) -> tuple[int, int, list[str]]:
    from civic.budgeting import pbio
    from civic.budgeting import services as budgeting
    from civic.budgeting.jobs import compute_results
    from civic.budgeting.models import Ballot

    published = pbio.import_pb(staff_id, TINY_PB.read_text(encoding="utf-8-sig"), "Testville 2024")
    compute_results(published.id)
    budgeting.publish_results(staff_id, published.id)

    hidden = pbio.import_pb(staff_id, TINY_PB.read_text(encoding="utf-8-sig"), "Secret process")
    hidden.projects[0].title = {"en": PRIVATE["unpublished_project"]}
    db.session.commit()
    compute_results(hidden.id)  # computed, never published
    # A ballot with a pseudonym, as an online vote leaves while the vote is open.
    pseudonym = secrets.token_hex(32)
    db.session.add(
        Ballot(budget_id=hidden.id, pseudonym=pseudonym, choices=[[hidden.projects[0].code, 1]])
    )
    db.session.commit()
    return published.id, hidden.id, [pseudonym]


def _polls(staff, voter) -> tuple[int, int, list[str]]:
    from civic.polls import services as polls
    from civic.polls.models import PollBallot

    def draft(question, options, **extra):
        return polls.PollDraft(
            question=question,
            options=[polls.OptionDraft(o) for o in options],
            duration_days=10,
            is_official=True,
            department_id=staff.department_rows[0].department_id,
            **extra,
        )

    closed = polls.propose_poll(
        staff.id,
        draft("Which bus route first?", ["Line 10", "Line 20"]),
        now=utcnow() - timedelta(days=20),
    )
    opened = polls.propose_poll(
        staff.id,
        draft("Open question now?", [PRIVATE["open_poll_option"], "Other"]),
        now=utcnow() - timedelta(days=1),
    )
    polls.cast_vote(voter.id, opened.id, [opened.options[0].id])
    pseudonyms = [b.pseudonym for b in db.session.scalars(db.select(PollBallot))]
    # A resident's proposal still waiting for review.
    try:
        polls.propose_poll(
            voter.id,
            polls.PollDraft(
                question=PRIVATE["pending_poll"],
                options=[polls.OptionDraft("Yes"), polls.OptionDraft("No")],
                duration_days=10,
            ),
        )
    except Exception:  # noqa: BLE001 - the proposal rules may change; the private text is optional
        db.session.rollback()
    return closed.id, opened.id, pseudonyms


def _reports(department_id: int, districts, reporter) -> dict:
    from civic.reports.models import Category, Report, ReportUpdate

    def category(code, sensitive=False):
        row = Category(
            code=code,
            name={"en": code.title()},
            department_id=department_id,
            is_sensitive=sensitive,
        )
        db.session.add(row)
        db.session.flush()
        return row

    pothole, abuse, hidden_cat = (
        category("pothole"),
        category("abuse", True),
        category(PRIVATE["hidden_category"]),
    )
    district = districts["centro"]
    now = utcnow()

    def report(cat, lat, lon, public_lat, public_lon, **extra):
        row = Report(
            category_id=cat.id,
            department_id=department_id,
            district_id=district.id,
            latitude=lat,
            longitude=lon,
            public_latitude=public_lat,
            public_longitude=public_lon,
            is_location_approximate=cat.is_sensitive,
            address=PRIVATE["address"],
            description=PRIVATE["description"],
            reporter_id=reporter.id,
            reporter_email=PRIVATE["reporter_email"],
            reporter_name=PRIVATE["reporter_name"],
            is_confirmed=True,
            token=secrets.token_hex(16),
            due_at=now + timedelta(days=7),
            created_at=now - timedelta(hours=2),
            **extra,
        )
        db.session.add(row)
        db.session.flush()
        db.session.add(
            ReportUpdate(
                report_id=row.id,
                kind="note",
                is_public=False,
                body=PRIVATE["staff_note"],
                is_staff=True,
            )
        )
        return row

    plain = report(pothole, -22.981234, -46.661234, -22.981234, -46.661234)
    resolved = report(
        pothole,
        -22.982,
        -46.662,
        -22.982,
        -46.662,
        state="resolved",
        resolved_at=now - timedelta(hours=1),
    )
    sensitive = report(
        abuse, float(PRIVATE["sensitive_lat"]), float(PRIVATE["sensitive_lon"]), -22.9875, -46.6545
    )
    hidden = report(
        hidden_cat, -22.97, -46.65, -22.97, -46.65, is_hidden=True, hidden_reason="abusive"
    )
    db.session.commit()
    return {
        "plain": plain.id,
        "resolved": resolved.id,
        "sensitive": sensitive.id,
        "hidden": hidden.id,
    }


def _workshops(facilitator) -> tuple[int, int]:
    from civic.workshops import services
    from civic.workshops.services import AnswerInput, SlideInput

    def session_with_text(title, text, hidden_text=None):
        session = services.create_session(facilitator.id, {"en": title})
        slide = services.add_slide(
            facilitator.id,
            session.id,
            SlideInput(kind="question", locale="en", title="One word?", question_type="text"),
        )
        services.start_session(facilitator.id, session.id)
        services.submit_answer(
            session.code, slide.id, secrets.token_hex(16), AnswerInput(text=text)
        )
        if hidden_text:
            rude = services.submit_answer(
                session.code, slide.id, secrets.token_hex(16), AnswerInput(text=hidden_text)
            )
            services.hide_answer(facilitator.id, rude.id)
        return session

    published = session_with_text("Public workshop", "benches", PRIVATE["hidden_workshop_answer"])
    services.close_session(facilitator.id, published.id)
    services.set_results_published(facilitator.id, published.id, True)
    private = session_with_text("Private workshop", PRIVATE["unpublished_workshop_answer"])
    return published.id, private.id


def _datasets(actor_id: int) -> int:
    """An open CSV dataset and a closed one, through the challenges module's services."""
    import io

    from civic.challenges import services as challenges

    def metadata(title: str, access: str):
        return challenges.DatasetInput(
            title={"en": title},
            description={"en": "PM10 by district"},
            file_kind="csv",
            licence="CC-BY-4.0",
            update_frequency="never",
            access=access,
            collection="machine",
            personalisation="not_personal",
            authorship="official_bodies",
            format_kind="open",
            refinement="processed",
            dimensions=("spatial_2d",),
            statistical_kind="quantitative",
            dynamics="static",
        )

    table = b"district,pm10 2019,pm10 2020\nCentro,41,40\nPorto,35,36\n"
    opened = challenges.create_dataset(
        actor_id, metadata("Air quality", "open"), io.BytesIO(table), "air.csv"
    )
    challenges.create_dataset(
        actor_id, metadata(PRIVATE["closed_dataset"], "closed"), io.BytesIO(table), "closed.csv"
    )
    return opened.id


def _challenge(request) -> int:
    """A judged challenge with published results, built with the challenges tests' helpers."""
    from civic.challenges import services as challenges
    from tests.challenges.conftest import judged_challenge, score_all

    innovation = request.getfixturevalue("innovation")
    make_user = request.getfixturevalue("make_user")
    make_team = request.getfixturevalue("make_team")
    challenge, subs, panel = judged_challenge(innovation, make_user, make_team)
    score_all(challenge, subs, panel)
    challenges.publish_results(innovation.id, challenge.id, "Ties broken by the rubric's order.")
    return challenge.id


@pytest.fixture
def city(app, districts, make_user, request):
    """Public and private data in budgeting, polls, reports and workshops."""
    from civic.accounts.models import DepartmentMember

    department = Department(code="roads", name={"en": "Roads"})
    db.session.add(department)
    db.session.commit()
    staff = make_user(
        roles=("staff",), email="staff.private@example.org", display_name="Stanislav Staffer"
    )
    staff.department_rows = [DepartmentMember(department_id=department.id)]
    voter = make_user(
        email=PRIVATE["voter_email"],
        display_name=PRIVATE["voter_name"],
        verified_district=districts["centro"],
    )
    facilitator = make_user(
        roles=("facilitator",),
        email=PRIVATE["facilitator_email"],
        display_name="Fiona Facilitatrix",
    )
    db.session.commit()
    published, unpublished, pseudonyms = _budgets(staff.id)
    result = City(staff.id, published, unpublished, pseudonyms=pseudonyms)
    if stats.polls_available():
        result.closed_poll_id, result.open_poll_id, poll_pseudonyms = _polls(staff, voter)
        result.pseudonyms += poll_pseudonyms
    if stats.reports_available():
        result.report_ids = _reports(department.id, districts, voter)
    result.published_session_id, result.unpublished_session_id = _workshops(facilitator)
    if stats.challenges_available():
        result.challenge_id = _challenge(request)
        result.open_dataset_id = _datasets(request.getfixturevalue("innovation").id)
    return result
