"""Benchmark: a workshop room and the public dashboard, against gunicorn with Redis.

    .venv/bin/python bench/workshop_room.py            # PostgreSQL if DATABASE_URL is set, else SQLite

1. 300 phones answer one question within 10 seconds: each phone opens /w/CODE (cookie, form),
   then posts its answer at a random moment of the 10 s window. Checks: every answer recorded,
   p95 of the answer POST under 200 ms, the presenter's live count exact (and per option).
2. The dashboard's render time with the seeded demo city (GET /dashboard, 30 times).

Traffic goes to 127.0.0.1 only, every loop is bounded in count and time, and the server is
stopped at the end. Latencies are printed as ratios to /healthz measured in the same run, so
that figures from different machines compare.
"""

from __future__ import annotations

import http.cookiejar
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHONES = int(os.environ.get("BENCH_PHONES", "300"))
WINDOW_S = float(os.environ.get("BENCH_WINDOW", "10"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PASSWORD = "bench-password-0123456789"
TIMEOUT_S = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _csrf(html: str) -> str:
    tag = re.search(r'<input[^>]*name="csrf_token"[^>]*>', html).group(0)
    return re.search(r'value="([^"]+)"', tag).group(1)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _prepare(env: dict) -> dict:
    """Migrate, seed the demo city, and make a live session with one question (in-process)."""
    os.environ.update(env)
    from flask_migrate import upgrade

    from civic import create_app
    from civic.accounts import services as accounts
    from civic.extensions import db
    from civic.seeding import seed_demo_city
    from civic.workshops import services
    from civic.workshops.services import SlideInput

    app = create_app({"REDIS_URL": ""})  # seed inline; the server uses Redis
    with app.app_context():
        upgrade(revision="heads")
        seed_demo_city()
        user = accounts.ensure_user(
            "bench-facilitator@example.org", PASSWORD, "Bench", ("facilitator",), "en", None
        )
        session = services.create_session(user.id, {"en": "Benchmark room"})
        slide = services.add_slide(
            user.id,
            session.id,
            SlideInput(
                kind="question",
                locale="en",
                title="Which first?",
                question_type="single",
                options_text="Trees\nBenches\nLights\nBuses",
            ),
        )
        services.start_session(user.id, session.id)
        services.go_to_slide(user.id, session.id, slide.id)
        info = {
            "code": session.code,
            "session_id": session.id,
            "slide_id": slide.id,
            "keys": [o["key"] for o in slide.options],
        }
        db.engine.dispose()
    return info


class Phone:
    """One browser: a cookie jar, a GET of the question, a POST of the answer."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect,
        )

    def get(self, path: str) -> tuple[int, str, float]:
        start = time.perf_counter()
        with self.opener.open(self.base + path, timeout=TIMEOUT_S) as response:
            body = response.read().decode()
            return response.status, body, time.perf_counter() - start

    def post(self, path: str, data: dict) -> tuple[int, float]:
        start = time.perf_counter()
        request = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(data).encode(), method="POST"
        )
        try:
            with self.opener.open(request, timeout=TIMEOUT_S) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        return status, time.perf_counter() - start


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_302(self, req, fp, code, msg, headers):
        return fp


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:  # noqa: S310 - 127.0.0.1
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def _healthz(base: str, n: int = 60) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with urllib.request.urlopen(base + "/healthz", timeout=TIMEOUT_S) as response:  # noqa: S310
            response.read()
        times.append(time.perf_counter() - start)
    return times


def run_room(base: str, info: dict) -> dict:
    """300 phones: open the page, then answer at a random moment of the window."""
    rng = random.Random(7)
    choices = [rng.choice(info["keys"]) for _ in range(PHONES)]
    offsets = sorted(rng.uniform(0, WINDOW_S) for _ in range(PHONES))
    gets, posts, statuses = [], [], []
    lock = threading.Lock()
    # The room joins while the facilitator introduces the question (spread over 5 s)...
    phones = [Phone(base) for _ in range(PHONES)]
    tokens: list[str] = [""] * PHONES
    join_offsets = [rng.uniform(0, 5) for _ in range(PHONES)]
    join_start = time.monotonic()

    def join(i: int) -> None:
        delay = join_start + join_offsets[i] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        _status, body, took = phones[i].get(f"/w/{info['code']}")
        tokens[i] = _csrf(body)
        with lock:
            gets.append(took)

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(join, range(PHONES)))
    # ...then everyone answers within the window.
    start = time.monotonic()

    def phone(i: int) -> None:
        p, token = phones[i], tokens[i]
        delay = start + offsets[i] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        answer_status, answer_took = p.post(
            f"/w/{info['code']}/{info['slide_id']}", {"csrf_token": token, "choice": choices[i]}
        )
        with lock:
            posts.append(answer_took)
            statuses.append(answer_status)

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(phone, range(PHONES)))
    elapsed = time.monotonic() - start
    expected = {key: choices.count(key) for key in info["keys"]}
    return {
        "gets": gets,
        "posts": posts,
        "statuses": statuses,
        "elapsed": elapsed,
        "expected": expected,
    }


def presenter_counts(base: str, info: dict) -> tuple[int, dict]:
    """Sign in as the facilitator, reveal the results and read the live fragment's figures."""
    p = Phone(base)
    _status, body, _took = p.get("/account/login")
    token = _csrf(body)
    p.post(
        "/account/login",
        {"csrf_token": token, "email": "bench-facilitator@example.org", "password": PASSWORD},
    )
    _status, page, _took = p.get(f"/workshops/{info['session_id']}/present")
    token = _csrf(page)
    p.post(f"/workshops/slides/{info['slide_id']}/reveal", {"csrf_token": token, "revealed": "1"})
    _status, fragment, _took = p.get(f"/workshops/slides/{info['slide_id']}/live")
    count = int(re.search(r'data-count="(\d+)"', fragment).group(1))
    cells = dict(
        re.findall(r'<th scope="row">([^<]+)</th><td class="num">([\d.,]+)</td>', fragment)
    )
    return count, cells


def run_dashboard(base: str, n: int = 30) -> list[float]:
    times = []
    p = Phone(base)
    p.get("/dashboard")  # warm the worker's caches once
    for _ in range(n):
        _status, _body, took = p.get("/dashboard")
        times.append(took)
    return times


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="civic-bench-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secrets.token_hex(32),
        "CIVIC_UPLOAD_FOLDER": str(workdir / "uploads"),
        "CIVIC_ENV": "development",
    }
    if database_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        from civic.config import _normalise_db_url

        engine = create_engine(_normalise_db_url(database_url))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    print(
        f"database: {database_url.split('@')[-1]}; redis: {REDIS_URL}; phones: {PHONES} in {WINDOW_S:g} s"
    )
    t0 = time.monotonic()
    info = _prepare(env)
    print(f"prepared (migrations + demo city) in {time.monotonic() - t0:.1f} s")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    workers = os.environ.get("BENCH_WORKERS", "4")
    server = subprocess.Popen(  # noqa: S603 - our own gunicorn on 127.0.0.1
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-w",
            workers,
            "-k",
            "gthread",
            "--threads",
            "8",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "civic:create_app()",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    failures = []
    try:
        _wait_up(base)
        reference = _healthz(base)
        ref_p95 = _percentile(reference, 95)
        room = run_room(base, info)
        recorded_ok = room["statuses"].count(302)
        count, cells = presenter_counts(base, info)
        from civic import create_app
        from civic.extensions import db
        from civic.workshops import services

        os.environ.update(env)
        app = create_app({"REDIS_URL": ""})
        with app.app_context():
            stored = services.count_answers(info["slide_id"])
            slide = db.session.get(services.Slide, info["slide_id"])
            per_option = dict(services.question_results(slide).choices.counts)
            db.engine.dispose()
        post_p95 = _percentile(room["posts"], 95)
        print("\n== 300 phones answer one question ==")
        print(
            f"window used: {room['elapsed']:.1f} s; answers accepted (302): {recorded_ok}/{PHONES}; other statuses: {sorted(set(room['statuses']) - {302})}"
        )
        print(
            f"answer POST latency: median {statistics.median(room['posts']) * 1000:.0f} ms, p95 {post_p95 * 1000:.0f} ms, max {max(room['posts']) * 1000:.0f} ms"
        )
        print(
            f"joining GET /w/CODE latency (300 phones over 5 s): median {statistics.median(room['gets']) * 1000:.0f} ms, p95 {_percentile(room['gets'], 95) * 1000:.0f} ms"
        )
        print(
            f"reference /healthz p95 {ref_p95 * 1000:.1f} ms; answer p95 / healthz p95 = {post_p95 / ref_p95:.1f}x"
        )
        print(
            f"stored answers: {stored}; presenter's live count: {count}; per option stored {per_option} vs sent {room['expected']}"
        )
        print(f"presenter's table: {cells}")
        if stored != PHONES or recorded_ok != PHONES:
            failures.append("not every answer was recorded")
        if count != PHONES or per_option != room["expected"]:
            failures.append("the presenter's counts are not exact")
        if post_p95 >= 0.2:
            failures.append(f"p95 {post_p95 * 1000:.0f} ms is not under 200 ms")
        if room["elapsed"] > WINDOW_S + 5:
            failures.append("the room took far longer than the window")
        dash = run_dashboard(base)
        print("\n== dashboard with the seeded city ==")
        print(
            f"GET /dashboard: median {statistics.median(dash) * 1000:.0f} ms, p95 {_percentile(dash, 95) * 1000:.0f} ms, max {max(dash) * 1000:.0f} ms (30 sequential requests)"
        )
        print(
            f"dashboard median / healthz median = {statistics.median(dash) / statistics.median(reference):.1f}x"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        redis.Redis.from_url(REDIS_URL).flushdb()
    if failures:
        print("\nFAILED: " + "; ".join(failures))
        return 1
    print("\nOK: every answer recorded, p95 under 200 ms, presenter's counts exact.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
