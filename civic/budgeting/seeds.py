"""Budgeting demo data, loaded through the services: a vote in progress and a finished cycle."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from civic.accounts.models import User
from civic.budgeting import pbio, services
from civic.budgeting.jobs import compute_results
from civic.budgeting.models import Process
from civic.config import SEEDS_DIR
from civic.core.geo import list_districts
from civic.core.time import utcnow
from civic.extensions import db


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def seed_budgeting() -> list[str]:
    """Seed a process in voting (knapsack city-wide, cumulative for Vila Nova) and a finished one."""
    if db.session.scalar(select(Process.id).where(Process.slug == "porto-verde-decides-2027")):
        return ["Budgeting: already seeded."]
    data = json.loads((SEEDS_DIR / "budgeting.json").read_text(encoding="utf-8"))
    districts = {d.code: d for d in list_districts()}
    admin = _user("admin@demo.civic")
    actor = admin.id if admin else None
    now = utcnow()

    # A finished cycle, replayed from its Pabulib file, with results and implementation.
    finished_budget = pbio.import_pb(
        actor,
        (SEEDS_DIR / "budgeting-2026.pb").read_text(encoding="utf-8"),
        "Porto Verde decides 2026",
    )
    finished_budget.rule = "mes-add1-greedy"
    process_2026 = finished_budget.process
    process_2026.phase_override = "implementation"
    for project in finished_budget.projects:
        lat, lon = project.latitude, project.longitude
        if lat is not None:
            from civic.core.geo import district_id_for_point

            project.district_id = district_id_for_point(lat, lon)
    db.session.commit()
    compute_results(finished_budget.id)
    if actor:
        services.publish_results(actor, finished_budget.id)
        funded = [p for p in finished_budget.projects if p.is_funded]
        progress = [
            ("done", 100, "Opened to the public on 12 March."),
            ("in_progress", 60, "Works started; the structure is up."),
            ("in_progress", 25, "Contract signed with the builder."),
            ("planned", 0, "Design approved by residents in a public meeting."),
        ]
        for project, (status, pct, message) in zip(funded, progress, strict=False):
            services.update_project(actor, project.id, status, pct, message)

    # A process in its voting phase.
    process = services.create_process(
        actor,
        {
            "en": "Porto Verde decides 2027",
            "pt_BR": "Porto Verde decide 2027",
            "es": "Porto Verde decide 2027",
        },
        {
            "en": "Propose and choose how R$ 2.4 million of next year's budget is spent.",
            "pt_BR": "Proponha e escolha como gastar R$ 2,4 milhões do orçamento do próximo ano.",
        },
        slug="porto-verde-decides-2027",
        ideas_start=now - timedelta(days=60),
        review_start=now - timedelta(days=30),
        voting_start=now - timedelta(days=2),
        voting_end=now + timedelta(days=19),
        implementation_start=now + timedelta(days=90),
    )
    process.phase_override = "ideas"  # projects and ideas are added first, as in real life
    db.session.commit()
    city = services.add_budget(
        actor,
        process.id,
        {"en": "City-wide", "pt_BR": "Toda a cidade"},
        2_000_000,
        "knapsack",
        rule="mes-add1-greedy",
    )
    vila = districts.get("vila-nova")
    local = services.add_budget(
        actor,
        process.id,
        {"en": "Vila Nova", "pt_BR": "Vila Nova"},
        400_000,
        "cumulative",
        district_id=vila.id if vila else None,
        points_total=10,
        points_per_project=5,
        rule="mes-add1-greedy",
    )
    for item in data["city"]:
        services.add_project(
            actor,
            city.id,
            {"en": item["en"], "pt_BR": item["pt_BR"]},
            item["cost"],
            category=item["category"],
            latitude=item["lat"],
            longitude=item["lon"],
            district_id=districts[item["district"]].id,
        )
    for item in data["district"]:
        services.add_project(
            actor,
            local.id,
            {"en": item["en"], "pt_BR": item["pt_BR"]},
            item["cost"],
            category=item["category"],
            latitude=item["lat"],
            longitude=item["lon"],
            district_id=local.district_id,
        )
    resident = _user("resident@demo.civic")
    for item in data["ideas"]:
        idea = services.submit_idea(
            resident.id if resident else actor,
            process.id,
            services.IdeaInput(
                item["title"],
                item["description"],
                item["category"],
                item["cost"],
                district_id=districts[item["district"]].id,
            ),
        )
        if actor and item["state"] == "feasible":
            services.review_idea(
                actor,
                idea.id,
                True,
                "The transport department can build it this year.",
                item["cost"],
            )
        elif actor and item["state"] == "unfeasible":
            services.review_idea(
                actor,
                idea.id,
                False,
                "An airport is not a municipal competence and far exceeds the budget.",
            )
    process.phase_override = None  # back to the dates: voting is open
    db.session.commit()
    voters = [u for u in (_user("ko@demo.civic"), _user("ar@demo.civic")) if u and u.is_verified]
    codes = [p.code for p in city.projects]
    for n, voter in enumerate(voters):
        services.cast_ballot(voter.id, city.id, {code: 1 for code in codes[n * 3 : n * 3 + 4]})
    return [
        "Budgeting: 'Porto Verde decides 2027' is voting (knapsack city-wide, cumulative in Vila Nova);",
        "  'Porto Verde decides 2026' is finished: results by MES vs greedy and projects under way.",
    ]
