"""Workshop fixtures: facilitators, sessions built through the services, phones (devices)."""

from __future__ import annotations

import secrets

import pytest

from civic.workshops import services
from civic.workshops.services import AnswerInput, SlideInput


@pytest.fixture
def facilitator(make_user):
    return make_user(roles=("facilitator",), email="facilitator@example.org")


@pytest.fixture
def other_facilitator(make_user):
    return make_user(roles=("facilitator",), email="other-facilitator@example.org")


def device() -> str:
    """A phone's random device id, as the cookie holds it."""
    return secrets.token_hex(16)


def question(
    kind: str, title: str = "Which one?", options: str = "Red\nGreen\nBlue", locale: str = "en"
) -> SlideInput:
    return SlideInput(
        kind="question", locale=locale, title=title, question_type=kind, options_text=options
    )


@pytest.fixture
def live_session(facilitator):
    """A live session: a text slide, then single, multiple, rating, text and ranking questions;
    the single-choice question is on screen."""
    session = services.create_session(facilitator.id, {"en": "Town hall"})
    services.add_slide(
        facilitator.id,
        session.id,
        SlideInput(kind="text", locale="en", title="Welcome", body="Hello"),
    )
    ids = {}
    for kind in ("single", "multiple", "rating", "text", "ranking"):
        options = "" if kind in ("rating", "text") else "Red\nGreen\nBlue"
        ids[kind] = services.add_slide(
            facilitator.id, session.id, question(kind, f"Q {kind}", options)
        ).id
    services.start_session(facilitator.id, session.id)
    services.go_to_slide(facilitator.id, session.id, ids["single"])
    session = services.get_session(session.id)
    session.ids = ids
    return session


def answer(session, slide_id: int, phone: str | None = None, **values):
    """Answer as a phone through the service."""
    return services.submit_answer(
        session.code, slide_id, phone or device(), AnswerInput(**values), "en"
    )
