"""Budgeting fixtures: processes in a chosen phase, built through the services."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from civic.budgeting import services
from civic.budgeting.models import Budget, Process


@dataclass
class City:
    process: Process
    knapsack: Budget
    cumulative: Budget
    staff_id: int


@pytest.fixture
def staff(make_user):
    return make_user(roles=("staff",), email="staff@city.example")


@pytest.fixture
def city(app, districts, staff):
    """A process with a city-wide knapsack budget (1000, projects P1..P4) and a cumulative
    budget for Porto (10 points, at most 5 per project, projects P1..P3), in the ideas phase."""
    process = services.create_process(
        staff.id, {"en": "Decide 2027"}, {"en": "Vote!"}, phase_override="ideas"
    )
    knapsack = services.add_budget(
        staff.id, process.id, {"en": "City"}, 1000, "knapsack", rule="mes-add1-greedy"
    )
    for cost in (400, 300, 500, 200):
        services.add_project(staff.id, knapsack.id, {"en": f"City project {cost}"}, cost)
    cumulative = services.add_budget(
        staff.id,
        process.id,
        {"en": "Porto"},
        600,
        "cumulative",
        district_id=districts["porto"].id,
        points_total=10,
        points_per_project=5,
        rule="greedy",
    )
    for cost in (300, 200, 250):
        services.add_project(staff.id, cumulative.id, {"en": f"Porto project {cost}"}, cost)
    return City(process, knapsack, cumulative, staff.id)


def open_vote(city: City) -> None:
    services.set_phase(city.staff_id, city.process.id, "voting")
