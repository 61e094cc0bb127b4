"""The demo city, loaded from seeds/ through the services (never raw SQL)."""

from __future__ import annotations

import json
from collections.abc import Callable

from civic.accounts import services as accounts
from civic.config import SEEDS_DIR
from civic.core import geo
from civic.core.models import Department
from civic.extensions import db

# Modules append their own seeders; each must be safe to run on an already seeded database.
SEEDERS: list[Callable[[], list[str]]] = []


def _seed_city() -> list[str]:
    city = json.loads((SEEDS_DIR / "city.json").read_text(encoding="utf-8"))
    districts = geo.import_districts(
        json.loads((SEEDS_DIR / "districts.geojson").read_text(encoding="utf-8"))
    )
    by_code = {d.code: d.id for d in districts}
    departments = {d.code: d for d in accounts.list_departments()}
    for item in city["departments"]:
        if item["code"] not in departments:
            departments[item["code"]] = accounts.create_department(
                None, item["code"], item["name"], item.get("email")
            )
    password = city["demo_password"]
    admin = None
    lines = []
    for item in city["users"]:
        user = accounts.ensure_user(
            item["email"],
            password,
            item["name"],
            tuple(item["roles"]),
            item.get("locale"),
            by_code.get(item.get("district", "")),
        )
        if "admin" in item["roles"]:
            admin = user
        if item.get("departments"):
            accounts.set_departments(
                admin.id if admin else user.id,
                user.id,
                [departments[code].id for code in item["departments"]],
            )
        if item.get("verified") and not user.is_verified:
            accounts.set_verification(
                admin.id if admin else None, user.id, by_code[item["district"]]
            )
        lines.append(f"  {item['email']:<26} {', '.join(item['roles'])}")
    return [
        f"{len(districts)} districts, {db.session.query(Department).count()} departments.",
        f"Demo users (password: {password}):",
        *lines,
    ]


def _module_seeders() -> list[Callable[[], list[str]]]:
    from civic.budgeting.seeds import seed_budgeting
    from civic.challenges.seeds import seed_challenges
    from civic.polls.seeds import seed_polls
    from civic.reports.seeds import seed_reports
    from civic.workshops.seeds import seed_workshops

    return [seed_budgeting, seed_polls, seed_reports, seed_workshops, seed_challenges, *SEEDERS]


def seed_demo_city() -> str:
    """Seed the city and every module's demo data; return a summary to print."""
    lines = _seed_city()
    for seeder in _module_seeders():
        lines.extend(seeder())
    return "\n".join(["Demo city seeded.", *lines])
