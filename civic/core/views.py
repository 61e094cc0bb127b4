"""Home, health, uploads and the files they serve."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import text

from civic.core import uploads
from civic.core.errors import DomainError
from civic.core.rendering import render
from civic.extensions import csrf, db
from civic.jobs import enqueue, redis_connection

bp = Blueprint("core", __name__)


@bp.get("/")
def home():
    """The city's front page: what residents can do here."""
    return render("core/home.html")


@bp.get("/privacy")
def privacy():
    """What Civic collects and why."""
    return render("core/privacy.html")


@bp.get("/healthz")
@csrf.exempt
def healthz():
    """Database and Redis status as JSON (Redis 'not configured' is healthy when embedded)."""
    checks: dict[str, str] = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure means unhealthy; details stay in the log
        checks["database"] = "error"
        healthy = False
        db.session.rollback()
    conn = None
    try:
        conn = redis_connection()
        if conn is None:
            checks["redis"] = "not configured"
        else:
            conn.ping()
            checks["redis"] = "ok"
    except Exception:
        checks["redis"] = "error"
        healthy = False
    return jsonify(status="ok" if healthy else "error", checks=checks), 200 if healthy else 503


@bp.post("/files")
@login_required
def upload_image():
    """Store an uploaded image (metadata stripped) and return where it is served."""
    photo = request.files.get("photo")
    if photo is None:
        return jsonify(error=_("Please choose an image to upload.")), 400
    try:
        stored = uploads.store_image(photo.read(), owner_id=current_user.id)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return jsonify(error=str(error.message)), error.status_code
    enqueue(uploads.make_image_derivatives, stored.id)
    return jsonify(id=stored.id, url=f"/files/{stored.key}"), 201


@bp.get("/files/<path:key>")
def serve_file(key: str):
    """Serve a stored file with its real type and long caching (keys never change content)."""
    stored = uploads.get_file_by_key(key)
    storage = uploads.get_storage()
    if stored is None or not storage.exists(key):
        abort(404)
    response = send_file(storage.open(key), mimetype=stored.content_type, max_age=31536000)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
