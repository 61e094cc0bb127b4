"""The demo city's reports: real-city categories (seeds/reports_categories.json) and a few
hundred reports spread over districts, states and twelve months, with places where problems
recur, so that the map, the statistics and the hotspots show something true. Everything goes
through the services; running it twice adds nothing."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from shapely.geometry import Point, shape
from sqlalchemy import func, select

from civic.accounts.services import get_user_by_email, list_departments
from civic.config import SEEDS_DIR
from civic.core.geo import list_districts
from civic.core.time import utcnow
from civic.extensions import db
from civic.reports import services
from civic.reports.models import Report

REPORT_COUNT = 320

# Places where the same problem keeps coming back: (lat, lon, category, reports, place name).
RECURRING = [
    (-22.9878, -46.6185, "flooding", 16, "Rua do Cais, low point"),
    (-22.9931, -46.6302, "pothole", 13, "Avenida Beira-Mar"),
    (-22.9380, -46.5701, "dumping", 11, "Vacant lot behind Feira da Ribeira"),
    (-22.9450, -46.6820, "streetlight", 9, "Rua das Acácias"),
    (-22.9401, -46.5752, "waste", 10, "Feira da Ribeira"),
    (-22.9790, -46.6650, "graffiti", 8, "Travessa do Comércio"),
    (-22.9760, -46.6600, "noise", 7, "Mercado Municipal"),
]
WEIGHTS = {
    "pothole": 18,
    "streetlight": 14,
    "waste": 16,
    "dumping": 10,
    "graffiti": 7,
    "noise": 6,
    "tree": 7,
    "flooding": 8,
    "bus-stop": 5,
    "sidewalk": 9,
    "traffic-signal": 4,
    "abandoned-vehicle": 4,
}
DESCRIPTIONS = {
    "pothole": [
        "Deep pothole in the right lane, cars swerve around it.",
        "Buraco grande perto da faixa de pedestres.",
        "Several holes after the rain, a cyclist fell here yesterday.",
    ],
    "streetlight": [
        "The lamp has been off for a week; the street is completely dark.",
        "Poste piscando a noite toda.",
        "Light stays on during the day.",
    ],
    "waste": [
        "Bins not collected since Monday, bags piling up.",
        "Lixeira pública transbordando na esquina.",
        "Recycling was missed again this week.",
    ],
    "dumping": [
        "Someone left an old sofa and mattresses on the pavement.",
        "Entulho de obra jogado no terreno baldio.",
        "Bags of rubbish and tyres dumped by the canal.",
    ],
    "graffiti": [
        "Graffiti on the school wall.",
        "Pichação no ponto de ônibus.",
        "Tags sprayed on the new mural.",
    ],
    "noise": [
        "Loud music every night after midnight.",
        "Barulho de obra começando às 5h.",
        "A generator runs all night.",
    ],
    "tree": [
        "A big branch hangs over the pavement and cracks in the wind.",
        "Árvore caída bloqueando a calçada.",
        "Tree roots lifted the path, the trunk leans over the road.",
    ],
    "flooding": [
        "The street floods every time it rains; the drain is blocked with leaves.",
        "Bueiro entupido, água até o joelho.",
        "Water standing in front of the school gate.",
    ],
    "bus-stop": [
        "The shelter glass is smashed.",
        "Banco do ponto quebrado.",
        "The timetable is missing and the sign is bent.",
    ],
    "sidewalk": [
        "Loose paving stones, an elderly neighbour tripped.",
        "Calçada afundada perto da padaria.",
        "Missing kerb stone at the crossing.",
    ],
    "traffic-signal": [
        "The pedestrian light stays red.",
        "Semáforo apagado no cruzamento.",
        "Traffic light stuck on amber.",
    ],
    "abandoned-vehicle": [
        "A burnt-out car has been here for a month.",
        "Carro sem placa abandonado há semanas.",
        "Van with flat tyres never moves.",
    ],
}
STAFF_MESSAGES = {
    "acknowledged": [
        "Thank you, we have scheduled an inspection.",
        "Received; the crew will look at it this week.",
    ],
    "in_progress": ["A crew is on site.", "Work ordered; materials are on the way."],
    "resolved": [
        "Fixed this morning. Thank you for reporting.",
        "The crew repaired it; tell us if it is not right.",
        "Cleaned and cleared.",
    ],
}


def _categories(admin_id: int | None) -> dict[str, int]:
    data = json.loads((SEEDS_DIR / "reports_categories.json").read_text(encoding="utf-8"))
    departments = {d.code: d.id for d in list_departments()}
    existing = {c.code: c.id for c in services.list_categories(include_inactive=True)}
    for order, item in enumerate(data["categories"], start=1):
        if item["code"] in existing:
            continue
        category = services.save_category(
            admin_id,
            None,
            code=item["code"],
            name=item["name"],
            description=item.get("description"),
            department_id=departments[item["department"]],
            target_days=item["target_days"],
            is_sensitive=item.get("sensitive", False),
            icon=item.get("icon", "pin"),
            group=item.get("group"),
            keywords=item.get("keywords"),
            sort_order=order,
        )
        for question in item.get("questions", []):
            services.add_question(
                admin_id,
                category.id,
                code=question["code"],
                datatype=question["datatype"],
                prompt=question["prompt"],
                is_required=question.get("required", False),
                options=[(o["key"], o["name"]) for o in question.get("options", [])],
            )
        existing[item["code"]] = category.id
    return existing


def _answers(rng: random.Random, category) -> dict:
    answers = {}
    for question in category.questions:
        if not question.is_required and rng.random() < 0.5:
            continue
        if question.datatype == "singlevaluelist":
            answers[question.code] = rng.choice(question.options)["key"]
        elif question.datatype == "multivaluelist":
            answers[question.code] = [
                o["key"] for o in rng.sample(question.options, rng.randint(1, 2))
            ]
        elif question.datatype == "number":
            answers[question.code] = str(rng.randint(5, 60))
        elif question.datatype == "datetime":
            answers[question.code] = (
                (utcnow() - timedelta(days=rng.randint(1, 20))).date().isoformat()
            )
        elif question.datatype == "string" and question.is_required:
            answers[question.code] = "A-" + str(rng.randint(100, 999))
    return answers


def _random_point(rng: random.Random, shapes) -> tuple[float, float]:
    minx = min(g.bounds[0] for g in shapes)
    miny = min(g.bounds[1] for g in shapes)
    maxx = max(g.bounds[2] for g in shapes)
    maxy = max(g.bounds[3] for g in shapes)
    while True:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if any(g.covers(Point(lon, lat)) for g in shapes):
            return round(lat, 6), round(lon, 6)


def seed_reports() -> list[str]:
    """Categories, a few hundred reports with their histories, a subscription and an API key."""
    admin = get_user_by_email("admin@demo.civic")
    admin_id = admin.id if admin else None
    codes = _categories(admin_id)
    already = db.session.scalar(select(func.count(Report.id)).where(Report.source == "seed"))
    if already or admin is None or not list_districts():
        return [f"Reports: {len(codes)} categories, {already} demo reports (already seeded)."]
    rng = random.Random(311)
    shapes = [shape(d.geometry) for d in list_districts()]
    categories = {code: services.get_category(cid) for code, cid in codes.items()}
    reporters = [
        u
        for u in (
            get_user_by_email(e)
            for e in (
                "resident@demo.civic",
                "ko@demo.civic",
                "ar@demo.civic",
                "unverified@demo.civic",
            )
        )
        if u
    ]
    now = utcnow()
    plan = []
    for lat, lon, code, count, place in RECURRING:
        for _ in range(count):
            jitter_lat = rng.uniform(-0.00025, 0.00025)
            jitter_lon = rng.uniform(-0.00025, 0.00025)
            plan.append((code, round(lat + jitter_lat, 6), round(lon + jitter_lon, 6), place))
    population = list(WEIGHTS)
    weights = [WEIGHTS[c] for c in population]
    while len(plan) < REPORT_COUNT:
        lat, lon = _random_point(rng, shapes)
        plan.append((rng.choices(population, weights)[0], lat, lon, ""))
    created = 0
    for code, lat, lon, place in plan:
        category = categories[code]
        created_at = now - timedelta(days=rng.uniform(0.05, 360), minutes=rng.randint(0, 600))
        reporter = rng.choice(reporters) if reporters and rng.random() < 0.55 else None
        report = services.submit_report(
            services.ReportInput(
                category_id=category.id,
                description=rng.choice(DESCRIPTIONS[code]),
                latitude=lat,
                longitude=lon,
                address=place,
                answers=_answers(rng, category),
                reporter_id=reporter.id if reporter else None,
                reporter_email=None if reporter else f"neighbour{rng.randint(1, 60)}@example.org",
                reporter_name=reporter.display_name if reporter else "",
                is_name_public=bool(reporter) and rng.random() < 0.3,
                locale=(reporter.locale if reporter else None) or "en",
                source="seed",
                skip_duplicate_check=True,
            ),
            now=created_at,
        )
        created += 1
        _seed_history(rng, report, category, admin_id, now)
    _seed_supporters(rng, reporters)
    resident = get_user_by_email("resident@demo.civic")
    if (
        resident is not None
        and resident.home_district_id
        and not services.list_subscriptions(resident.id)
    ):
        services.subscribe(resident.id, resident.home_district_id, None)
    client, key = services.issue_api_key(admin_id, "Demo city app", "apps@porto-verde.example")
    return [
        f"Reports: {len(codes)} categories, {created} demo reports.",
        f"  Open311 at /open311/v2 (demo API key for '{client.name}': {key})",
    ]


def _seed_history(rng: random.Random, report: Report, category, admin_id: int, now) -> None:
    """Move a seeded report through the states it would have reached by now."""
    age_days = (now - report.created_at).total_seconds() / 86400
    target = category.target_days
    if age_days < 0.5 and rng.random() < 0.7:
        return
    roll = rng.random()
    if age_days > target * 2:
        final = (
            "resolved"
            if roll < 0.75
            else "closed"
            if roll < 0.87
            else rng.choice(["acknowledged", "in_progress"])
        )
    elif age_days > target * 0.5:
        final = (
            "resolved"
            if roll < 0.45
            else "in_progress"
            if roll < 0.75
            else "acknowledged"
            if roll < 0.9
            else "new"
        )
    else:
        final = "new" if roll < 0.4 else "acknowledged" if roll < 0.75 else "in_progress"
    if final == "new":
        return
    moment = report.created_at + timedelta(hours=rng.uniform(2, 60))
    steps = ["acknowledged"]
    if final in ("in_progress", "resolved") and rng.random() < 0.7:
        steps.append("in_progress")
    if final in ("resolved", "closed"):
        steps.append(final)
    elif final == "in_progress" and "in_progress" not in steps:
        steps.append("in_progress")
    for state in steps:
        if moment >= now:
            break
        kwargs = {}
        if state == "closed":
            reason = rng.choice(["not_responsible", "cannot_find"])
            kwargs = {"close_reason": reason}
            message = (
                "We looked twice and could not find it."
                if reason == "cannot_find"
                else "This road belongs to the state."
            )
            if reason == "not_responsible":
                kwargs["referral"] = (
                    "State Roads Agency (DER), phone 0800 055 5510, der.example.gov.br"
                )
        else:
            message = rng.choice(STAFF_MESSAGES[state])
        services.change_state(
            admin_id, report.id, state, message, now=moment, notify=False, **kwargs
        )
        moment += timedelta(days=rng.uniform(0.3, 1.6) * target / len(steps))


def _seed_supporters(rng: random.Random, reporters) -> None:
    open_reports = list(
        db.session.scalars(
            select(Report)
            .where(Report.state.in_(("new", "acknowledged", "in_progress")))
            .order_by(Report.id)
        )
    )
    for report in rng.sample(open_reports, min(40, len(open_reports))):
        for user in rng.sample(reporters, rng.randint(1, len(reporters))):
            if user.id != report.reporter_id:
                services.support_report(report.id, user_id=user.id)
