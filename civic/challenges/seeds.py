"""Challenge demo data, loaded through the services: a problem bank, a finished challenge with
results (bus-fleet data, five teams, three judges) and an open one in its submission phase with
an open and a registered dataset (synthetic bus GPS pings and a stop list)."""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from datetime import datetime, timedelta

from sqlalchemy import select

from civic.accounts import services as accounts
from civic.accounts.models import User
from civic.challenges import services
from civic.challenges.models import Challenge
from civic.config import SEEDS_DIR
from civic.core.time import utcnow
from civic.extensions import db

DATA = SEEDS_DIR / "challenges"
FINISHED = "bus-fleet-maintenance"
OPEN = "buses-on-time"


def dates_for_phase(phase: str, now: datetime | None = None) -> dict[str, datetime]:
    """Dates that put a challenge in `phase` now (for seeds and tests: time passing by)."""
    now = now or utcnow()
    day = timedelta(days=1)
    plans = {
        "announced": (now + day, now + 2 * day, now + 10 * day, now + 20 * day),
        "registration": (now - day, now + day, now + 10 * day, now + 20 * day),
        "submission": (now - 10 * day, now - day, now + 10 * day, now + 20 * day),
        # The deadline is "now": whatever was submitted before this call is on time.
        "judging": (now - 20 * day, now - 10 * day, now, now + 10 * day),
    }
    keys = (
        "registration_opens_at",
        "submission_opens_at",
        "submission_closes_at",
        "results_due_at",
    )
    return dict(zip(keys, plans[phase], strict=True))


def move_challenge_to(challenge: Challenge, phase: str) -> None:
    """Rewrite a challenge's dates so that it is in `phase` (seeds and tests only)."""
    for key, value in dates_for_phase(phase).items():
        setattr(challenge, key, value)
    db.session.commit()


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


RUBRIC = [
    (
        {"en": "Impact on the problem", "pt_BR": "Impacto no problema"},
        35,
        [
            "Does not address the problem.",
            "Touches the problem but would not change daily work.",
            "Helps with part of the problem for some staff.",
            "Solves the main part of the problem for the staff who face it.",
            "Solves the problem and shows how much it would save.",
            "Solves the problem, measured on the city's data, with a clear saving.",
        ],
    ),
    (
        {"en": "Technical quality and openness", "pt_BR": "Qualidade técnica e abertura"},
        25,
        [
            "No working code.",
            "Code runs only on the team's machine.",
            "Working prototype, little documentation.",
            "Working prototype, documented, open licence.",
            "Tested, documented, open data formats.",
            "Tested, documented, reproducible install, open standards throughout.",
        ],
    ),
    (
        {"en": "Cost to build and run", "pt_BR": "Custo de construção e operação"},
        25,
        [
            "No cost estimate.",
            "Far above what the city could pay.",
            "Expensive for the benefit.",
            "Reasonable for the benefit.",
            "Cheap to build and to run.",
            "Cheaper than what the problem costs today within a year.",
        ],
    ),
    (
        {"en": "Maintainable by city staff", "pt_BR": "Mantido pela equipe da prefeitura"},
        15,
        [
            "Only the team could maintain it.",
            "Needs rare skills and paid services.",
            "Needs outside help for routine changes.",
            "City IT could run it with some training.",
            "City IT could run and change it.",
            "Civil servants already tried it and could run it alone.",
        ],
    ),
]

TERMS = {
    "en": (
        "1. Teams keep the rights to their work and publish it under an OSI-approved licence.\n"
        "2. Data marked for registered teams may be used only to build and test prototypes for "
        "this challenge, not shared onwards, and deleted six months after the results.\n"
        "3. Re-identifying any person from the data is forbidden.\n"
        "4. The judges' decision, on the published rubric and method, is final."
    ),
    "pt_BR": (
        "1. As equipes mantêm os direitos sobre o trabalho e o publicam sob licença aprovada pela OSI.\n"
        "2. Os dados para equipes inscritas só podem ser usados para construir e testar protótipos "
        "deste desafio, não podem ser repassados e devem ser apagados seis meses após o resultado.\n"
        "3. É proibido reidentificar qualquer pessoa a partir dos dados.\n"
        "4. A decisão dos jurados, pela rubrica e método publicados, é final."
    ),
}


def _rubric() -> list[services.CriterionInput]:
    return [
        services.CriterionInput(
            name=name,
            weight=weight,
            anchors={str(i): {"en": text} for i, text in enumerate(anchors)},
        )
        for name, weight, anchors in RUBRIC
    ]


def _source_zip(project: str, licence_text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{project}/LICENSE", licence_text)
        archive.writestr(f"{project}/README.md", f"# {project}\n\nPrototype for Porto Verde.\n")
        archive.writestr(f"{project}/app.py", "print('hello, Porto Verde')\n")
    return buffer.getvalue()


MIT = (
    "MIT License\n\nCopyright (c) 2026 The team\n\nPermission is hereby granted, free of charge, to "
    "any person obtaining a copy of this software... The above copyright notice and this "
    "permission notice shall be included in all copies or substantial portions of the Software.\n"
)

TEAMS = [
    ("team@demo.civic", "Tomás Team", "Rota Viva", "startup", "12.345.678/0001-90"),
    ("team2@demo.civic", "Beatriz Barros", "Oficina Aberta", "micro", "23.456.789/0001-01"),
    ("team3@demo.civic", "Caio Costa", "Grupo de Dados UFPV", "student", None),
    ("team4@demo.civic", "Daniela Dias", "Frota Inteligente", "small", "34.567.890/0001-12"),
    ("team5@demo.civic", "Eduardo Lima", "Manutenção Preditiva", "startup", "45.678.901/0001-23"),
]
JUDGES = [
    ("judge@demo.civic", "Júlia Judge"),
    ("judge2@demo.civic", "Marcos Mendes"),
    ("judge3@demo.civic", "Helena Haddad"),
]
# Scores per team (rows) and judge (columns), one value per criterion in rubric order.
SCORES = {
    "Rota Viva": [(5, 4, 4, 4), (4, 4, 4, 3), (3, 3, 3, 3)],
    "Oficina Aberta": [(4, 5, 3, 5), (4, 4, 4, 4), (3, 4, 2, 4)],
    "Grupo de Dados UFPV": [(3, 3, 5, 4), (1, 2, 4, 2), (2, 3, 4, 3)],
    "Frota Inteligente": [(4, 3, 2, 2), (5, 4, 2, 3), (1, 2, 1, 1)],
    "Manutenção Preditiva": [(2, 2, 3, 2), (3, 3, 3, 3), (2, 2, 2, 2)],
}
FEEDBACK = [
    "The depot mechanics could use this tomorrow; please show how the alerts fit their shift plan.",
    "Good use of the fleet data. The cost estimate needs the yearly hosting line.",
    "Clear and honest about its limits. Test it with the Centro depot before scaling.",
]


def seed_challenges() -> list[str]:
    """Seed the problem bank, a finished challenge and an open one (safe to run twice)."""
    if db.session.scalar(select(Challenge.id).where(Challenge.slug == FINISHED)):
        return ["Challenges: already seeded."]
    password = json.loads((SEEDS_DIR / "city.json").read_text(encoding="utf-8"))["demo_password"]
    admin = _user("admin@demo.civic")
    staff = _user("staff@demo.civic")
    lab = _user("facilitator@demo.civic")
    if admin is None or staff is None:
        return ["Challenges: the demo city's users are missing; skipped."]
    judges = [accounts.ensure_user(email, password, name, ("judge",)) for email, name in JUDGES]
    owners = [
        accounts.ensure_user(email, password, name, ("resident",)) for email, name, *_ in TEAMS
    ]

    # -- Problem bank ----------------------------------------------------------------------
    problems = [
        services.create_problem(
            staff.id,
            services.ProblemInput(
                "Buses break down without warning",
                "Buses break down on the road; we learn about it from drivers' calls and "
                "passengers' complaints, then send a mechanic and a spare bus.",
                "Passengers left waiting, drivers, the depot mechanics, the dispatch desk.",
                "About 40 breakdowns a month; each takes a bus off a line for a day.",
                "1800000",
                "Fleet register with odometer and breakdown history; inspection sheets.",
            ),
        ),
        services.create_problem(
            staff.id,
            services.ProblemInput(
                "Buses bunch up and leave long gaps",
                "On line L1 two or three buses often arrive together, then nothing for 30 minutes.",
                "Commuters in Centro and Porto, especially shift workers.",
                "Complaints every week; dispatchers re-time buses by radio.",
                None,
                "GPS pings every two minutes from every bus; the stop list.",
            ),
        ),
        services.create_problem(
            (lab or admin).id,
            services.ProblemInput(
                "Nobody knows which stops lack a shelter",
                "The list of shelters is on paper at the depot and is years out of date.",
                "Passengers waiting in the sun and rain, older people most.",
                "Staff visit stops one by one to answer each request.",
                "120000",
                "A stop list with a shelter column, partly checked.",
            ),
        ),
        services.create_problem(
            admin.id,
            services.ProblemInput(
                "Waste collection trucks drive half empty",
                "Routes were planned ten years ago; the city grew.",
                "Residents, crews, the sanitation budget.",
                "Fuel and overtime.",
                "950000",
                "Truck GPS, weighbridge tickets.",
            ),
        ),
    ]
    for user in (admin, lab):
        if user:
            services.support_problem(user.id, problems[0].id)
            services.support_problem(user.id, problems[1].id)
    services.comment_problem(
        admin.id, problems[1].id, "The GPS feed could be opened to teams as synthetic data."
    )

    prizes = [
        services.PrizeInput("60000", {"en": "and a pilot contract of up to R$ 200,000"}),
        services.PrizeInput("25000"),
        services.PrizeInput("10000"),
    ]

    # -- A finished challenge ----------------------------------------------------------------
    finished = services.create_challenge(
        admin.id,
        services.ChallengeInput(
            title={
                "en": "Bus fleet maintenance: fix buses before they break",
                "pt_BR": "Manutenção da frota: consertar antes de quebrar",
            },
            problem_statement={
                "en": "Porto Verde's 30 buses break down about 40 times a month. Using the fleet "
                "register, predict which buses need the workshop before they fail.",
                "pt_BR": "Os 30 ônibus de Porto Verde quebram cerca de 40 vezes por mês. Com o "
                "cadastro da frota, preveja quais precisam de oficina antes de falhar.",
            },
            expected_outcome={
                "en": "An open-source prototype the depot mechanics can run on their own computer.",
                "pt_BR": "Um protótipo aberto que os mecânicos da garagem possam usar no próprio computador.",
            },
            eligibility={"en": "Start-ups, micro and small companies, and university students."},
            requirements={"en": "A short demo video is welcome."},
            **dates_for_phase("announced"),
            eligible_types=("startup", "micro", "small", "student"),
            possible_contract=True,
            contract_note={"en": "The winner may be offered a 12-month pilot."},
            method="z",
            problem_ids=(problems[0].id,),
        ),
        TERMS,
        slug=FINISHED,
    )
    services.set_rubric(admin.id, finished.id, _rubric())
    services.set_prizes(admin.id, finished.id, prizes)
    services.publish_challenge(admin.id, finished.id)
    services.create_dataset(
        staff.id,
        services.DatasetInput(
            title={"en": "Bus fleet register", "pt_BR": "Cadastro da frota de ônibus"},
            description={
                "en": "One row per bus: model, year, fuel, odometer, breakdowns and days out of "
                "service in the last 12 months, last inspection, depot."
            },
            file_kind="csv",
            licence="CC-BY-4.0",
            update_frequency="monthly",
            access="open",
            collection="manual",
            personalisation="not_personal",
            authorship="official_bodies",
            format_kind="open",
            refinement="processed",
            dimensions=("temporal",),
            statistical_kind="quantitative",
            dynamics="dynamic",
            challenge_id=finished.id,
        ),
        io.BytesIO(_read("bus-fleet.csv")),
        "bus-fleet.csv",
    )
    for judge in judges:
        services.add_judge(admin.id, finished.id, judge.id)
    move_challenge_to(finished, "registration")
    teams = []
    for owner, (_email, _name, team_name, kind, number) in zip(owners, TEAMS, strict=True):
        team = services.create_team(owner.id, team_name, kind, number, "BR")
        services.register_team(owner.id, team.id, finished.id, True, True)
        teams.append(team)
    move_challenge_to(finished, "submission")
    for owner, team in zip(owners, teams, strict=True):
        slug = re.sub(
            r"[^a-z0-9]+",
            "-",
            unicodedata.normalize("NFKD", team.name).encode("ascii", "ignore").decode().lower(),
        ).strip("-")
        services.submit(
            owner.id,
            finished.id,
            team.id,
            services.SubmissionInput(
                title=f"{team.name}: workshop alerts",
                summary="Scores each bus's breakdown risk from the fleet register and sends the "
                "depot a weekly list of buses to inspect first.",
                repository_url=f"https://git.example.org/{slug}/fleet-alerts",
                licence="MIT",
                demo_url=f"https://{slug}.demo.example.org",
                build_cost="18000",
                yearly_cost="3600",
                member_ids=(owner.id,),
                archive=io.BytesIO(_source_zip(slug, MIT)),
                archive_name=f"{slug}.zip",
            ),
        )
    move_challenge_to(finished, "judging")
    services.assign_judges(admin.id, finished.id, seed=2026)
    criteria = finished.criteria
    for team in teams:
        submission = services.team_submission(finished.id, team.id)
        for judge, values, feedback in zip(judges, SCORES[team.name], FEEDBACK, strict=True):
            services.save_scores(
                judge.id,
                submission.id,
                {c.id: v for c, v in zip(criteria, values, strict=True)},
                {criteria[0].id: "Checked against the March breakdowns."},
                feedback,
                lock=True,
            )
    outcome = services.compute_outcome(finished.id)
    for scored in outcome.ranking:
        if scored.needs_consensus:
            services.record_consensus(
                admin.id,
                scored.submission_id,
                "The panel met on 3 November: one judge had tested the prototype with the "
                "Centro depot and found it failed on electric buses; the scores stand.",
            )
    services.publish_results(
        admin.id,
        finished.id,
        "The normalised method was announced before registration; it corrects for one judge "
        "scoring every team lower."
        if outcome.method_sensitive
        else "",
    )
    first = services.team_submission(finished.id, teams[0].id)
    services.post_message(
        admin.id, first.id, "Congratulations. Could you present the alerts to the depot on Monday?"
    )
    services.post_message(owners[0].id, first.id, "Yes, we will bring a laptop. Thank you!")

    # -- An open challenge in its submission phase ----------------------------------------------
    current = services.create_challenge(
        admin.id,
        services.ChallengeInput(
            title={"en": "Buses on time: end bus bunching", "pt_BR": "Ônibus no horário"},
            problem_statement={
                "en": "On line L1 buses bunch up and leave 30-minute gaps. With two-minute GPS "
                "pings and the stop list, help dispatchers keep the buses evenly spaced.",
                "pt_BR": "Na linha L1 os ônibus andam juntos e deixam intervalos de 30 minutos.",
            },
            expected_outcome={
                "en": "A dispatcher's screen that says which bus to hold, and for how long.",
            },
            eligibility={"en": "Start-ups and micro companies registered in Brazil."},
            requirements={},
            **dates_for_phase("announced"),
            eligible_types=("startup", "micro", "student"),
            eligible_countries=("BR",),
            method="z",
            problem_ids=(problems[1].id, problems[2].id),
        ),
        TERMS,
        slug=OPEN,
    )
    services.set_rubric(admin.id, current.id, _rubric())
    services.set_prizes(admin.id, current.id, prizes)
    services.publish_challenge(admin.id, current.id)
    common = {
        "update_frequency": "never",
        "collection": "machine",
        "authorship": "official_bodies",
        "format_kind": "open",
        "statistical_kind": "quantitative",
        "challenge_id": current.id,
    }
    services.create_dataset(
        staff.id,
        services.DatasetInput(
            title={"en": "Bus stops of lines L1 and L2", "pt_BR": "Paradas das linhas L1 e L2"},
            description={"en": "Stop id, name, position, line, order on the line, shelter."},
            file_kind="csv",
            licence="CC-BY-4.0",
            access="open",
            personalisation="not_personal",
            refinement="processed",
            dimensions=("spatial_2d",),
            dynamics="static",
            **common,
        ),
        io.BytesIO(_read("bus-stops.csv")),
        "bus-stops.csv",
    )
    services.create_dataset(
        staff.id,
        services.DatasetInput(
            title={
                "en": "Bus GPS pings (synthetic)",
                "pt_BR": "Posições GPS dos ônibus (sintético)",
            },
            description={
                "en": "Synthetic pings every two minutes for six buses on a weekday morning, "
                "generated from the real timetable; lost pings kept as gaps."
            },
            file_kind="csv",
            licence="CC-BY-4.0",
            access="registered",
            personalisation="not_personal",
            refinement="synthetic",
            dimensions=("temporal", "spatial_2d"),
            dynamics="real_time",
            **common,
        ),
        io.BytesIO(_read("gps-pings.csv")),
        "gps-pings.csv",
    )
    services.add_judge(admin.id, current.id, judges[0].id)
    move_challenge_to(current, "submission")
    services.register_team(owners[1].id, teams[1].id, current.id, True, True)
    services.ask_question(owners[1].id, current.id, "Are the GPS timestamps in UTC?")
    question = services.list_questions(current.id, include_unanswered=True)[0]
    services.answer_question(admin.id, question.id, "Yes, every timestamp is UTC (ending in Z).")
    return [
        "Challenges: a problem bank of 4; 'Bus fleet maintenance' finished with results "
        "(5 teams, 3 judges);",
        "  'Buses on time' open for submissions with an open and a registered dataset. "
        "Judges: judge@, judge2@, judge3@demo.civic; teams: team@ … team5@demo.civic.",
    ]
