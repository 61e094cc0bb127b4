"""Poll votes over HTTP: gunicorn + PostgreSQL + Redis, 50 concurrent logged-in voters.

Measures, in one run and with the same load generator:
  * the ceiling: a trivial route of the same app (registered only by this file's app factory);
  * /healthz (a database query and a Redis ping), for scale;
  * votes: POST /polls/<id>/vote as htmx requests, each client a distinct signed-in voter
    with its own session cookie and CSRF token, every voter voting once in every poll;
then checks that the tally is exact (counters = ballots = successful requests, per option).

    .venv/bin/python bench/polls_vote_http.py                  # defaults below
    .venv/bin/python bench/polls_vote_http.py --voters 400 --polls 2 --workers 5

The database named by --database-url is dropped and rebuilt: point it at a scratch database
(the default, civic_polls_bench, is created when missing). Only 127.0.0.1 is ever contacted;
every phase is bounded by a request count and --max-seconds.

Voters' passwords are stored with a cheap PBKDF2 hash so that signing 1,000 voters in takes
seconds rather than scrypt's ~0.1 s each; sign-in is not what is measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PASSWORD = "bench-password-123"
TRIVIAL_PATH = "/bench/trivial"


# ---------------------------------------------------------------- the app gunicorn serves


def create_bench_app():
    """Civic as configured by the environment, plus one trivial route for the ceiling."""
    from civic import create_app

    app = create_app()

    @app.get(TRIVIAL_PATH)
    def trivial():
        return "ok", 200, {"Content-Type": "text/plain"}

    return app


# ---------------------------------------------------------------- setup


def reset_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass
class Setup:
    poll_ids: list[int]
    option_ids: dict[int, list[int]]
    max_choices: dict[int, int]
    voter_emails: list[str]


def prepare(database_url: str, voters: int, polls: int) -> Setup:
    """Schema by the real migrations; districts, voters and official polls through the models
    and services."""
    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from civic import create_app
    from civic.accounts.models import User, UserRole
    from civic.core import geo
    from civic.core.models import Department
    from civic.extensions import db
    from civic.polls import services

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": ""})
    with app.app_context():
        upgrade(revision="heads")
        districts = geo.import_districts(
            json.loads((REPO / "seeds" / "districts.geojson").read_text())
        )
        department = Department(code="mayor", name={"en": "Mayor's Office"})
        db.session.add(department)
        staff = User(
            email="staff@bench.local",
            display_name="Staff",
            password_hash=generate_password_hash(PASSWORD),
        )
        staff.role_rows = [UserRole(role="staff")]
        db.session.add(staff)
        db.session.commit()
        cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        emails = []
        for number in range(voters):
            email = f"voter{number:05d}@bench.local"
            user = User(
                email=email,
                display_name=f"Voter {number}",
                password_hash=cheap,
                verification_level="verified",
                verified_district_id=districts[number % len(districts)].id,
                shares_demographics=number % 2 == 0,
                birth_year=1950 + number % 50,
                gender=("woman", "man")[number % 2],
            )
            user.role_rows = [UserRole(role="resident")]
            db.session.add(user)
            emails.append(email)
        db.session.commit()
        setup = Setup([], {}, {}, emails)
        for number in range(polls):
            multi = number % 2 == 1
            poll = services.propose_poll(
                staff.id,
                services.PollDraft(
                    question=f"Bench question {number}?",
                    options=[services.OptionDraft(label) for label in ("Yes", "No", "Later")],
                    max_choices=2 if multi else 1,
                    duration_days=7,
                    is_official=True,
                    # The first poll crosses its threshold half-way through the run.
                    threshold=voters // 2 if number == 0 else 1_000_000,
                    department_id=department.id,
                ),
            )
            setup.poll_ids.append(poll.id)
            setup.option_ids[poll.id] = [o.id for o in poll.options]
            setup.max_choices[poll.id] = poll.max_choices
        db.session.remove()
        db.engine.dispose()
    return setup


def choices_for(voter: int, poll_id: int, setup: Setup) -> list[int]:
    options = setup.option_ids[poll_id]
    first = options[(voter * 7 + poll_id) % len(options)]
    if setup.max_choices[poll_id] > 1 and voter % 3 == 0:
        return [first, options[(options.index(first) + 1) % len(options)]]
    return [first]


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gunicorn(args, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": "bench-secret-key-0123456789-0123456789-abcdef",
        "CIVIC_ENV": "development",
        "PYTHONPATH": str(REPO),
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        # A gthread worker keeps accepting kept-alive connections up to this number: without
        # a limit the first worker takes all 50 clients and the others sit idle.
        "--worker-connections",
        str(args.worker_connections or -(-args.concurrency // args.workers)),
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        "--chdir",
        str(REPO),
        "bench.polls_vote_http:create_bench_app()",
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


def server_cpu_seconds(master_pid: int) -> float:
    """User + system CPU used so far by gunicorn's master and workers (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == master_pid or ppid == master_pid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# ---------------------------------------------------------------- the load generator


class Slot:
    """One concurrent client: a keep-alive connection, reopened when the server closes it."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)


class Voter:
    """A signed-in voter: their session cookie and CSRF token."""

    def __init__(self, email: str):
        self.email = email
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(
        self,
        slot: Slot,
        method: str,
        path: str,
        body: dict | None = None,
        headers: dict | None = None,
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
                slot.conn.request(method, path, body=data, headers=headers)
                response = slot.conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive socket the server had closed: reconnect once (never re-sent
                # after the server saw the request, since it closed before reading it).
                slot.conn.close()
                if attempt:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        if (response.getheader("Connection") or "").lower() == "close":
            slot.conn.close()
        return response.status, payload

    def sign_in(self, slot: Slot) -> None:
        _status, page = self.request(slot, "GET", "/account/login")
        token = (
            re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
        )
        status, _ = self.request(
            slot,
            "POST",
            "/account/login",
            {"email": self.email, "password": PASSWORD, "csrf_token": token},
        )
        if status != 302:
            raise RuntimeError(f"sign-in of {self.email} answered {status}")
        _status, page = self.request(slot, "GET", "/polls")
        self.csrf = re.search(rb'"X-CSRFToken": "([^"]+)"', page).group(1).decode()


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    def row(self) -> str:
        rate = self.count / self.seconds if self.seconds else 0
        cpu = self.server_cpu / self.count * 1000 if self.count else 0
        return (
            f"| {self.name} | {self.count} | {rate:,.0f} | {self.percentile(50):.1f} | "
            f"{self.percentile(99):.1f} | {statistics.fmean(self.latencies) * 1000:.1f} | "
            f"{cpu:.2f} | {self.errors} |"
        )


def run_phase(
    name: str,
    clients: list[Slot],
    jobs_per_client: list[list],
    send,
    max_seconds: float,
    server_pid: int | None = None,
    rate: float | None = None,
) -> Phase:
    """Every client works through its own list of jobs at once; one request in flight each.

    With `rate`, requests are due at a steady pace (open loop: client i sends its k-th request
    at (k * clients + i) / rate seconds) and each latency counts from when the request was due,
    so a server falling behind shows as latency rather than as a slower pace."""
    phase = Phase(name)
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients) + 1)
    deadline = [0.0]
    epoch = [0.0]

    def work(index: int, client: Slot, jobs: list) -> None:
        barrier.wait()
        local = []
        statuses = Counter()
        errors = 0
        for number, job in enumerate(jobs):
            if time.monotonic() > deadline[0]:
                break
            start = time.perf_counter()
            if rate:
                start = epoch[0] + (number * len(clients) + index) / rate
                time.sleep(max(0.0, start - time.perf_counter()))
            try:
                ok, status = send(client, job)
            except Exception:  # noqa: BLE001 - any failure is an error in the report
                ok, status = False, "exception"
            local.append(time.perf_counter() - start)
            statuses[status] += 1
            errors += 0 if ok else 1
        with lock:
            phase.latencies.extend(local)
            phase.statuses.update(statuses)
            phase.errors += errors

    threads = [
        threading.Thread(target=work, args=(i, c, j))
        for i, (c, j) in enumerate(zip(clients, jobs_per_client, strict=True))
    ]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + max_seconds
    cpu_before = server_cpu_seconds(server_pid) if server_pid else 0.0
    epoch[0] = time.perf_counter() + 0.05
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - started
    if server_pid:
        phase.server_cpu = server_cpu_seconds(server_pid) - cpu_before
    return phase


# ---------------------------------------------------------------- the run


def check_tally(database_url: str, setup: Setup, sent: dict) -> list[str]:
    """Compare counters and ballots with what the successful requests asked for."""
    from civic import create_app
    from civic.extensions import db
    from civic.polls import services

    problems = []
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": ""})
    with app.app_context():
        for poll_id in setup.poll_ids:
            recount = services.recount_poll(poll_id)
            expected = Counter()
            for chosen in sent[poll_id]:
                expected.update(chosen)
            wanted = {oid: expected.get(oid, 0) for oid in setup.option_ids[poll_id]}
            if not recount.is_exact:
                problems.append(f"poll {poll_id}: counters differ from ballots: {recount}")
            if recount.participations != len(sent[poll_id]):
                problems.append(
                    f"poll {poll_id}: {recount.participations} votes stored, {len(sent[poll_id])} accepted"
                )
            if recount.ballot_counts != wanted:
                problems.append(
                    f"poll {poll_id}: ballots {recount.ballot_counts} != requested {wanted}"
                )
        agenda = services.get_poll(setup.poll_ids[0]).agenda
        if agenda is None:
            problems.append("the first poll did not become an agenda")
        db.session.remove()
        db.engine.dispose()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/civic_polls_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--voters", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--trivial-requests", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--worker-connections",
        type=int,
        default=0,
        help="kept-alive connections per worker (default: the clients shared evenly)",
    )
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap on each phase")
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=0,
        help="votes per second of the paced phase (default: half the measured vote throughput)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql") or "127.0.0.1" not in args.database_url:
        parser.error("use a PostgreSQL scratch database on 127.0.0.1")
    if args.voters % args.concurrency:
        parser.error("--voters must be a multiple of --concurrency")
    from civic.config import _normalise_db_url

    database_url = _normalise_db_url(args.database_url)
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789-0123456789-abcdef")
    print(
        f"Preparing {args.voters} voters and {args.polls} polls in {args.database_url} ...",
        flush=True,
    )
    reset_database(database_url)
    # One more poll than asked for: the paced phase votes in it.
    setup = prepare(database_url, args.voters, args.polls + 1)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    port = free_port()
    server = start_gunicorn(args, port)
    try:
        clients = [Slot(port) for _ in range(args.concurrency)]
        voters_of = [list(range(i, args.voters, args.concurrency)) for i in range(args.concurrency)]
        voters = [Voter(email) for email in setup.voter_emails]
        started = time.perf_counter()
        signed = run_phase(
            "sign-in",
            clients,
            [[voters[v] for v in group] for group in voters_of],
            lambda slot, voter: (voter.sign_in(slot) is None, 200),
            args.max_seconds * 2,
        )
        if signed.errors:
            raise RuntimeError(f"{signed.errors} voters could not sign in")
        print(f"{args.voters} voters signed in ({time.perf_counter() - started:.1f} s)", flush=True)

        per_client = args.trivial_requests // args.concurrency
        anonymous = Voter("")

        def get(path):
            def send(slot, _job):
                status, _body = anonymous.request(slot, "GET", path)
                return status == 200, status

            return send

        run_phase(
            "warm-up",
            clients,
            [[None] * 20] * args.concurrency,
            get(TRIVIAL_PATH),
            args.max_seconds,
        )
        run_phase(
            "warm-up", clients, [[None] * 5] * args.concurrency, get("/polls"), args.max_seconds
        )
        trivial = run_phase(
            "trivial route (ceiling)",
            clients,
            [[None] * per_client] * args.concurrency,
            get(TRIVIAL_PATH),
            args.max_seconds,
            server.pid,
        )
        health = run_phase(
            "/healthz (DB + Redis)",
            clients,
            [[None] * per_client] * args.concurrency,
            get("/healthz"),
            args.max_seconds,
            server.pid,
        )

        sent: dict[int, list[list[int]]] = {poll_id: [] for poll_id in setup.poll_ids}
        sent_lock = threading.Lock()

        def vote(slot: Slot, job) -> tuple[bool, int]:
            number, poll_id = job
            voter = voters[number]
            chosen = choices_for(number, poll_id, setup)
            status, body = voter.request(
                slot,
                "POST",
                f"/polls/{poll_id}/vote",
                {"option": chosen, "version": "0"},
                {"HX-Request": "true", "X-CSRFToken": voter.csrf},
            )
            ok = status == 200 and b"poll-receipt-title" in body
            if ok:
                with sent_lock:
                    sent[poll_id].append(chosen)
            return ok, status

        # Each concurrent client is one voter at a time: it casts that voter's vote in every
        # poll, then moves to its next voter. 50 distinct voters are in flight at any moment.
        *saturated_polls, paced_poll = setup.poll_ids
        vote_jobs = [
            [(number, poll_id) for number in group for poll_id in saturated_polls]
            for group in voters_of
        ]
        votes = run_phase(
            "vote (htmx POST)", clients, vote_jobs, vote, args.max_seconds, server.pid
        )
        # The same votes at a steady pace the server can carry: latency without a queue.
        paced_rate = args.paced_rate or round(votes.count / votes.seconds / 2)
        paced = run_phase(
            f"vote at a steady {paced_rate}/s",
            clients,
            [[(number, paced_poll) for number in group] for group in voters_of],
            vote,
            args.max_seconds,
            server.pid,
            rate=paced_rate,
        )
        trivial_after = run_phase(
            "trivial route, again",
            clients,
            [[None] * per_client] * args.concurrency,
            get(TRIVIAL_PATH),
            args.max_seconds,
            server.pid,
        )
    finally:
        stop(server)

    problems = check_tally(database_url, setup, sent)
    ceiling = max(trivial.count / trivial.seconds, trivial_after.count / trivial_after.seconds)
    vote_rate = votes.count / votes.seconds
    print()
    print(
        f"gunicorn {args.workers} × {args.worker_class}"
        f"{f' ({args.threads} threads)' if args.threads > 1 else ''}, {args.concurrency} concurrent clients, "
        f"{os.cpu_count()} CPUs shared by server, PostgreSQL, Redis and the load generator"
    )
    print()
    print("| phase | requests | req/s | p50 ms | p99 ms | mean ms | server CPU ms/req | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for phase in (trivial, health, votes, paced, trivial_after):
        print(phase.row())
    print()
    print(f"vote throughput / trivial ceiling: {vote_rate / ceiling:.0%}")
    print(f"vote statuses: {dict(votes.statuses)}")
    accepted = sum(len(v) for v in sent.values())
    print(
        f"tally: {accepted} votes accepted; "
        + (
            "exact (counters = ballots = accepted requests, per option)"
            if not problems
            else "NOT EXACT: " + "; ".join(problems)
        )
    )
    if args.json:
        print(
            json.dumps(
                {
                    "ceiling_rps": ceiling,
                    "vote_rps": vote_rate,
                    "vote_p50_ms": votes.percentile(50),
                    "vote_p99_ms": votes.percentile(99),
                    "vote_errors": votes.errors,
                    "paced_rate": paced_rate,
                    "paced_p50_ms": paced.percentile(50),
                    "paced_p99_ms": paced.percentile(99),
                    "paced_errors": paced.errors,
                    "ratio": vote_rate / ceiling,
                    "tally_exact": not problems,
                }
            )
        )
    return 0 if not problems and votes.errors == 0 and paced.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
