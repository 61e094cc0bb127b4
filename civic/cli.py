"""The `civic` command: serve, worker, seed, create-admin, db ..., i18n ..."""

from __future__ import annotations

import subprocess
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from civic.config import LANGUAGES, ROOT, TRANSLATIONS_DIR

POT_FILE = TRANSLATIONS_DIR / "messages.pot"


def _create_app():
    from civic import create_app

    return create_app()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int) -> None:
    """Serve Civic (a development server; use gunicorn in production)."""
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()
    click.echo(f"Civic is running on http://{host}:{port}/ (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_debugger=app.config["DEBUG"])


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run a background-job worker (needs REDIS_URL)."""
    from civic.jobs import run_worker

    run_worker(current_app._get_current_object(), burst=burst)


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Load the demo city from seeds/ through the services."""
    from civic.seeding import seed_demo_city

    summary = seed_demo_city()
    click.echo(summary)


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", default="Administrator", show_default=True)
@click.password_option()
@with_appcontext
def create_admin_command(email: str, name: str, password: str) -> None:
    """Create an administrator account (or grant the role to an existing one)."""
    from civic.accounts.services import ensure_user
    from civic.core.errors import DomainError

    try:
        user = ensure_user(email, password, name, ("admin", "staff"))
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    click.echo(f"Administrator ready: {user.email}")


@click.group("i18n")
def i18n_group() -> None:
    """Extract, update and compile the translation catalogs."""


def _pybabel(*args: str) -> None:
    # Our own interpreter and fixed babel arguments: nothing comes from outside.
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "babel.messages.frontend", *args], check=True, cwd=ROOT
    )


@i18n_group.command("extract")
def i18n_extract() -> None:
    """Extract messages from civic/ and templates/ into translations/messages.pot."""
    _pybabel(
        "extract",
        "-F",
        "pyproject.toml",
        "-k",
        "_l",
        "-k",
        "lazy_gettext",
        "-k",
        "lazy_ngettext:1,2",
        "--add-comments",
        "i18n:",
        "--sort-by-file",
        "--ignore-dirs",
        ".* __pycache__ node_modules",
        "--project",
        "Civic",
        "--no-wrap",
        "-o",
        str(POT_FILE),
        ".",
    )


@i18n_group.command("update")
def i18n_update() -> None:
    """Merge messages.pot into every locale's messages.po (no fuzzy guesses)."""
    for code in LANGUAGES:
        po = TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po"
        action = "update" if po.exists() else "init"
        args = [action, "-i", str(POT_FILE), "-d", str(TRANSLATIONS_DIR), "-l", code, "--no-wrap"]
        if action == "update":
            args += ["--no-fuzzy-matching", "--ignore-obsolete"]
        _pybabel(*args)
    _fill_source_catalog()


def _fill_source_catalog() -> None:
    """English is the source language: its catalog repeats each msgid."""
    from babel.messages.pofile import read_po, write_po

    po = TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            message.string = tuple(message.id)
        else:
            message.string = message.id
        message.flags.discard("fuzzy")
    with po.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False)


@i18n_group.command("compile")
def i18n_compile() -> None:
    """Build the .mo files the app reads."""
    _pybabel("compile", "-d", str(TRANSLATIONS_DIR), "--statistics")


@click.group("pb")
def pb_group() -> None:
    """Pabulib files: recount a published result, import a past election."""


@pb_group.command("tally")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--rule",
    default="mes-add1-greedy",
    show_default=True,
    help="greedy, greedy-cost, mes, mes-greedy, mes-add1, mes-add1-greedy, phragmen",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def pb_tally(path: str, rule: str, as_json: bool) -> None:
    """Count a .pb file with a Civic rule (no database needed)."""
    import json

    from civic.budgeting.pabulib import PabulibError, recount

    try:
        result = recount(path, rule)
    except (PabulibError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"{result['vote_type']} ballots: {result['voters']}, budget {result['budget']}")
        click.echo(f"rule {rule}: {len(result['selected'])} projects for {result['total_cost']}")
        click.echo(" ".join(result["order"]))


@pb_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--title", default=None)
@with_appcontext
def pb_import(path: str, title: str | None) -> None:
    """Import a .pb file as a finished process and compute its results."""
    from pathlib import Path

    from civic.budgeting.jobs import compute_results
    from civic.budgeting.pbio import import_pb
    from civic.core.errors import DomainError
    from civic.jobs import enqueue

    try:
        budget = import_pb(None, Path(path).read_text(encoding="utf-8-sig"), title)
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    enqueue(compute_results, budget.id)
    click.echo(f"Imported as /budgets/{budget.process.slug}")


@click.group("budgeting")
def budgeting_group() -> None:
    """Participatory budgeting upkeep."""


@budgeting_group.command("close-due")
@with_appcontext
def budgeting_close_due() -> None:
    """Close votes whose end date has passed (run from cron every few minutes)."""
    from civic.budgeting.services import close_due_votes

    closed = close_due_votes()
    click.echo(f"{len(closed)} vote(s) closed")


def register_commands(app) -> None:
    """Attach Civic's commands to the app's CLI."""
    for command in (
        serve_command,
        worker_command,
        seed_command,
        create_admin_command,
        i18n_group,
        pb_group,
        budgeting_group,
    ):
        app.cli.add_command(command)


def main() -> None:
    """Entry point of the `civic` console script."""
    FlaskGroup(create_app=_create_app, add_version_option=False, load_dotenv=False)(
        prog_name="civic"
    )
