"""Challenge jobs: dataset profiles, safe archive unpacking with licence checks, result e-mails."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from civic.challenges import archives, jobs, services
from civic.challenges.models import SubmissionVersion
from civic.challenges.seeds import move_challenge_to
from civic.extensions import db
from tests.challenges.conftest import (
    APACHE_TEXT,
    MIT_TEXT,
    judged_challenge,
    registered,
    score_all,
    submission_input,
    zip_bytes,
)
from tests.challenges.test_services import dataset_input


def upload(staff, data: bytes, kind: str, name: str = "file", **kw):
    return services.create_dataset(
        staff.id, dataset_input(file_kind=kind, **kw), io.BytesIO(data), name
    )


def test_csv_profile_has_rows_types_null_share_preview_and_bounds(app, roads_staff):
    rows = ["stop_id;name;lat;lon;opened;accessible;note"]
    for n in range(30):
        note = "" if n % 3 else "NA"
        rows.append(f"{n};Stop {n};-22.9{n % 10};-46.6{n % 7};2020-01-{n % 28 + 1:02d};yes;{note}")
    data = ("\n".join(rows) + "\n").encode()
    dataset = upload(roads_staff, data, "csv", "stops.csv")
    profile = dataset.profile
    assert profile["sha256"] == hashlib.sha256(data).hexdigest() and profile["size"] == len(data)
    assert profile["rows"] == 30 and profile["delimiter"] == ";"
    types = {c["name"]: c["type"] for c in profile["columns"]}
    assert types == {
        "stop_id": "integer",
        "name": "text",
        "lat": "decimal",
        "lon": "decimal",
        "opened": "date",
        "accessible": "boolean",
        "note": "empty",
    }
    nulls = {c["name"]: c["null_share"] for c in profile["columns"]}
    assert nulls["note"] == 1.0 and nulls["name"] == 0.0
    assert len(profile["preview"]["rows"]) == 20 and profile["preview"]["header"][0] == "stop_id"
    assert profile["bounds"] == [-46.66, -22.99, -46.6, -22.9]


def test_csv_null_share_counts_missing_cells(app, roads_staff):
    data = b"a,b\n1,\n2,x\n3,\n4,y\n"
    profile = upload(roads_staff, data, "csv").profile
    assert {c["name"]: c["null_share"] for c in profile["columns"]} == {"a": 0.0, "b": 0.5}


def test_geojson_profile_has_bounds_features_and_properties(app, roads_staff):
    data = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [-46.70, -23.00]},
                    "properties": {"name": "A", "riders": 120},
                },
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[-46.65, -22.98], [-46.55, -22.92]],
                    },
                    "properties": {"name": "B", "riders": None},
                },
            ],
        }
    ).encode()
    profile = upload(roads_staff, data, "geojson", dimensions=("spatial_2d",)).profile
    assert profile["features"] == 2
    assert profile["bounds"] == [-46.7, -23.0, -46.55, -22.92]
    assert profile["geometry_types"] == {"Point": 1, "LineString": 1}
    assert {c["name"]: (c["type"], c["null_share"]) for c in profile["columns"]} == {
        "name": ("text", 0.0),
        "riders": ("integer", 0.5),
    }


def test_json_records_profile(app, roads_staff):
    data = json.dumps([{"id": i, "ok": i % 2 == 0, "v": i / 2} for i in range(25)]).encode()
    profile = upload(roads_staff, data, "json").profile
    assert profile["rows"] == 25 and len(profile["preview"]["rows"]) == 20
    assert {c["name"]: c["type"] for c in profile["columns"]} == {
        "id": "integer",
        "ok": "boolean",
        "v": "decimal",
    }


def test_zip_listing_and_gtfs_tables(app, roads_staff):
    listing = upload(roads_staff, zip_bytes({"a/readme.txt": "hi", "b.csv": "x,y\n1,2\n"}), "zip")
    assert listing.profile["entry_count"] == 2
    assert {e["name"] for e in listing.profile["entries"]} == {"a/readme.txt", "b.csv"}
    gtfs = zip_bytes(
        {
            "agency.txt": "agency_id,agency_name\n1,PV Bus\n",
            "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS1,A,-22.99,-46.69\nS2,B,-22.93,-46.57\n",
            "routes.txt": "route_id,route_short_name\nL1,1\n",
            "trips.txt": "route_id,service_id,trip_id\nL1,WK,T1\n",
            "stop_times.txt": "trip_id,stop_id,stop_sequence\nT1,S1,1\nT1,S2,2\n",
        }
    )
    profile = upload(roads_staff, gtfs, "gtfs").profile
    assert profile["tables"]["stop_times.txt"]["rows"] == 2
    assert profile["bounds"] == [-46.69, -22.99, -46.57, -22.93]


def test_profiling_is_safe_to_repeat_and_reports_a_missing_file(app, roads_staff):
    from civic.challenges import files

    dataset = upload(roads_staff, b"a,b\n1,2\n", "csv")
    first = dict(dataset.profile)
    assert jobs.profile_dataset(dataset.id) == "ready"
    assert dataset.profile == first
    files.delete(dataset.storage_key)
    assert jobs.profile_dataset(dataset.id) == "failed"
    assert dataset.profile_error == "missing"
    assert jobs.profile_dataset(999_999) == "missing"


@pytest.fixture
def entrant(app, challenge, make_team):
    team, owner, _ = registered(challenge, make_team)
    move_challenge_to(challenge, "submission")
    return challenge, team, owner


def submit_archive(entrant, data: bytes, licence="MIT", name="src.zip"):
    challenge, team, owner = entrant
    version = services.submit(
        owner.id,
        challenge.id,
        team.id,
        submission_input([owner.id], licence=licence, archive=io.BytesIO(data), archive_name=name),
    )
    db.session.refresh(version)
    return version


@pytest.mark.parametrize(
    ("entries", "licence", "state", "found"),
    [
        ({"LICENSE": MIT_TEXT, "a.py": "1"}, "MIT", "match", "MIT"),
        ({"proj/LICENSE.md": MIT_TEXT}, "Apache-2.0", "mismatch", "MIT"),
        ({"COPYING": APACHE_TEXT}, "Apache-2.0", "match", "Apache-2.0"),
        (
            {"LICENSE": "SPDX-License-Identifier: GPL-3.0-only\n"},
            "GPL-3.0-or-later",
            "match",
            "GPL-3.0-only",
        ),
        ({"a.py": "1"}, "MIT", "missing", None),
        ({"LICENSE": "All rights reserved. Ask us."}, "MIT", "unrecognised", None),
    ],
)
def test_archive_licence_file_is_checked_against_the_declared_licence(
    app, entrant, entries, licence, state, found
):
    version = submit_archive(entrant, zip_bytes(entries), licence=licence)
    assert version.archive_state == "ok"
    assert (version.licence_check, version.licence_found) == (state, found)


def _forged_bomb() -> bytes:
    """A zip whose central directory claims 10 bytes for a member that inflates to 40 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("LICENSE", MIT_TEXT)
        archive.writestr("big.bin", b"\0" * (40 * 1024 * 1024))
    data = bytearray(buffer.getvalue())
    # Rewrite the uncompressed size of big.bin in its local header and the central directory.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (index := data.find(signature, start)) != -1:
            name_len_at = index + (26 if signature == b"PK\x03\x04" else 28)
            name_len = int.from_bytes(data[name_len_at : name_len_at + 2], "little")
            name_at = index + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + name_len] == b"big.bin":
                data[index + offset : index + offset + 4] = (10).to_bytes(4, "little")
            start = index + 4
    return bytes(data)


def test_extraction_counts_real_bytes_so_a_forged_header_cannot_hide_a_bomb(tmp_path):
    data = _forged_bomb()
    entries = archives.list_archive(io.BytesIO(data), "zip", len(data))
    assert {e.name: e.size for e in entries}["big.bin"] == 10  # the header lies
    with pytest.raises(archives.ArchiveRefused) as refused:
        archives.extract_archive(io.BytesIO(data), "zip", len(data), tmp_path / "out")
    assert refused.value.code in (archives.BOMB, archives.NOT_AN_ARCHIVE)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written <= archives.MAX_RATIO * len(data) + 2 * 1024 * 1024


def test_job_refuses_an_archive_that_turns_out_dangerous(app, entrant):
    """The check at upload reads headers; the job unpacking it refuses what headers hid."""
    data = _forged_bomb()
    version = submit_archive(entrant, data)
    assert version.archive_state == "refused"
    assert version.archive_problem in (archives.BOMB, archives.NOT_AN_ARCHIVE)
    assert version.licence_check == "none"
    # Safe to run again: the outcome stays.
    assert jobs.inspect_archive(version.id) == "refused"


def test_archive_check_is_safe_to_repeat(app, entrant):
    version = submit_archive(entrant, zip_bytes({"LICENSE": MIT_TEXT}))
    assert jobs.inspect_archive(version.id) == "ok"
    assert db.session.query(SubmissionVersion).count() == 1
    assert jobs.inspect_archive(999_999) == "missing"


def test_result_emails_go_once_in_each_members_language(app, innovation, make_user, make_team):
    from civic.core.models import OutboxMessage

    challenge, subs, panel = judged_challenge(innovation, make_user, make_team, teams=2, judges=3)
    score_all(challenge, subs, panel)
    services.publish_results(innovation.id, challenge.id)  # enqueues notify_results (inline)
    sent = db.session.query(OutboxMessage).filter(OutboxMessage.subject.like("Results%")).all()
    assert len(sent) == 2
    assert jobs.notify_results(challenge.id) == 0  # already told: nothing twice


@pytest.mark.redis
def test_profiling_runs_on_a_real_queue(queue, roads_staff):
    from civic.challenges.models import Dataset

    upload(roads_staff, b"a,b\n1,2\n3,\n", "csv")
    assert db.session.query(Dataset).one().profile_state == "pending"
    queue.work()
    db.session.expire_all()
    dataset = db.session.query(Dataset).one()
    assert dataset.profile_state == "ready" and dataset.profile["rows"] == 2
