"""Workshop pages: facilitators build and present sessions under /workshops; the room joins at
/w/<code> without an account."""

from __future__ import annotations

import io
import json
import secrets
import time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer

from civic.config import LANGUAGES
from civic.core.auth import roles_required
from civic.core.errors import DomainError
from civic.core.forms import choices
from civic.core.i18n import current_locale_code, pick_text
from civic.core.rendering import is_htmx, render
from civic.opendata import charting, stats
from civic.workshops import services
from civic.workshops.forms import DatasetForm, JoinForm, SessionForm, SlideForm
from civic.workshops.sources import CHART_SOURCES, available_sources

bp = Blueprint("workshops", __name__)

facilitator_required = roles_required("facilitator")
DEVICE_COOKIE = "civic_device"
DEVICE_SALT = "workshop-device"
EVENT_STREAM_SECONDS = 55


@bp.context_processor
def _helpers():
    return {
        "option_label": services.option_label,
        "state_labels": services.STATE_LABELS,
        "question_labels": services.QUESTION_LABELS,
        "kind_labels": services.KIND_LABELS,
        "chart_sources": CHART_SOURCES,
    }


# -- The audience's device ------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=DEVICE_SALT)


def device_id() -> str:
    """This phone's random id from its signed cookie, made on first visit."""
    if "device_id" in g:
        return g.device_id
    raw = request.cookies.get(DEVICE_COOKIE)
    value = None
    if raw:
        try:
            value = _serializer().loads(raw)
        except BadSignature:
            value = None
    if not isinstance(value, str) or not services.DEVICE_ID.match(value):
        value = secrets.token_hex(16)
        g.new_device = True
    g.device_id = value
    return value


@bp.after_app_request
def _set_device_cookie(response):
    if g.get("new_device"):
        response.set_cookie(
            DEVICE_COOKIE,
            _serializer().dumps(g.device_id),
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            path="/w",
        )
    return response


# -- Audience -------------------------------------------------------------------------------


@bp.route("/w", methods=["GET", "POST"])
def join():
    """Enter the code shown on the screen."""
    form = JoinForm()
    status = 200
    if form.validate_on_submit():
        try:
            session = services.get_session_by_code(form.code.data)
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            return redirect(url_for("workshops.audience", code=session.code))
    elif form.is_submitted():
        status = 400
    return render("workshops/join.html", form=form, status=status)


def _audience_context(session, error_slide_id=None, error=None, values=None):
    device = device_id()
    answered = services.answered_slide_ids(session.id, device)
    live = services.live_questions(session)
    pending = [s for s in live if s.id not in answered]
    question = None
    if error_slide_id is not None:
        question = next((s for s in session.slides if s.id == error_slide_id), None)
    if question is None:
        if session.is_self_paced:
            question = pending[0] if pending else None
        else:
            current = services.current_slide(session)
            question = current if current in pending else None
    current = services.current_slide(session)
    just_answered = None
    if not session.is_self_paced and current is not None and current.id in answered:
        just_answered = current
    revealed = []
    for slide in session.slides:
        if slide.kind == "question" and slide.is_revealed and slide.id in answered:
            results = services.question_results(slide)
            revealed.append((slide, results, services.results_chart(results)))
    return {
        "session": session,
        "question": question,
        "error": error,
        "values": values or {},
        "live_count": len(live),
        "answered_count": len([s for s in live if s.id in answered]),
        "current": current,
        "just_answered": just_answered,
        "revealed": revealed[-3:],
        "marker": _audience_marker(session),
    }


def _audience_marker(session) -> str:
    """What the audience page shows; when it changes, a polling page reloads."""
    live = ",".join(str(s.id) for s in services.live_questions(session))
    revealed = ",".join(str(s.id) for s in session.slides if s.is_revealed)
    return f"{session.state}:{session.current_slide_id}:{live}:{revealed}"


@bp.get("/w/<code>")
def audience(code: str):
    """The room's page: the live question, in the reader's language; no account needed."""
    try:
        session = services.get_session_by_code(code)
    except DomainError as error:
        form = JoinForm(formdata=None, code=code)
        form.add_domain_error(error)
        return render("workshops/join.html", form=form, status=error.status_code)
    if session.code != code:
        return redirect(url_for("workshops.audience", code=session.code))
    try:
        services.check_joinable(session)
    except DomainError as error:
        return render(
            "workshops/ended.html", session=session, message=error.message, status=error.status_code
        )
    return render("workshops/audience.html", **_audience_context(session))


@bp.get("/w/<code>/poll")
def audience_poll(code: str):
    """For htmx: 204 while nothing changed, else ask the page to reload."""
    session = services.get_session_by_code(code)
    if request.args.get("marker") == _audience_marker(session):
        return Response(status=204)
    response = Response(status=204)
    response.headers["HX-Refresh"] = "true"
    return response


def _answer_input() -> services.AnswerInput:
    form = request.form
    rating = form.get("rating", "")
    return services.AnswerInput(
        choices=tuple(form.getlist("choice")),
        rating=int(rating) if rating.isdigit() else None,
        text=form.get("text", ""),
        ranks={k[5:]: v for k, v in form.items() if k.startswith("rank-")},
    )


@bp.post("/w/<code>/<int:slide_id>")
def answer(code: str, slide_id: int):
    """Record this phone's answer; the form comes back filled with the reason if refused."""
    data = _answer_input()
    try:
        services.submit_answer(code, slide_id, device_id(), data, current_locale_code())
    except DomainError as error:
        try:
            session = services.get_session_by_code(code)
        except DomainError:
            form = JoinForm(formdata=None, code=code)
            form.add_domain_error(error)
            return render("workshops/join.html", form=form, status=error.status_code)
        if session.state != "live":
            return render(
                "workshops/ended.html",
                session=session,
                message=error.message,
                status=error.status_code,
            )
        values = {
            "choices": data.choices,
            "rating": data.rating,
            "text": data.text,
            "ranks": data.ranks,
        }
        context = _audience_context(
            session, error_slide_id=slide_id if error.field else None, error=error, values=values
        )
        return render("workshops/audience.html", status=error.status_code, **context)
    flash(_("Thank you! Your answer is recorded."), "success")
    return redirect(url_for("workshops.audience", code=services.normalise_code(code)))


# -- Facilitators: sessions -----------------------------------------------------------------


@bp.get("/workshops/")
@facilitator_required
def index():
    """The facilitator's sessions, and new ones."""
    form = SessionForm(formdata=None, locale=current_locale_code())
    return render(
        "workshops/index.html",
        sessions=services.list_sessions(current_user.id),
        form=form,
    )


@bp.post("/workshops/new")
@facilitator_required
def create():
    """Create a session."""
    form = SessionForm()
    if form.validate_on_submit():
        try:
            session = services.create_session(
                current_user.id,
                {form.locale.data: form.title.data},
                is_self_paced=form.is_self_paced.data,
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = error.status_code
        else:
            return redirect(url_for("workshops.edit", session_id=session.id))
    else:
        status = 400
    return render(
        "workshops/index.html",
        sessions=services.list_sessions(current_user.id),
        form=form,
        status=status,
    )


@bp.post("/workshops/readiness")
@facilitator_required
def create_readiness():
    """Start a data readiness check from the built-in template."""
    session = services.create_readiness_session(current_user.id)
    flash(_("The data readiness check is ready: 19 statements rated from 1 to 5."), "success")
    return redirect(url_for("workshops.edit", session_id=session.id))


def _slide_form(session, formdata=None, slide=None, locale=None):
    locale = locale or current_locale_code()
    data = {"locale": locale}
    if slide is not None:
        data.update(
            kind=slide.kind,
            title=(slide.title or {}).get(locale, ""),
            body=(slide.body or {}).get(locale, ""),
            question_type=slide.question_type,
            options="\n".join(o["label"].get(locale, "") for o in slide.options),
            chart_source=slide.chart_source,
            chart_type=slide.chart_type,
            **{
                k: v
                for k, v in (slide.chart_params or {}).items()
                if k
                in (
                    "days",
                    "poll_id",
                    "budget_id",
                    "challenge_id",
                    "challenge_dataset_id",
                    "dataset_id",
                )
            },
        )
    form = SlideForm(formdata=formdata, **data)
    form.chart_source.choices = choices((s.key, s.label) for s in available_sources())
    none = [(0, "—")]
    form.poll_id.choices = choices(
        none + (stats.list_closed_polls() if stats.polls_available() else [])
    )
    form.budget_id.choices = choices(none + stats.list_published_budgets())
    challenge_rows = []
    if stats.challenges_available():
        challenge_rows = [
            (c["id"], str(c["title"])) for c in stats.public_challenges() if c.get("has_results")
        ]
    form.challenge_id.choices = choices(none + challenge_rows)
    open_csv = []
    if stats.challenges_available():
        open_csv = [
            (d.id, pick_text(d.title).text)
            for d in stats.open_challenge_datasets()
            if d.file_kind == "csv"
        ]
    form.challenge_dataset_id.choices = choices(none + open_csv)
    form.dataset_id.choices = choices(
        none + [(d.id, d.name) for d in services.list_datasets(session.id)]
    )
    return form


def _slide_input(form: SlideForm) -> services.SlideInput:
    return services.SlideInput(
        kind=form.kind.data,
        locale=form.locale.data,
        title=form.title.data or "",
        body=form.body.data or "",
        question_type=form.question_type.data or None,
        options_text=form.options.data or "",
        chart_source=form.chart_source.data or None,
        chart_type=form.chart_type.data or None,
        params={
            "days": form.days.data,
            "poll_id": form.poll_id.data or None,
            "budget_id": form.budget_id.data or None,
            "challenge_id": form.challenge_id.data or None,
            "challenge_dataset_id": form.challenge_dataset_id.data or None,
            "dataset_id": form.dataset_id.data or None,
        },
    )


def _edit_page(session, status=200, **forms):
    settings = forms.pop("settings_form", None) or SessionForm(
        formdata=None,
        locale=current_locale_code(),
        title=pick_text(session.title).text,
        is_self_paced=session.is_self_paced,
    )
    return render(
        "workshops/edit.html",
        session=session,
        settings_form=settings,
        slide_form=forms.pop("slide_form", None) or _slide_form(session),
        dataset_form=forms.pop("dataset_form", None) or DatasetForm(formdata=None),
        datasets=services.list_datasets(session.id),
        answer_counts={
            s.id: services.count_answers(s.id) for s in session.slides if s.kind == "question"
        },
        join_url=url_for("workshops.audience", code=session.code, _external=True),
        status=status,
    )


@bp.get("/workshops/<int:session_id>")
@facilitator_required
def edit(session_id: int):
    """Build the session: settings, slides, CSV files, start and end."""
    return _edit_page(services.get_owned_session(current_user.id, session_id))


@bp.post("/workshops/<int:session_id>/settings")
@facilitator_required
def settings(session_id: int):
    """Rename the session (in a language) and set its pace."""
    session = services.get_owned_session(current_user.id, session_id)
    form = SessionForm()
    if form.validate_on_submit():
        try:
            services.rename_session(
                current_user.id,
                session.id,
                form.locale.data,
                form.title.data,
                form.is_self_paced.data,
            )
        except DomainError as error:
            form.add_domain_error(error)
            return _edit_page(session, status=error.status_code, settings_form=form)
        flash(_("Saved."), "success")
        return redirect(url_for("workshops.edit", session_id=session.id))
    return _edit_page(session, status=400, settings_form=form)


@bp.post("/workshops/<int:session_id>/slides")
@facilitator_required
def add_slide(session_id: int):
    """Append a slide."""
    session = services.get_owned_session(current_user.id, session_id)
    form = _slide_form(session, formdata=request.form)
    if form.validate_on_submit():
        try:
            services.add_slide(current_user.id, session.id, _slide_input(form))
        except DomainError as error:
            form.add_domain_error(error)
            return _edit_page(session, status=error.status_code, slide_form=form)
        flash(_("Slide added."), "success")
        return redirect(url_for("workshops.edit", session_id=session.id) + "#slides")
    return _edit_page(session, status=400, slide_form=form)


@bp.route("/workshops/slides/<int:slide_id>/edit", methods=["GET", "POST"])
@facilitator_required
def edit_slide(slide_id: int):
    """Change a slide, or write it in another language (?locale=)."""
    slide = services.get_owned_slide(current_user.id, slide_id)
    session = slide.session
    status = 200
    if request.method == "POST":
        form = _slide_form(session, formdata=request.form, slide=slide)
        if form.validate_on_submit():
            try:
                services.update_slide(current_user.id, slide.id, _slide_input(form))
            except DomainError as error:
                form.add_domain_error(error)
                status = error.status_code
            else:
                flash(_("Slide saved."), "success")
                return redirect(
                    url_for("workshops.edit", session_id=session.id) + f"#slide-{slide.id}"
                )
        else:
            status = 400
    else:
        locale = request.args.get("locale") or current_locale_code()
        form = _slide_form(session, slide=slide, locale=locale if locale in LANGUAGES else None)
    return render(
        "workshops/slide_form.html", form=form, slide=slide, session=session, status=status
    )


@bp.post("/workshops/slides/<int:slide_id>/move")
@facilitator_required
def move_slide(slide_id: int):
    """Move a slide up or down."""
    slide = services.move_slide(
        current_user.id, slide_id, -1 if request.form.get("direction") == "up" else 1
    )
    return redirect(url_for("workshops.edit", session_id=slide.session_id) + "#slides")


@bp.post("/workshops/slides/<int:slide_id>/delete")
@facilitator_required
def delete_slide(slide_id: int):
    """Delete a slide without answers."""
    slide = services.get_owned_slide(current_user.id, slide_id)
    session_id = slide.session_id
    services.delete_slide(current_user.id, slide_id)
    flash(_("Slide deleted."), "success")
    return redirect(url_for("workshops.edit", session_id=session_id) + "#slides")


@bp.post("/workshops/<int:session_id>/datasets")
@facilitator_required
def upload_dataset(session_id: int):
    """Upload a CSV file for data slides."""
    session = services.get_owned_session(current_user.id, session_id)
    form = DatasetForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read() if upload and getattr(upload, "filename", "") else b""
        try:
            services.upload_dataset(
                current_user.id,
                session.id,
                form.name.data or (upload.filename if upload else ""),
                data,
            )
        except DomainError as error:
            form.add_domain_error(error)
            return _edit_page(session, status=error.status_code, dataset_form=form)
        flash(_("The table is uploaded: choose it in a data slide."), "success")
        return redirect(url_for("workshops.edit", session_id=session.id) + "#datasets")
    return _edit_page(session, status=400, dataset_form=form)


def _state_action(session_id: int, action, message: str):
    services.get_owned_session(current_user.id, session_id)
    try:
        action(current_user.id, session_id)
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(message, "success")


@bp.post("/workshops/<int:session_id>/start")
@facilitator_required
def start(session_id: int):
    """Open the session to the room and go to the presenter view."""
    services.get_owned_session(current_user.id, session_id)  # 403 for others, not a flash
    try:
        services.start_session(current_user.id, session_id)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("workshops.edit", session_id=session_id))
    return redirect(url_for("workshops.present", session_id=session_id))


@bp.post("/workshops/<int:session_id>/close")
@facilitator_required
def close(session_id: int):
    """End the session."""
    _state_action(
        session_id, services.close_session, _("The session has ended; no more answers are taken.")
    )
    return redirect(url_for("workshops.results", session_id=session_id))


@bp.post("/workshops/<int:session_id>/publish")
@facilitator_required
def publish(session_id: int):
    """Publish the results as open data, or withdraw them."""
    services.get_owned_session(current_user.id, session_id)  # 403 for others, not a flash
    published = request.form.get("published") == "1"
    try:
        services.set_results_published(current_user.id, session_id, published)
    except DomainError as error:
        flash(str(error.message), "error")
    else:
        flash(
            _("The results are published in the open data catalogue.")
            if published
            else _("The results are no longer published."),
            "success",
        )
    return redirect(url_for("workshops.results", session_id=session_id))


@bp.post("/workshops/<int:session_id>/delete")
@facilitator_required
def delete(session_id: int):
    """Delete a session that has no answers."""
    services.get_owned_session(current_user.id, session_id)  # 403 for others, not a flash
    try:
        services.delete_session(current_user.id, session_id)
    except DomainError as error:
        flash(str(error.message), "error")
        return redirect(url_for("workshops.edit", session_id=session_id))
    flash(_("The session is deleted."), "success")
    return redirect(url_for("workshops.index"))


# -- Presenting -----------------------------------------------------------------------------


def _join_short_url(session) -> str:
    return url_for("workshops.join", _external=True).split("://", 1)[-1]


def _live_context(slide):
    results = services.question_results(slide)
    return {
        "slide": slide,
        "results": results,
        "chart": services.results_chart(results) if slide.is_revealed else None,
        "text_answers": services.list_text_answers(slide.id)
        if slide.question_type == "text"
        else [],
        "poll_trigger": "every 10s, workshop-update from:body"
        if current_app.config.get("REDIS_URL")
        else "every 2s",
    }


@bp.get("/workshops/<int:session_id>/present")
@facilitator_required
def present(session_id: int):
    """The presenter view: full screen, large type, keyboard navigation, live results."""
    session = services.get_owned_session(current_user.id, session_id)
    if not session.slides:
        flash(_("Add at least one slide before presenting."), "warning")
        return redirect(url_for("workshops.edit", session_id=session.id))
    slide_id = request.args.get("slide", type=int) or session.current_slide_id
    slide = next((s for s in session.slides if s.id == slide_id), session.slides[0])
    chart = services.slide_chart(slide) if slide.kind == "data" else None
    context = {
        "session": session,
        "slide": slide,
        "chart": chart,
        "previous": services.neighbour_slide(session, slide, -1),
        "next": services.neighbour_slide(session, slide, 1),
        "index": session.slides.index(slide) + 1,
        "join_url": url_for("workshops.audience", code=session.code, _external=True),
        "join_short": _join_short_url(session),
        "is_on_screen": session.current_slide_id == slide.id,
        "events_url": url_for("workshops.events", session_id=session.id)
        if current_app.config.get("REDIS_URL")
        else None,
    }
    if slide.kind == "question":
        context.update(_live_context(slide))
    return render("workshops/present.html", **context)


@bp.post("/workshops/<int:session_id>/goto")
@facilitator_required
def goto(session_id: int):
    """Put a slide on screen (the room follows)."""
    slide_id = request.form.get("slide_id", type=int) or 0
    services.go_to_slide(current_user.id, session_id, slide_id)
    return redirect(url_for("workshops.present", session_id=session_id, slide=slide_id))


@bp.get("/workshops/slides/<int:slide_id>/live")
@facilitator_required
def live(slide_id: int):
    """A question's live count and (when revealed) results: the fragment htmx polls."""
    slide = services.get_owned_slide(current_user.id, slide_id)
    return render("workshops/_live_results.html", **_live_context(slide))


def _back_to_presenter(slide):
    if is_htmx():
        return render("workshops/_live_results.html", **_live_context(slide))
    return redirect(url_for("workshops.present", session_id=slide.session_id, slide=slide.id))


@bp.post("/workshops/slides/<int:slide_id>/reveal")
@facilitator_required
def reveal(slide_id: int):
    """Show (or hide again) a question's results on the screen."""
    slide = services.set_revealed(current_user.id, slide_id, request.form.get("revealed") == "1")
    return _back_to_presenter(slide)


@bp.post("/workshops/slides/<int:slide_id>/open")
@facilitator_required
def open_question(slide_id: int):
    """Open or close a question for answers."""
    slide = services.set_question_open(
        current_user.id, slide_id, request.form.get("is_open") == "1"
    )
    return _back_to_presenter(slide)


@bp.post("/workshops/answers/<int:answer_id>/hide")
@facilitator_required
def hide_answer(answer_id: int):
    """Hide a text answer from the word list, or show it again."""
    answer = services.hide_answer(current_user.id, answer_id, request.form.get("hidden") == "1")
    slide = services.get_owned_slide(current_user.id, answer.slide_id)
    return _back_to_presenter(slide)


@bp.get("/workshops/<int:session_id>/events")
@facilitator_required
def events(session_id: int):
    """Server-sent events from Redis pub/sub: 'results' or 'slide' when something changes.

    Each stream ends after a minute (EventSource reconnects), so a presenter never holds a
    worker for long."""
    session = services.get_owned_session(current_user.id, session_id)
    from civic.jobs import redis_connection

    conn = redis_connection()
    if conn is None:
        abort(404)
    channel = services.event_channel(session.id)

    def stream():
        # Needs no request context: the connection and channel are bound here.
        pubsub = conn.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel)
        try:
            yield "retry: 2000\n\n"
            deadline = time.monotonic() + EVENT_STREAM_SECONDS
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                message = pubsub.get_message(timeout=1)
                if message is None:
                    if time.monotonic() - quiet_since > 15:
                        quiet_since = time.monotonic()
                        yield ": keep-alive\n\n"
                    continue
                quiet_since = time.monotonic()
                data = message["data"]
                kind = data.decode() if isinstance(data, bytes) else str(data)
                yield f"event: update\ndata: {json.dumps(kind)}\n\n"
        finally:
            pubsub.close()

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.get("/workshops/<int:session_id>/qr.svg")
@facilitator_required
def qr_code(session_id: int):
    """A QR code of the join address, as SVG (drawn by the qrcode library, no JavaScript)."""
    import qrcode
    import qrcode.image.svg

    session = services.get_owned_session(current_user.id, session_id)
    image = qrcode.make(
        url_for("workshops.audience", code=session.code, _external=True),
        image_factory=qrcode.image.svg.SvgPathFillImage,
        border=2,
        box_size=10,
    )
    out = io.BytesIO()
    image.save(out)
    response = Response(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# -- Charts and results ---------------------------------------------------------------------


def _slide_chart_or_404(slide_id: int, public: bool = False):
    from civic.extensions import db
    from civic.workshops.models import Slide

    if public:
        slide = db.session.get(Slide, slide_id)
        if slide is None or slide.session.published_at is None or slide.kind != "question":
            abort(404)
    else:
        slide = services.get_owned_slide(current_user.id, slide_id)
    chart = services.slide_chart(slide)
    if chart is None:
        abort(404)
    chart_type = slide.chart_type if slide.kind == "data" else "bar"
    return slide, chart, chart_type


@bp.get("/workshops/slides/<int:slide_id>/chart.svg")
@facilitator_required
def chart_svg(slide_id: int):
    """A slide's chart as an SVG file."""
    slide, chart, chart_type = _slide_chart_or_404(slide_id)
    return charting.svg_response(chart, chart_type or "bar", f"civic-workshop-slide-{slide.id}")


@bp.get("/workshops/slides/<int:slide_id>/chart.csv")
@facilitator_required
def chart_csv(slide_id: int):
    """A slide's chart data as CSV."""
    slide, chart, _chart_type = _slide_chart_or_404(slide_id)
    return charting.csv_response(chart, f"civic-workshop-slide-{slide.id}")


def _results_context(session):
    items = []
    for slide in session.slides:
        if slide.kind != "question":
            continue
        results = services.question_results(slide)
        items.append((slide, results, services.results_chart(results)))
    return {
        "session": session,
        "items": items,
        "readiness": services.readiness_report(session),
        "readiness_chart": services.readiness_chart(session),
    }


@bp.get("/workshops/<int:session_id>/results")
@facilitator_required
def results(session_id: int):
    """Every question's results, the readiness scores, exports and publication."""
    session = services.get_owned_session(current_user.id, session_id)
    return render("workshops/results.html", public=False, **_results_context(session))


@bp.get("/workshops/<int:session_id>/results.csv")
@facilitator_required
def results_csv(session_id: int):
    """The session's results as CSV."""
    session = services.get_owned_session(current_user.id, session_id)
    response = Response(
        services.session_results_csv(session, current_locale_code()), mimetype="text/csv"
    )
    response.headers["Content-Disposition"] = (
        f"attachment; filename=civic-workshop-{session.id}.csv"
    )
    return response


@bp.get("/workshops/<int:session_id>/results.json")
@facilitator_required
def results_json(session_id: int):
    """The session's results as JSON."""
    session = services.get_owned_session(current_user.id, session_id)
    response = Response(
        json.dumps(services.session_results_data(session), ensure_ascii=False, indent=1),
        mimetype="application/json",
    )
    response.headers["Content-Disposition"] = (
        f"attachment; filename=civic-workshop-{session.id}.json"
    )
    return response


@bp.get("/workshops/published/<int:session_id>")
def public_results(session_id: int):
    """A session's results, once its facilitator published them (public)."""
    session = services.get_session(session_id)
    if session.published_at is None:
        abort(404)
    return render("workshops/results.html", public=True, **_results_context(session))


@bp.get("/workshops/published/slides/<int:slide_id>/chart.<fmt>")
def public_chart(slide_id: int, fmt: str):
    """A published question's results chart as SVG or CSV."""
    slide, chart, chart_type = _slide_chart_or_404(slide_id, public=True)
    if fmt == "svg":
        return charting.svg_response(chart, chart_type, f"civic-workshop-slide-{slide.id}")
    if fmt == "csv":
        return charting.csv_response(chart, f"civic-workshop-slide-{slide.id}")
    abort(404)
