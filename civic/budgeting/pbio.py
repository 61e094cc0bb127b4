"""Between Civic's budgets and Pabulib files: elections for the tally, exports, imports."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select

from civic.budgeting import services
from civic.budgeting.models import Ballot, Budget, ResultSet
from civic.budgeting.models import _random_id as new_ballot_id
from civic.budgeting.pabulib import PabulibError, ProjectInfo, parse_pb, write_pb
from civic.budgeting.tally import APPROVAL, CUMULATIVE, ORDINAL, Election
from civic.budgeting.tally import Ballot as TallyBallot
from civic.budgeting.tally import Project as TallyProject
from civic.core import audit
from civic.core.errors import DomainError
from civic.extensions import db

KIND_OF_BALLOT_TYPE = {
    "knapsack": APPROVAL,
    "k_approval": APPROVAL,
    "cumulative": CUMULATIVE,
    "ranked": ORDINAL,
}
VOTE_TYPE_OF_KIND = {APPROVAL: "approval", CUMULATIVE: "cumulative", ORDINAL: "ordinal"}
PB_RULE_TO_CIVIC = {
    "greedy": "greedy",
    "greedy-no-skip": "greedy",
    "greedy-threshold": "greedy",
    "equalshares": "mes",
    "equalshares/add1": "mes-add1",
    "equalshares/add1-comparison": "mes-add1",
    "equalshares-comparison": "mes",
}


def election_for_budget(budget: Budget) -> Election:
    """The budget's projects and ballots as plain data for the tally (identical ballots grouped)."""
    kind = KIND_OF_BALLOT_TYPE[budget.ballot_type]
    projects = tuple(TallyProject(p.code, Fraction(str(p.cost))) for p in budget.projects)
    grouped: dict[tuple, int] = {}
    for choices in db.session.scalars(select(Ballot.choices).where(Ballot.budget_id == budget.id)):
        key = tuple((code, value) for code, value in choices)
        grouped[key] = grouped.get(key, 0) + 1
    ballots = []
    for key, weight in sorted(grouped.items()):
        if kind == ORDINAL:
            ordered = sorted(key, key=lambda item: item[1])
            ballots.append(TallyBallot(tuple(code for code, _ in ordered), (), weight))
        elif kind == CUMULATIVE:
            ordered = sorted(key, key=lambda item: -item[1])
            ballots.append(
                TallyBallot(
                    tuple(c for c, _ in ordered), tuple(Fraction(v) for _, v in ordered), weight
                )
            )
        else:
            ballots.append(TallyBallot(tuple(code for code, _ in key), (), weight))
    return Election(Fraction(str(budget.amount)), projects, tuple(ballots), kind)


def pb_text_for_budget(budget: Budget) -> str:
    """An anonymised .pb file of a closed budget: voters numbered in random order."""
    election = election_for_budget(budget)
    # Expand grouped ballots, then shuffle so the file order says nothing about who voted when.
    expanded = [
        TallyBallot(b.projects, b.points, 1) for b in election.ballots for _ in range(b.weight)
    ]
    random.SystemRandom().shuffle(expanded)
    election = Election(election.budget, election.projects, tuple(expanded), election.kind)
    process = budget.process
    default = current_app.config["CIVIC_DEFAULT_LOCALE"]
    meta = {
        "description": services.pick_text(process.title, default).text,
        "country": current_app.config.get("CIVIC_COUNTRY", "Unknown"),
        "unit": current_app.config["CIVIC_CITY_NAME"],
        "instance": process.slug,
        "subunit": services.pick_text(budget.name, default).text,
        "vote_type": VOTE_TYPE_OF_KIND[election.kind],
        "rule": budget.rule,
        "currency": current_app.config["CIVIC_CURRENCY"],
        "language": default,
    }
    if budget.district is not None:
        meta["district"] = budget.district.code
    if budget.ballot_type == "knapsack":
        meta["max_sum_cost"] = str(budget.amount)
    elif budget.ballot_type in ("k_approval", "ranked"):
        meta["max_length"] = str(min(budget.max_choices or 0, len(budget.projects)))
    elif budget.ballot_type == "cumulative":
        meta["max_sum_points"] = str(budget.points_total)
        meta["max_points"] = str(budget.points_per_project)
    infos = [
        ProjectInfo(
            id=p.code,
            name=services.pick_text(p.title, default).text,
            categories=(p.category,) if p.category else (),
            latitude=p.latitude,
            longitude=p.longitude,
        )
        for p in budget.projects
    ]
    return write_pb(election, meta, infos)


def import_pb(actor_id: int | None, text: str, title: str | None = None) -> Budget:
    """Import a Pabulib file as a finished process (for replaying past elections and research)."""
    try:
        pb = parse_pb(text)
    except PabulibError as error:
        raise DomainError(
            _l("This is not a valid Pabulib file: %(error)s", error=str(error)), field="file"
        ) from error
    meta = pb.meta
    default = current_app.config["CIVIC_DEFAULT_LOCALE"]
    label = (
        title
        or " ".join(filter(None, [meta.get("unit"), meta.get("instance"), meta.get("subunit")]))
        or "Pabulib"
    )
    process = services.create_process(
        actor_id, {default: label}, {default: meta.get("description", "")}, phase_override="results"
    )
    process.is_imported = True
    process.source_meta = meta
    kind = pb.election.kind
    if kind == APPROVAL:
        ballot_type = "knapsack" if meta.get("max_sum_cost") else "k_approval"
    else:
        ballot_type = {CUMULATIVE: "cumulative", ORDINAL: "ranked"}[kind]
    rule = PB_RULE_TO_CIVIC.get(meta.get("rule", ""), "greedy")
    if kind == ORDINAL and rule not in ("greedy", "mes"):
        rule = "greedy"
    if kind == CUMULATIVE and rule == "phragmen":
        rule = "greedy"
    n_projects = len(pb.election.projects) or 1
    max_length = int(float(meta.get("max_length") or n_projects))
    budget = services.add_budget(
        actor_id,
        process.id,
        {default: meta.get("subunit") or meta.get("district") or label},
        Decimal(str(float(pb.election.budget)))
        if pb.election.budget.denominator != 1
        else Decimal(pb.election.budget.numerator),
        ballot_type,
        max_choices=max(1, min(max_length, n_projects))
        if ballot_type in ("k_approval", "ranked")
        else None,
        points_total=int(float(meta.get("max_sum_points") or 10**9))
        if kind == CUMULATIVE
        else None,
        points_per_project=int(float(meta.get("max_points") or meta.get("max_sum_points") or 10**9))
        if kind == CUMULATIVE
        else None,
        rule=rule,
    )
    info = {p.id: p for p in pb.projects}
    for project in pb.election.projects:
        details = info.get(project.id)
        services.add_project(
            actor_id,
            budget.id,
            {default: (details.name if details and details.name else project.id)},
            Decimal(project.cost.numerator) / Decimal(project.cost.denominator),
            category=(details.categories[0][:40] if details and details.categories else None),
            latitude=details.latitude if details else None,
            longitude=details.longitude if details else None,
            code=project.id,
            commit=False,
        )
    rows = []
    for ballot in pb.election.ballots:
        if kind == ORDINAL:
            choices = [[code, rank] for rank, code in enumerate(ballot.projects, start=1)]
        elif kind == CUMULATIVE:
            choices = [
                [code, int(points)]
                for code, points in zip(ballot.projects, ballot.points, strict=False)
                if points > 0
            ]
        else:
            choices = [[code, 1] for code in ballot.projects]
        rows.extend({"budget_id": budget.id, "choices": choices} for _ in range(ballot.weight))
    for start in range(0, len(rows), 5000):
        db.session.execute(
            insert(Ballot), [{"id": new_ballot_id(), **row} for row in rows[start : start + 5000]]
        )
    process.vote_closed_at = services.utcnow()
    audit.record(
        actor_id,
        "budgeting.pb.import",
        "budget",
        budget.id,
        None,
        {"projects": len(pb.election.projects), "ballots": len(rows)},
    )
    db.session.commit()
    return budget


def result_summary(result: ResultSet) -> dict:
    """The stored outcome, ready for a template."""
    return result.outcome
