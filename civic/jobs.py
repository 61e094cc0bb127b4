"""The one way to run slow work: an rq queue when REDIS_URL is set, inline otherwise.

Jobs are plain functions that take ids, load their rows, are safe to run twice and commit
themselves. The same function runs either way, so what the tests check inline is what a worker
runs in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

QUEUE_NAME = "civic"
RETRY_INTERVALS = [10, 60, 300]  # seconds: backoff between attempts of a failed job


@dataclass(frozen=True)
class JobHandle:
    """What enqueue returns: the rq job id, or the inline result."""

    id: str | None
    is_inline: bool
    result: Any = None


def redis_connection():
    """The Redis connection for jobs, or None in embedded mode."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    conn = current_app.extensions.get("civic_redis")
    if conn is None:
        from redis import Redis

        conn = Redis.from_url(url)
        current_app.extensions["civic_redis"] = conn
    return conn


def get_queue():
    """The rq queue (only when Redis is configured)."""
    from rq import Queue

    return Queue(QUEUE_NAME, connection=redis_connection())


def enqueue(func: Callable, *args: Any, **kwargs: Any) -> JobHandle:
    """Run `func(*args, **kwargs)` as a job: on rq with retries, or inline right now."""
    retries = current_app.config["CIVIC_JOB_RETRIES"]
    if redis_connection() is None:
        return JobHandle(None, True, _run_inline(func, retries, *args, **kwargs))
    from rq import Retry

    job = get_queue().enqueue(
        func,
        args=args,
        kwargs=kwargs or None,
        retry=Retry(max=retries, interval=RETRY_INTERVALS[:retries] or [10]) if retries else None,
        job_timeout=600,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )
    return JobHandle(job.id, False)


def _run_inline(func: Callable, retries: int, *args: Any, **kwargs: Any) -> Any:
    from civic.extensions import db

    for attempt in range(retries + 1):
        try:
            return func(*args, **kwargs)
        except Exception:
            db.session.rollback()
            if attempt == retries:
                raise
            current_app.logger.warning("Inline job %s failed, retrying", func.__name__)
    return None


def make_worker_class():
    """An rq SimpleWorker that gives every job a clean database session."""
    from rq import SimpleWorker

    from civic.extensions import db

    class CivicWorker(SimpleWorker):
        def perform_job(self, job, queue, *args, **kwargs):
            try:
                return super().perform_job(job, queue, *args, **kwargs)
            finally:
                db.session.remove()

    return CivicWorker


def run_worker(app: Flask, burst: bool = False) -> bool:
    """Run an rq worker inside an app context (`civic worker`); burst stops when the queue is empty."""
    with app.app_context():
        conn = redis_connection()
        if conn is None:
            raise RuntimeError("REDIS_URL is not set: jobs run inline, no worker is needed.")
        worker = make_worker_class()([get_queue()], connection=conn)
        return worker.work(burst=burst, with_scheduler=True)


def list_jobs(limit: int = 50) -> dict[str, list[dict]]:
    """Queued, running, failed and recently finished jobs, for the staff page."""
    if redis_connection() is None:
        return {}
    from rq.job import Job

    queue = get_queue()
    conn = redis_connection()
    groups = {
        "queued": queue.get_job_ids()[:limit],
        "running": queue.started_job_registry.get_job_ids()[:limit],
        "scheduled": queue.scheduled_job_registry.get_job_ids()[:limit],
        "failed": queue.failed_job_registry.get_job_ids()[:limit],
        "finished": queue.finished_job_registry.get_job_ids()[:limit],
    }
    result: dict[str, list[dict]] = {}
    for state, ids in groups.items():
        rows = []
        for job in Job.fetch_many(ids, connection=conn):
            if job is None:
                continue
            rows.append(
                {
                    "id": job.id,
                    "name": job.func_name,
                    "args": job.args,
                    "enqueued_at": job.enqueued_at,
                    "ended_at": job.ended_at,
                    "retries_left": job.retries_left,
                    "error": (
                        job.latest_result().exc_string
                        if state == "failed" and job.latest_result()
                        else None
                    ),
                }
            )
        result[state] = rows
    return result
