"""Workshop demo data, through the services: a session on the city's report statistics with two
questions, and a data readiness check the room has answered, ended and published."""

from __future__ import annotations

import random

from sqlalchemy import select

from civic.accounts.models import User
from civic.extensions import db
from civic.opendata import stats
from civic.workshops import services
from civic.workshops.models import WorkshopSession
from civic.workshops.services import AnswerInput, SlideInput

STREETS_TITLE = {
    "en": "Our streets in numbers",
    "es": "Nuestras calles en cifras",
    "pt_BR": "Nossas ruas em números",
    "fr": "Nos rues en chiffres",
    "de": "Unsere Straßen in Zahlen",
    "ko": "숫자로 보는 우리 거리",
    "id": "Jalan kita dalam angka",
    "hi": "आँकड़ों में हमारी सड़कें",
    "ar": "شوارعنا بالأرقام",
}


def _slide(actor_id: int, session_id: int, data: SlideInput, translations: dict[str, dict]) -> int:
    slide = services.add_slide(actor_id, session_id, data)
    for locale, texts in translations.items():
        services.update_slide(
            actor_id,
            slide.id,
            SlideInput(
                kind=data.kind,
                locale=locale,
                title=texts.get("title", ""),
                body=texts.get("body", ""),
                question_type=data.question_type,
                options_text=texts.get("options", ""),
                chart_source=data.chart_source,
                chart_type=data.chart_type,
                params=data.params,
            ),
        )
    return slide.id


def _streets_session(actor_id: int) -> WorkshopSession:
    session = services.create_session(actor_id, STREETS_TITLE)
    _slide(
        actor_id,
        session.id,
        SlideInput(
            kind="text",
            locale="en",
            title="What residents told the city this year",
            body="Every report on these slides came from a resident's phone.\nLet's look at them together, then tell us what matters most to you.",
        ),
        {
            "pt_BR": {
                "title": "O que os moradores disseram à cidade este ano",
                "body": "Cada relato destes slides veio do celular de um morador.\nVamos olhá-los juntos e depois diga o que mais importa para você.",
            },
            "es": {
                "title": "Lo que los vecinos contaron a la ciudad este año",
                "body": "Cada aviso de estas diapositivas llegó desde el móvil de un vecino.\nVeámoslos juntos y luego cuéntenos qué le importa más.",
            },
        },
    )
    if stats.reports_available():
        _slide(
            actor_id,
            session.id,
            SlideInput(
                kind="data",
                locale="en",
                title="Reports by category",
                body="Public reports of the last 90 days.",
                chart_source="reports_by_category",
                chart_type="bar",
                params={"days": 90},
            ),
            {
                "pt_BR": {
                    "title": "Relatos por categoria",
                    "body": "Relatos públicos dos últimos 90 dias.",
                }
            },
        )
        _slide(
            actor_id,
            session.id,
            SlideInput(
                kind="data",
                locale="en",
                title="Where problems come back",
                body="Places with at least two reports in the last year.",
                chart_source="report_hotspots",
                chart_type="map",
                params={"days": 365},
            ),
            {
                "pt_BR": {
                    "title": "Onde os problemas voltam",
                    "body": "Lugares com pelo menos dois relatos no último ano.",
                }
            },
        )
        _slide(
            actor_id,
            session.id,
            SlideInput(
                kind="data",
                locale="en",
                title="Reports made and resolved each week",
                chart_source="reports_by_week",
                chart_type="line",
            ),
            {"pt_BR": {"title": "Relatos feitos e resolvidos por semana"}},
        )
    _slide(
        actor_id,
        session.id,
        SlideInput(
            kind="question",
            locale="en",
            title="Which problem should the city tackle first?",
            question_type="single",
            options_text="Potholes\nStreet lighting\nRubbish and fly-tipping\nBroken pavements",
        ),
        {
            "pt_BR": {
                "title": "Qual problema a cidade deve atacar primeiro?",
                "options": "Buracos\nIluminação pública\nLixo e descarte irregular\nCalçadas quebradas",
            },
            "es": {
                "title": "¿Qué problema debería atacar primero la ciudad?",
                "options": "Baches\nAlumbrado público\nBasura y vertidos ilegales\nAceras rotas",
            },
            "ko": {
                "title": "시가 가장 먼저 해결해야 할 문제는 무엇일까요?",
                "options": "도로 파임\n가로등\n쓰레기와 무단 투기\n파손된 보도",
            },
            "ar": {
                "title": "ما المشكلة التي يجب أن تعالجها المدينة أولًا؟",
                "options": "الحفر\nإنارة الشوارع\nالنفايات والرمي العشوائي\nالأرصفة المكسورة",
            },
        },
    )
    _slide(
        actor_id,
        session.id,
        SlideInput(
            kind="question",
            locale="en",
            title="In a few words: what would make your street better?",
            question_type="text",
        ),
        {
            "pt_BR": {"title": "Em poucas palavras: o que melhoraria a sua rua?"},
            "es": {"title": "En pocas palabras: ¿qué mejoraría su calle?"},
            "ko": {"title": "짧게 답해 주세요: 무엇이 우리 동네 거리를 더 좋게 만들까요?"},
            "ar": {"title": "بكلمات قليلة: ما الذي يجعل شارعك أفضل؟"},
        },
    )
    return session


def seed_workshops() -> list[str]:
    """Seed the two demo sessions (safe to run twice)."""
    facilitator = db.session.scalar(select(User).where(User.email == "facilitator@demo.civic"))
    if facilitator is None:
        return ["Workshops: no facilitator account, nothing seeded."]
    if db.session.scalar(
        select(WorkshopSession.id).where(WorkshopSession.facilitator_id == facilitator.id)
    ):
        return ["Workshops: already seeded."]
    streets = _streets_session(facilitator.id)

    readiness = services.create_readiness_session(facilitator.id)
    services.start_session(facilitator.id, readiness.id)
    rng = random.Random(2026)
    questions = [s for s in readiness.slides if s.kind == "question"]
    # A room of 14 from different departments; governing data is stronger than the rest.
    levels = {"governing": 3.2, "managing": 2.4, "value": 1.9}
    for _n in range(14):
        device = f"{rng.getrandbits(128):032x}"
        for slide in questions:
            if rng.random() < 0.08:
                continue  # some skip a statement
            rating = min(5, max(1, round(rng.gauss(levels[slide.area], 0.9))))
            services.submit_answer(
                readiness.code,
                slide.id,
                device,
                AnswerInput(rating=rating),
                locale=rng.choice(["pt_BR", "pt_BR", "en", "es"]),
            )
    services.close_session(facilitator.id, readiness.id)
    services.set_results_published(facilitator.id, readiness.id, True)
    return [
        f"Workshops: '{STREETS_TITLE['en']}' (code {streets.code}, {len(streets.slides)} slides) "
        f"and a data readiness check answered by 14 people, ended and published (code {readiness.code})."
    ]
