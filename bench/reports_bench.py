"""Reports at city scale: 200,000 reports in PostgreSQL, served by gunicorn.

Measures, in one run and with the same load generator:
  * the ceiling: a trivial route of the same app (registered only by this file's app factory);
  * map data (/reports/map.json): the whole city at zoom 12, a district viewport at zoom 14,
    a street viewport at zoom 17, with and without filters, viewports varied at random;
  * Open311 GET /requests.json and .xml with filters (service_code, status, dates, page size);
  * report submission: POST /reports/new by signed-in residents (CSRF token, typed coordinates,
    a required question), at random places in the city, through the real form and service;
    its throughput is compared with the trivial route's.

    .venv/bin/python bench/reports_bench.py                     # 200,000 reports
    .venv/bin/python bench/reports_bench.py --reports 20000 --seconds 5

The database named by --database-url is dropped and rebuilt (default civic_reports_bench,
created when missing). Map data comes from each worker's in-memory index (built on its first
map request, warmed before measuring); a last figure shows the whole-city view aggregated by
PostgreSQL instead (CIVIC_REPORT_MAP_INDEX=0), for comparison. Only 127.0.0.1
is ever contacted; every phase is bounded by a request count and a duration.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
TRIVIAL_PATH = "/bench/trivial"
PASSWORD = "bench-password-123"


def create_bench_app():
    """Civic as configured by the environment, plus one trivial route for the ceiling."""
    from civic import create_app

    app = create_app()

    @app.get(TRIVIAL_PATH)
    def trivial():
        return "ok", 200, {"Content-Type": "text/plain"}

    return app


# ---------------------------------------------------------------- data


def reset_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).first():
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def load(url: str, count: int, residents: int) -> dict:
    """Schema by the migrations, the demo city and categories through the services, then
    `count` reports by COPY (spread over a year, the districts, the categories and the states)."""
    import numpy as np
    import shapely
    from flask_migrate import upgrade
    from shapely.geometry import shape
    from werkzeug.security import generate_password_hash

    from civic import create_app
    from civic.accounts.models import User, UserRole
    from civic.core.geo import list_districts
    from civic.extensions import db
    from civic.reports import services
    from civic.reports.location import snap_to_cell
    from civic.reports.seeds import WEIGHTS, _categories
    from civic.seeding import _seed_city

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x" * 40})
    with app.app_context():
        upgrade(revision="heads")
        _seed_city()
        admin = db.session.scalar(db.select(User).where(User.email == "admin@demo.civic"))
        codes = _categories(admin.id)
        categories = {}
        for code, cid in codes.items():
            c = services.get_category(cid)
            categories[code] = SimpleNamespace(
                id=c.id,
                department_id=c.department_id,
                is_sensitive=c.is_sensitive,
                target_days=c.target_days,
            )
        fast_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        for i in range(residents):
            user = User(
                email=f"bench{i}@example.org", display_name=f"Bench {i}", password_hash=fast_hash
            )
            user.role_rows = [UserRole(role="resident")]
            db.session.add(user)
        db.session.commit()
        reporter_ids = list(db.session.scalars(db.select(User.id)))
        shapes = [(d.id, shape(d.geometry)) for d in list_districts()]
        _, key = services.issue_api_key(admin.id, "Bench client", "bench@example.org")

    rng = np.random.default_rng(2026)
    minx = min(g.bounds[0] for _d, g in shapes)
    miny = min(g.bounds[1] for _d, g in shapes)
    maxx = max(g.bounds[2] for _d, g in shapes)
    maxy = max(g.bounds[3] for _d, g in shapes)
    lons = np.empty(0)
    lats = np.empty(0)
    district_of = np.empty(0, dtype=int)
    while len(lons) < count:
        x = rng.uniform(minx, maxx, count)
        y = rng.uniform(miny, maxy, count)
        owner = np.zeros(count, dtype=int)
        for district_id, geometry in shapes:
            owner[(owner == 0) & shapely.contains_xy(geometry, x, y)] = district_id
        keep = owner > 0
        lons, lats = np.concatenate([lons, x[keep]]), np.concatenate([lats, y[keep]])
        district_of = np.concatenate([district_of, owner[keep]])
    lons, lats, district_of = lons[:count], lats[:count], district_of[:count]
    population = list(WEIGHTS)
    weights = np.array([WEIGHTS[c] for c in population], dtype=float)
    picks = rng.choice(len(population), size=count, p=weights / weights.sum())
    now = datetime.now(UTC)
    ages = rng.uniform(0, 365, count)
    state_roll = rng.uniform(0, 1, count)
    columns = (
        "category_id, department_id, district_id, latitude, longitude, public_latitude, public_longitude, "
        "is_location_approximate, address, description, answers, state, close_reason, status_notes, "
        "reporter_id, reporter_name, is_name_public, locale, is_confirmed, is_hidden, source, token, "
        "supporter_count, reopen_count, created_at, updated_at, confirmed_at, due_at, acknowledged_at, "
        "resolved_at, closed_at"
    )
    import psycopg

    started = time.monotonic()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY report ({columns}) FROM STDIN") as copy:
            for i in range(count):
                category = categories[population[picks[i]]]
                lat, lon = round(float(lats[i]), 6), round(float(lons[i]), 6)
                public = snap_to_cell(lat, lon) if category.is_sensitive else (lat, lon)
                created = now - timedelta(days=float(ages[i]))
                age = float(ages[i])
                roll = float(state_roll[i])
                target = category.target_days
                ack = resolved = closed = None
                reason = notes = None
                if age > 2 * target:
                    state = "resolved" if roll < 0.78 else "closed" if roll < 0.9 else "in_progress"
                elif age > target / 2:
                    state = "resolved" if roll < 0.45 else "in_progress" if roll < 0.8 else "new"
                else:
                    state = "new" if roll < 0.5 else "acknowledged"
                if state != "new":
                    ack = min(created + timedelta(hours=2 + 40 * roll), now)
                    notes = "Crew scheduled."
                if state == "resolved":
                    resolved = created + timedelta(days=target * (0.3 + 1.5 * roll))
                    notes = "Fixed."
                    if resolved > now:  # not fixed yet, then
                        state, resolved, notes = "in_progress", None, "Crew scheduled."
                if state == "closed":
                    closed = min(created + timedelta(days=2), now)
                    reason = "cannot_find"
                    notes = "Not found on site."
                updated = max(t for t in (created, ack, resolved, closed) if t is not None)
                copy.write_row(
                    (
                        category.id,
                        category.department_id,
                        int(district_of[i]),
                        lat,
                        lon,
                        public[0],
                        public[1],
                        False,
                        "",
                        "Bench report: a problem in the street.",
                        "{}",
                        state,
                        reason,
                        notes,
                        reporter_ids[i % len(reporter_ids)],
                        "",
                        False,
                        "en",
                        True,
                        False,
                        "seed",
                        secrets.token_urlsafe(18),
                        0,
                        0,
                        created,
                        updated,
                        created,
                        created + timedelta(days=target),
                        ack,
                        resolved,
                        closed,
                    )
                )
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE report")
    return {
        "load_seconds": time.monotonic() - started,
        "api_key": key,
        "bounds": (miny, minx, maxy, maxx),
        "districts": [(district_id, geometry.bounds) for district_id, geometry in shapes],
        "category_ids": [c.id for c in categories.values()],
        "residents": residents,
    }


# ---------------------------------------------------------------- server and clients


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(args, port: int, extra_env: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": "",
        "SECRET_KEY": "bench-secret-key-0123456789-0123456789-abcdef",
        "CIVIC_ENV": "development",
        "PYTHONPATH": str(REPO),
        **extra_env,
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        # A gthread worker keeps accepting kept-alive connections up to this number: without
        # a limit one worker can take every client while the others sit idle.
        "--worker-connections",
        str(-(-args.clients // args.workers)),
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        "--chdir",
        str(REPO),
        "bench.reports_bench:create_bench_app()",
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", TRIVIAL_PATH)
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited during start-up")
        time.sleep(0.3)
    stop(process)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Client:
    """One keep-alive connection with its own cookies."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
        keep_cookies: bool = True,
    ):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                if attempt:
                    raise
        for header, value in response.getheaders():
            if keep_cookies and header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, payload


def sign_in(client: Client, email: str) -> str:
    status, page = client.request("GET", "/account/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
    status, _ = client.request(
        "POST", "/account/login", {"email": email, "password": PASSWORD, "csrf_token": token}
    )
    if status != 302:
        raise RuntimeError(f"sign-in failed for {email}: {status}")
    return token


def latency(client: Client, paths: list[str], headers: dict | None = None) -> dict:
    """Sequential requests (one client): p50/p95/max in milliseconds."""
    timings = []
    for path in paths:
        started = time.perf_counter()
        status, _ = client.request("GET", path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    timings.sort()
    return {
        "n": len(timings),
        "p50": statistics.median(timings),
        "p95": timings[int(0.95 * (len(timings) - 1))],
        "max": timings[-1],
    }


def throughput(make_request, clients: list[Client], seconds: float, limit: int) -> dict:
    """Requests per second with all clients busy for `seconds` (at most `limit` requests)."""
    done = []
    errors = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker(index: int, client: Client):
        n = 0
        while time.monotonic() < stop_at:
            with lock:
                if len(done) + len(errors) >= limit:
                    return
            started = time.perf_counter()
            ok = make_request(index, n, client)
            (done if ok else errors).append(time.perf_counter() - started)
            n += 1

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    ordered = sorted(done)
    return {
        "requests": len(done),
        "errors": len(errors),
        "per_second": len(done) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else None,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000 if ordered else None,
    }


# ---------------------------------------------------------------- the run


def viewport(
    rng: random.Random, center: tuple[float, float], half_lat: float, half_lon: float
) -> str:
    lat, lon = center
    return f"{lon - half_lon:.5f},{lat - half_lat:.5f},{lon + half_lon:.5f},{lat + half_lat:.5f}"


def month_range(rng: random.Random) -> str:
    """A 30-day window somewhere in the past year, closed requests, 100 per page."""
    start = datetime.now(UTC) - timedelta(days=rng.randint(31, 330))
    w3c = "%Y-%m-%dT%H:%M:%SZ"
    return urlencode(
        {
            "start_date": start.strftime(w3c),
            "end_date": (start + timedelta(days=30)).strftime(w3c),
            "status": "closed",
            "page_size": 100,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/civic_reports_bench"
    )
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=120, help="requests per latency figure")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rng = random.Random(7)

    print(
        f"Loading {args.reports:,} reports into {args.database_url.rsplit('/', 1)[-1]} …",
        flush=True,
    )
    reset_database(args.database_url)
    data = load(args.database_url, args.reports, args.residents)
    print(f"  loaded in {data['load_seconds']:.1f} s", flush=True)
    min_lat, min_lon, max_lat, max_lon = data["bounds"]
    city = f"{min_lon:.5f},{min_lat:.5f},{max_lon:.5f},{max_lat:.5f}"
    results: dict = {"reports": args.reports}

    port = free_port()
    server = start_gunicorn(args, port, {"CIVIC_REPORT_MAP_INDEX": "1"})
    try:
        client = Client(port)
        latency(client, [TRIVIAL_PATH] * 20)  # warm the workers
        # Each worker builds its map index on its first map request (~1-2 s at 200,000
        # reports), as a server does once after it starts; that start is not what is measured.
        warm = Client(port), Client(port), Client(port), Client(port)
        for warm_client in warm:
            latency(warm_client, ["/reports/map.json?zoom=10"] * 2)
        district_views = []
        for _ in range(args.samples):
            _id, (dminx, dminy, dmaxx, dmaxy) = rng.choice(data["districts"])
            center = (
                (dminy + dmaxy) / 2 + rng.uniform(-0.005, 0.005),
                (dminx + dmaxx) / 2 + rng.uniform(-0.005, 0.005),
            )
            district_views.append(viewport(rng, center, 0.02, 0.03))
        street_views = [
            viewport(
                rng, (rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)), 0.002, 0.003
            )
            for _ in range(args.samples)
        ]
        categories = data["category_ids"]
        figures = {
            "trivial route": [TRIVIAL_PATH] * args.samples,
            "map: whole city, zoom 12": [
                f"/reports/map.json?bbox={city}&zoom=12" for _ in range(args.samples)
            ],
            "map: whole city, zoom 12, open, one category": [
                f"/reports/map.json?bbox={city}&zoom=12&state=open&category={rng.choice(categories)}"
                for _ in range(args.samples)
            ],
            "map: district viewport, zoom 14": [
                f"/reports/map.json?bbox={v}&zoom=14" for v in district_views
            ],
            "map: street viewport, zoom 17 (points)": [
                f"/reports/map.json?bbox={v}&zoom=17" for v in street_views
            ],
            "open311: requests.json, service_code + status=open": [
                "/open311/v2/requests.json?"
                + urlencode(
                    {
                        "service_code": rng.choice(["pothole", "streetlight", "waste", "noise"]),
                        "status": "open",
                    }
                )
                for _ in range(args.samples)
            ],
            "open311: requests.xml, 30-day range, status=closed, page_size=100": [
                "/open311/v2/requests.xml?" + month_range(rng) for _ in range(args.samples)
            ],
            "open311: requests.json, default window, first 1000": ["/open311/v2/requests.json"]
            * (args.samples // 4),
        }
        latencies = {}
        for name, paths in figures.items():
            latencies[name] = latency(client, paths, headers={"Accept-Encoding": "gzip"})
            print(
                f"  {name}: p50 {latencies[name]['p50']:.1f} ms, p95 {latencies[name]['p95']:.1f} ms",
                flush=True,
            )
        results["latency_ms"] = latencies

        # Throughput: the trivial route, then report submissions by signed-in residents.
        clients = [Client(port) for _ in range(args.clients)]
        tokens = [
            sign_in(c, f"bench{i % args.residents}@example.org") for i, c in enumerate(clients)
        ]
        trivial = throughput(
            lambda i, n, c: c.request("GET", TRIVIAL_PATH)[0] == 200, clients, args.seconds, 200_000
        )
        print(f"  trivial route: {trivial['per_second']:.0f} req/s", flush=True)
        submit_rng = [random.Random(100 + i) for i in range(len(clients))]

        def submit(index: int, n: int, client: Client) -> bool:
            r = submit_rng[index]
            body = {
                "csrf_token": tokens[index],
                "category": "pothole",
                "latitude": f"{r.uniform(min_lat + 0.01, max_lat - 0.01):.6f}",
                "longitude": f"{r.uniform(min_lon + 0.01, max_lon - 0.01):.6f}",
                "description": f"Bench pothole {index}-{n}",
                "q_size": "small",
                "confirm_new": "1",
            }
            # The redirect is not followed; a browser would, and the page would show and clear
            # the "thank you" flash. So the session cookie stays the signed-in one, instead of
            # piling up one flash per submission (which made each request slower than the last).
            status, _ = client.request(
                "POST", "/reports/new?category=pothole", body, keep_cookies=False
            )
            return status in (302, 400)  # 400: a random point fell between districts (refused)

        submissions = throughput(submit, clients, args.seconds, 20_000)
        print(f"  report submission: {submissions['per_second']:.0f} req/s", flush=True)
        results["trivial"] = trivial
        results["submission"] = submissions
        results["submission_share_of_ceiling"] = submissions["per_second"] / trivial["per_second"]
    finally:
        stop(server)

    # The whole-city view again, aggregated by PostgreSQL instead of the in-memory index.
    port = free_port()
    server = start_gunicorn(args, port, {"CIVIC_REPORT_MAP_INDEX": "0"})
    try:
        client = Client(port)
        paths = [f"/reports/map.json?bbox={city}&zoom=12"] * args.samples
        results["latency_ms"][
            "map: whole city, zoom 12, database aggregation (CIVIC_REPORT_MAP_INDEX=0)"
        ] = latency(client, paths, headers={"Accept-Encoding": "gzip"})
    finally:
        stop(server)

    print()
    print(
        f"| measure ({args.reports:,} reports, gunicorn {args.workers}×{args.threads} gthread) | p50 ms | p95 ms |"
    )
    print("|---|---|---|")
    for name, figure in results["latency_ms"].items():
        print(f"| {name} | {figure['p50']:.1f} | {figure['p95']:.1f} |")
    print()
    print(
        f"trivial route: {results['trivial']['per_second']:.0f} req/s; report submission: "
        f"{results['submission']['per_second']:.0f} req/s "
        f"({results['submission_share_of_ceiling']:.0%} of the ceiling; goal ≥ 40%), "
        f"{results['submission']['errors']} errors"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
