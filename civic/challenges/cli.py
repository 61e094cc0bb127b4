"""`civic challenges …`: publish a dataset file from disk (no request size limit applies)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from civic.challenges import services
from civic.core.errors import DomainError


@click.command("import-dataset")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--meta",
    "meta_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="JSON with the dataset's metadata (the fields of DatasetInput).",
)
@click.option("--actor", required=True, help="E-mail of the staff member publishing it.")
@with_appcontext
def import_dataset_command(path: Path, meta_path: Path, actor: str) -> None:
    """Stream a (large) file from disk into a dataset, with the same checks as the web form."""
    from civic.accounts.services import get_user_by_email

    user = get_user_by_email(actor)
    if user is None:
        raise click.ClickException(f"No account for {actor}.")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["dimensions"] = tuple(meta.get("dimensions", ()))
    try:
        with path.open("rb") as stream:
            dataset = services.create_dataset(
                user.id, services.DatasetInput(**meta), stream, path.name
            )
    except (DomainError, TypeError) as error:
        raise click.ClickException(str(getattr(error, "message", error))) from error
    click.echo(f"Dataset {dataset.id}: {dataset.size} bytes, SHA-256 {dataset.sha256}")
