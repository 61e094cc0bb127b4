"""`civic challenges import-dataset`: large files from disk, with the web form's checks."""

from __future__ import annotations

import json

from civic.challenges.models import Dataset
from civic.extensions import db
from tests.challenges.test_services import CSV


def _meta(tmp_path, **overrides):
    meta = {
        "title": {"en": "Stops"},
        "description": {},
        "file_kind": "csv",
        "licence": "CC-BY-4.0",
        "update_frequency": "never",
        "access": "open",
        "collection": "machine",
        "personalisation": "not_personal",
        "authorship": "official_bodies",
        "format_kind": "open",
        "refinement": "processed",
        "dimensions": ["spatial_2d"],
        "statistical_kind": "quantitative",
        "dynamics": "static",
        **overrides,
    }
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(meta))
    return str(path)


def test_import_dataset_from_disk(app, tmp_path, roads_staff):
    data = tmp_path / "stops.csv"
    data.write_bytes(CSV)
    runner = app.test_cli_runner()
    args = ["challenges", "import-dataset", str(data), "--actor", roads_staff.email]
    result = runner.invoke(args=[*args, "--meta", _meta(tmp_path)])
    assert result.exit_code == 0, result.output
    dataset = db.session.query(Dataset).one()
    assert f"SHA-256 {dataset.sha256}" in result.output and dataset.profile["rows"] == 2
    refused = runner.invoke(args=[*args, "--meta", _meta(tmp_path, personalisation="personal")])
    assert refused.exit_code != 0 and "Personal data can never be open" in refused.output
    nobody = runner.invoke(
        args=[
            "challenges",
            "import-dataset",
            str(data),
            "--actor",
            "x@y.z",
            "--meta",
            _meta(tmp_path),
        ]
    )
    assert nobody.exit_code != 0 and "No account" in nobody.output
    assert db.session.query(Dataset).count() == 1
