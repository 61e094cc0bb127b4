"""Participatory budgeting pages: processes, ideas, review, ballots, results, projects."""

from __future__ import annotations

from datetime import UTC

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required

from civic.budgeting import pbio, services
from civic.budgeting.forms import (
    BudgetForm,
    IdeaForm,
    ImportForm,
    MergeForm,
    PaperNumberForm,
    PhaseForm,
    ProcessForm,
    ProjectForm,
    ProjectUpdateForm,
    PromoteForm,
    ReviewForm,
)
from civic.core import geo
from civic.core.auth import admin_required, staff_required
from civic.core.errors import DomainError
from civic.core.forms import choices
from civic.core.i18n import pick_text, translatable
from civic.core.rendering import is_htmx, render
from civic.core.uploads import get_storage

bp = Blueprint("budgeting", __name__, url_prefix="/budgets")


@bp.context_processor
def _budgeting_helpers():
    return {"describe_ballot": services.describe_ballot}


def _is_staff() -> bool:
    return current_user.is_authenticated and current_user.has_role("staff")


def _district_choices(blank: str) -> list:
    return choices([(0, blank)] + [(d.id, pick_text(d.name).text) for d in geo.list_districts()])


def _aware(value):
    """A datetime-local value (city time) as aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=get_timezone()).astimezone(UTC)


def _photo_bytes(field) -> bytes | None:
    data = field.data
    if data and getattr(data, "filename", ""):
        return data.read()
    return None


# -- Public pages -----------------------------------------------------------------------------


@bp.get("/")
def index():
    """All processes, with their phase."""
    processes = services.list_processes()
    for process in processes:
        services.close_vote_if_due(process)
    return render(
        "budgeting/index.html",
        processes=processes,
        phase_of=services.current_phase,
        phase_labels=services.PHASE_LABELS,
    )


@bp.get("/<slug>")
def process(slug: str):
    """A process: its phase, budgets, and what a resident can do now."""
    proc = services.get_process(slug)
    services.close_vote_if_due(proc)
    phase = services.current_phase(proc)
    voted = {}
    if current_user.is_authenticated:
        voted = {b.id: services.has_voted(current_user.id, b.id) for b in proc.budgets}
    results = {b.id: services.get_results(b.id) for b in proc.budgets}
    return render(
        "budgeting/process.html",
        process=proc,
        phase=phase,
        phase_labels=services.PHASE_LABELS,
        voted=voted,
        results=results,
        rule_labels=services.RULE_LABELS,
        ballot_labels=services.BALLOT_TYPE_LABELS,
    )


@bp.get("/<slug>/ideas")
def ideas(slug: str):
    """The ideas of a process, filtered, with a map and a list."""
    proc = services.get_process(slug)
    items = services.list_ideas(
        proc.id,
        state=request.args.get("state") or None,
        category=request.args.get("category") or None,
        district_id=request.args.get("district", type=int) or None,
        sort=request.args.get("sort", "support"),
    )
    return render(
        "budgeting/ideas.html",
        fragment="budgeting/_idea_list.html",
        process=proc,
        ideas=items,
        phase=services.current_phase(proc),
        categories=services.CATEGORIES,
        districts=geo.list_districts(),
        args=request.args,
    )


@bp.route("/<slug>/ideas/new", methods=["GET", "POST"])
@login_required
def new_idea(slug: str):
    """Propose an idea (during the ideas phase)."""
    proc = services.get_process(slug)
    form = IdeaForm()
    form.district.choices = _district_choices(_("Choose on the map or below"))
    status = 200
    if services.current_phase(proc) != "ideas":
        flash(_("Ideas can only be proposed during the ideas phase."), "warning")
        return redirect(url_for("budgeting.process", slug=slug))
    if form.validate_on_submit():
        try:
            lat = float(form.latitude.data) if form.latitude.data else None
            lon = float(form.longitude.data) if form.longitude.data else None
        except ValueError:
            form.latitude.errors = [_("Please enter coordinates as numbers, like -22.95.")]
            status = 400
        else:
            try:
                idea = services.submit_idea(
                    current_user.id,
                    proc.id,
                    services.IdeaInput(
                        title=form.title.data,
                        description=form.description.data,
                        category=form.category.data,
                        estimated_cost=form.estimated_cost.data,
                        latitude=lat,
                        longitude=lon,
                        address=form.address.data,
                        district_id=form.district.data or None,
                        photo=_photo_bytes(form.photo),
                    ),
                )
            except DomainError as error:
                form.add_domain_error(error)
                status = error.status_code
            else:
                flash(_("Thank you! Your idea is published. City staff will review it."), "success")
                return redirect(url_for("budgeting.idea", idea_id=idea.id))
    elif form.is_submitted():
        status = 400
    return render(
        "budgeting/idea_form.html",
        form=form,
        process=proc,
        status=status,
        tile_url=current_app.config["CIVIC_TILE_URL"],
    )


@bp.get("/ideas/<int:idea_id>")
def idea(idea_id: int):
    """An idea, its public history, and support."""
    item = services.get_idea(idea_id)
    proc = services.get_process_by_id(item.process_id)
    supported = current_user.is_authenticated and services.has_supported(current_user.id, item.id)
    staff_forms = {}
    if _is_staff():
        promote = PromoteForm(formdata=None, prefix="promote")
        promote.budget.choices = choices((b.id, pick_text(b.name).text) for b in proc.budgets)
        staff_forms = {
            "review": ReviewForm(formdata=None, prefix="review"),
            "merge": MergeForm(formdata=None, prefix="merge"),
            "promote": promote,
        }
    return render(
        "budgeting/idea.html",
        fragment="budgeting/_support.html" if request.args.get("part") == "support" else None,
        idea=item,
        process=proc,
        phase=services.current_phase(proc),
        supported=supported,
        categories=services.CATEGORIES,
        staff_forms=staff_forms,
    )


@bp.post("/ideas/<int:idea_id>/support")
@login_required
def support(idea_id: int):
    """Support an idea, or withdraw support (works with and without htmx)."""
    try:
        if request.form.get("action") == "withdraw":
            item = services.withdraw_support(current_user.id, idea_id)
            message = _("You no longer support this idea.")
        else:
            item = services.support_idea(current_user.id, idea_id)
            message = _("Thank you, your support counts.")
    except DomainError as error:
        item = services.get_idea(idea_id)
        message = str(error.message)
    proc = services.get_process_by_id(item.process_id)
    if not is_htmx():
        flash(message, "info")
        return redirect(url_for("budgeting.idea", idea_id=idea_id))
    return render(
        "budgeting/_support.html",
        idea=item,
        process=proc,
        phase=services.current_phase(proc),
        supported=services.has_supported(current_user.id, idea_id),
        message=message,
    )


# -- Voting ------------------------------------------------------------------------------------


def _ballot_context(budget, check=None, saved=None):
    proc = budget.process
    problem = (
        services.eligibility_problem(current_user, budget)
        if current_user.is_authenticated
        else None
    )
    return {
        "process": proc,
        "budget": budget,
        "check": check,
        "saved": saved,
        "problem": problem,
        "vote_open": services.is_vote_open(proc),
        "ballot_labels": services.BALLOT_TYPE_LABELS,
        "categories": services.CATEGORIES,
    }


@bp.route("/<slug>/vote/<int:budget_id>", methods=["GET", "POST"])
@login_required
def vote(slug: str, budget_id: int):
    """The ballot: a plain form without JavaScript, checked live with htmx."""
    budget = services.get_budget(budget_id)
    if budget.process.slug != slug:
        abort(404)
    if request.method == "GET":
        mine = services.my_ballot(current_user.id, budget.id)
        check = services.check_ballot(budget, mine) if mine else services.check_ballot(budget, {})
        if not mine:
            check.errors = []
        return render("budgeting/ballot.html", **_ballot_context(budget, check, saved=bool(mine)))
    choices_ = services.parse_choices(budget, request.form.to_dict(flat=False))
    try:
        check = services.cast_ballot(current_user.id, budget.id, choices_)
    except DomainError as error:
        check = services.check_ballot(budget, choices_)
        if not check.errors:
            check.errors = [str(error.message)]
        return render(
            "budgeting/ballot.html",
            fragment="budgeting/_ballot_form.html",
            status=error.status_code,
            **_ballot_context(budget, check),
        )
    if not is_htmx():
        flash(_("Your ballot is saved. You can change it until the vote closes."), "success")
        return redirect(url_for("budgeting.vote", slug=slug, budget_id=budget.id))
    return render("budgeting/_ballot_form.html", **_ballot_context(budget, check, saved=True))


@bp.post("/<slug>/vote/<int:budget_id>/check")
@login_required
def check_ballot(slug: str, budget_id: int):
    """htmx: what the ballot spends and what is left, before it is submitted."""
    budget = services.get_budget(budget_id)
    choices_ = services.parse_choices(budget, request.form.to_dict(flat=False))
    check = services.check_ballot(budget, choices_)
    if not choices_:
        check.errors = []
    return render("budgeting/_ballot_summary.html", **_ballot_context(budget, check))


@bp.route("/<slug>/paper/<int:budget_id>", methods=["GET", "POST"])
@staff_required
def paper_ballot(slug: str, budget_id: int):
    """Staff enter paper ballots from service desks."""
    budget = services.get_budget(budget_id)
    form = PaperNumberForm()
    check, status = None, 200
    if form.validate_on_submit():
        choices_ = services.parse_choices(budget, request.form.to_dict(flat=False))
        try:
            services.enter_paper_ballot(
                current_user.id, budget.id, form.paper_number.data, choices_
            )
        except DomainError as error:
            check = services.check_ballot(budget, choices_)
            if error.field == "paper_number":
                form.add_domain_error(error)
            elif not check.errors:
                check.errors = [str(error.message)]
            status = error.status_code
        else:
            flash(
                _(
                    "Paper ballot %(number)s entered.",
                    number=form.paper_number.data.strip().upper(),
                ),
                "success",
            )
            return redirect(url_for("budgeting.paper_ballot", slug=slug, budget_id=budget.id))
    elif form.is_submitted():
        status = 400
    return render(
        "budgeting/paper_ballot.html",
        form=form,
        status=status,
        count=services.count_ballots(budget.id),
        **_ballot_context(budget, check),
    )


# -- Results -----------------------------------------------------------------------------------


@bp.get("/<slug>/results/<int:budget_id>")
def results(slug: str, budget_id: int):
    """Funded projects and why the others were not, and what greedy counting would have done."""
    budget = services.get_budget(budget_id)
    if budget.process.slug != slug:
        abort(404)
    services.close_vote_if_due(budget.process)
    result = services.get_results(budget.id, include_unpublished=_is_staff())
    if result is None:
        return render(
            "budgeting/results_pending.html", process=budget.process, budget=budget, status=404
        )
    projects = {p.code: p for p in budget.projects}
    data = result.outcome
    funded = [projects[c] for c in data["selected"] if c in projects]
    unfunded = sorted(
        (p for p in budget.projects if p.code not in set(data["selected"])),
        key=lambda p: -float(data["projects"][p.code]["score"] or 0),
    )
    greedy_only = [projects[c] for c in data["greedy_selected"] if c not in set(data["selected"])]
    rule_only = [projects[c] for c in data["selected"] if c not in set(data["greedy_selected"])]
    return render(
        "budgeting/results.html",
        process=budget.process,
        budget=budget,
        result=result,
        data=data,
        funded=funded,
        unfunded=unfunded,
        greedy_only=greedy_only,
        rule_only=rule_only,
        rule_labels=services.RULE_LABELS,
        paper_count=services.count_paper_ballots(budget.id),
    )


@bp.get("/results/<int:budget_id>.pb")
def results_file(budget_id: int):
    """The anonymised Pabulib file of a published result, to recount it anywhere."""
    result = services.get_results(budget_id, include_unpublished=_is_staff())
    if result is None or not result.pb_file_key:
        abort(404)
    with get_storage().open(result.pb_file_key) as handle:
        data = handle.read()
    return Response(
        data,
        mimetype="text/plain",
        headers={"Content-Disposition": f"attachment; filename=civic-budget-{budget_id}.pb"},
    )


@bp.post("/results/<int:budget_id>/compute")
@staff_required
def compute(budget_id: int):
    """Staff (re)compute a closed budget's results."""
    from civic.budgeting.jobs import compute_results
    from civic.jobs import enqueue

    budget = services.get_budget(budget_id)
    if budget.process.vote_closed_at is None:
        flash(_("Close the vote before computing results."), "warning")
    else:
        enqueue(compute_results, budget.id)
        flash(_("The results are being computed."), "info")
    return redirect(url_for("budgeting.results", slug=budget.process.slug, budget_id=budget.id))


@bp.post("/results/<int:budget_id>/publish")
@staff_required
def publish(budget_id: int):
    """Staff publish the computed results."""
    budget = services.get_budget(budget_id)
    services.publish_results(current_user.id, budget.id)
    flash(_("The results are published."), "success")
    return redirect(url_for("budgeting.results", slug=budget.process.slug, budget_id=budget.id))


# -- Funded projects ---------------------------------------------------------------------------


@bp.get("/projects")
def projects():
    """Funded projects by district, on a map and in a list."""
    district_id = request.args.get("district", type=int) or None
    return render(
        "budgeting/projects.html",
        projects=services.list_funded_projects(district_id),
        districts=geo.list_districts(),
        district_id=district_id,
        status_labels=services.STATUS_LABELS,
    )


@bp.get("/projects/<int:project_id>")
def project(project_id: int):
    """A project: cost, status, progress and dated updates."""
    item = services.get_project(project_id)
    following = current_user.is_authenticated and services.is_following(current_user.id, item.id)
    return render(
        "budgeting/project.html",
        project=item,
        following=following,
        status_labels=services.STATUS_LABELS,
        update_form=ProjectUpdateForm(
            formdata=None,
            status=item.status if item.status != "proposed" else "planned",
            progress=item.progress,
        )
        if _is_staff()
        else None,
    )


@bp.post("/projects/<int:project_id>/follow")
@login_required
def follow(project_id: int):
    """Follow or stop following a project."""
    services.follow_project(current_user.id, project_id, request.form.get("action") != "unfollow")
    flash(_("Saved."), "success")
    return redirect(url_for("budgeting.project", project_id=project_id))


@bp.post("/projects/<int:project_id>/update")
@staff_required
def project_update(project_id: int):
    """Staff post an implementation update."""
    item = services.get_project(project_id)
    form = ProjectUpdateForm()
    if form.validate_on_submit():
        try:
            services.update_project(
                current_user.id,
                project_id,
                form.status.data,
                form.progress.data,
                form.message.data,
                _photo_bytes(form.photo),
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Update published."), "success")
            return redirect(url_for("budgeting.project", project_id=project_id))
    return render(
        "budgeting/project.html",
        project=item,
        following=False,
        status_labels=services.STATUS_LABELS,
        update_form=form,
        status=400,
    )


@bp.get("/map.geojson")
def map_points():
    """Ideas of a process, or funded projects, as GeoJSON points for the map."""
    features = []
    slug = request.args.get("process")
    if slug:
        proc = services.get_process(slug)
        for item in services.list_ideas(proc.id):
            if item.latitude is not None and item.state != "merged":
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [item.longitude, item.latitude],
                        },
                        "properties": {
                            "title": item.title,
                            "url": url_for("budgeting.idea", idea_id=item.id),
                        },
                    }
                )
    else:
        for item in services.list_funded_projects():
            if item.latitude is not None:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [item.longitude, item.latitude],
                        },
                        "properties": {
                            "title": pick_text(item.title).text,
                            "url": url_for("budgeting.project", project_id=item.id),
                        },
                    }
                )
    return jsonify(type="FeatureCollection", features=features)


@bp.get("/districts.geojson")
def district_outlines():
    """District outlines for maps (they render even with no tiles)."""
    return jsonify(geo.districts_feature_collection())


# -- Staff: processes, budgets, review ---------------------------------------------------------


@bp.route("/manage/new", methods=["GET", "POST"])
@staff_required
def new_process():
    """Create a process with its dates."""
    form = ProcessForm()
    status = 200
    if form.validate_on_submit():
        try:
            proc = services.create_process(
                current_user.id,
                translatable(form.title.data),
                translatable(form.description.data or ""),
                ideas_start=_aware(form.ideas_start.data),
                review_start=_aware(form.review_start.data),
                voting_start=_aware(form.voting_start.data),
                voting_end=_aware(form.voting_end.data),
                implementation_start=_aware(form.implementation_start.data),
            )
        except DomainError as error:
            form.add_domain_error(error)
            status = 400
        else:
            flash(_("Process created. Now add its budgets."), "success")
            return redirect(url_for("budgeting.manage", slug=proc.slug))
    elif form.is_submitted():
        status = 400
    return render("budgeting/process_form.html", form=form, status=status)


def _manage_context(proc, budget_form=None, phase_form=None, project_form=None):
    budget_form = budget_form or BudgetForm(formdata=None)
    budget_form.district.choices = _district_choices(_("City-wide"))
    project_form = project_form or ProjectForm(formdata=None, prefix="project")
    project_form.budget.choices = choices((b.id, pick_text(b.name).text) for b in proc.budgets)
    project_form.district.choices = _district_choices(_("No particular district"))
    phase_form = phase_form or PhaseForm(formdata=None, phase=proc.phase_override or "")
    return {
        "process": proc,
        "phase": services.current_phase(proc),
        "phase_labels": services.PHASE_LABELS,
        "budget_form": budget_form,
        "phase_form": phase_form,
        "project_form": project_form,
        "ballot_counts": {b.id: services.count_ballots(b.id) for b in proc.budgets},
        "paper_counts": {b.id: services.count_paper_ballots(b.id) for b in proc.budgets},
        "results": {
            b.id: services.get_results(b.id, include_unpublished=True) for b in proc.budgets
        },
        "rule_labels": services.RULE_LABELS,
        "ballot_labels": services.BALLOT_TYPE_LABELS,
        "pending": services.list_ideas(proc.id, state="submitted"),
    }


@bp.get("/<slug>/manage")
@staff_required
def manage(slug: str):
    """Staff overview: phase, budgets, ballots received, results to publish, ideas to review."""
    return render("budgeting/manage.html", **_manage_context(services.get_process(slug)))


@bp.post("/<slug>/budgets")
@staff_required
def add_budget(slug: str):
    """Add a budget to a process."""
    proc = services.get_process(slug)
    form = BudgetForm()
    form.district.choices = _district_choices(_("City-wide"))
    if form.validate_on_submit():
        try:
            services.add_budget(
                current_user.id,
                proc.id,
                translatable(form.name.data),
                form.amount.data,
                form.ballot_type.data,
                district_id=form.district.data or None,
                max_choices=form.max_choices.data,
                points_total=form.points_total.data,
                points_per_project=form.points_per_project.data,
                min_share=(form.min_share.data / 100) if form.min_share.data else None,
                rule=form.rule.data,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Budget added."), "success")
            return redirect(url_for("budgeting.manage", slug=slug))
    return render("budgeting/manage.html", status=400, **_manage_context(proc, budget_form=form))


@bp.post("/<slug>/projects")
@staff_required
def add_project(slug: str):
    """Put a project on a budget's ballot directly (ideas can also be promoted)."""
    proc = services.get_process(slug)
    form = ProjectForm(prefix="project")
    form.budget.choices = choices((b.id, pick_text(b.name).text) for b in proc.budgets)
    form.district.choices = _district_choices(_("No particular district"))
    if form.validate_on_submit():
        budget = services.get_budget(form.budget.data)
        if budget.process_id != proc.id:
            abort(404)
        try:
            services.add_project(
                current_user.id,
                budget.id,
                translatable(form.title.data),
                form.cost.data,
                description=translatable(form.description.data or ""),
                category=form.category.data,
                district_id=form.district.data or budget.district_id,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Project added to the ballot."), "success")
            return redirect(url_for("budgeting.manage", slug=slug))
    return render("budgeting/manage.html", status=400, **_manage_context(proc, project_form=form))


@bp.post("/<slug>/phase")
@staff_required
def set_phase(slug: str):
    """Move the process to a phase by hand (closing the vote destroys the ballot keys)."""
    proc = services.get_process(slug)
    form = PhaseForm()
    if form.validate_on_submit():
        try:
            services.set_phase(current_user.id, proc.id, form.phase.data or None)
        except DomainError as error:
            form.add_domain_error(error)
            return render(
                "budgeting/manage.html",
                status=error.status_code,
                **_manage_context(proc, phase_form=form),
            )
        flash(_("Phase saved."), "success")
    return redirect(url_for("budgeting.manage", slug=slug))


@bp.post("/ideas/<int:idea_id>/review")
@staff_required
def review(idea_id: int):
    """Judge an idea feasible (with its official cost) or not."""
    form = ReviewForm(prefix="review")
    item = services.get_idea(idea_id)
    if form.validate_on_submit():
        try:
            services.review_idea(
                current_user.id,
                idea_id,
                form.decision.data == "feasible",
                form.reason.data,
                form.official_cost.data,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Review saved."), "success")
            return redirect(url_for("budgeting.idea", idea_id=idea_id))
    return _idea_with_errors(item, review=form)


@bp.post("/ideas/<int:idea_id>/merge")
@staff_required
def merge(idea_id: int):
    """Merge a duplicate idea into another."""
    form = MergeForm(prefix="merge")
    item = services.get_idea(idea_id)
    if form.validate_on_submit():
        try:
            services.merge_idea(current_user.id, idea_id, form.into.data, form.reason.data or "")
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("Ideas merged."), "success")
            return redirect(url_for("budgeting.idea", idea_id=form.into.data))
    return _idea_with_errors(item, merge=form)


@bp.post("/ideas/<int:idea_id>/promote")
@staff_required
def promote(idea_id: int):
    """Put a feasible idea on a budget's ballot."""
    item = services.get_idea(idea_id)
    proc = services.get_process_by_id(item.process_id)
    form = PromoteForm(prefix="promote")
    form.budget.choices = choices((b.id, pick_text(b.name).text) for b in proc.budgets)
    if form.validate_on_submit():
        try:
            services.promote_idea(current_user.id, idea_id, form.budget.data)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            flash(_("The idea is on the ballot."), "success")
            return redirect(url_for("budgeting.idea", idea_id=idea_id))
    return _idea_with_errors(item, promote=form)


def _idea_with_errors(item, **forms):
    proc = services.get_process_by_id(item.process_id)
    promote_form = forms.get("promote") or PromoteForm(formdata=None, prefix="promote")
    promote_form.budget.choices = choices((b.id, pick_text(b.name).text) for b in proc.budgets)
    staff_forms = {
        "review": forms.get("review") or ReviewForm(formdata=None, prefix="review"),
        "merge": forms.get("merge") or MergeForm(formdata=None, prefix="merge"),
        "promote": promote_form,
    }
    return render(
        "budgeting/idea.html",
        idea=item,
        process=proc,
        phase=services.current_phase(proc),
        supported=False,
        categories=services.CATEGORIES,
        staff_forms=staff_forms,
        status=400,
    )


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_file():
    """Import a Pabulib .pb file as a finished process."""
    form = ImportForm()
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        if not upload or not getattr(upload, "filename", ""):
            form.file.errors = [_("Please choose a .pb file.")]
            status = 400
        else:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                form.file.errors = [_("The file must be UTF-8 text.")]
                status = 400
            else:
                try:
                    budget = pbio.import_pb(current_user.id, text, form.title.data or None)
                except DomainError as error:
                    form.add_domain_error(error)
                    status = 400
                else:
                    from civic.budgeting.jobs import compute_results
                    from civic.jobs import enqueue

                    enqueue(compute_results, budget.id)
                    flash(_("Imported. The results are being computed."), "success")
                    return redirect(url_for("budgeting.manage", slug=budget.process.slug))
    elif form.is_submitted():
        status = 400
    return render("budgeting/import.html", form=form, status=status)
