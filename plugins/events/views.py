"""Events pages (blueprint ``events``, mounted at ``/<cluster>/events/``): thin handlers.

A page reads through :mod:`.queries`, changes through :mod:`.services` (events) and
:mod:`.registrations` (registrations), and answers; the request commits once when the
answer is below 400, and rolls everything back otherwise (core.database's
``request_transaction``), so no view commits or rolls back.  The public pages
(registration, confirmation, cancellation, iCalendar) are in :mod:`.public`, the
check-in, PDFs and reports in :mod:`.checkin` (their routes join this blueprint), the
JSON API in :mod:`.http_api`.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core import (
    ClusterBlueprint, ConfirmForm, Page, can, db, get_or_404, outbox_list, outbox_read, page_arg, paginate, requires,
    safe_next, user_name,
)
from plugins.crm import api as crm

from . import display, mail, queries, registrations, services
from .errors import EventsError
from .forms import (
    BulkRegistrationForm,
    EventForm,
    EventStatusForm,
    InvitationForm,
    RegistrationForm,
    RegistrationStatusForm,
)
from .models import (
    EVENT_KINDS,
    EVENT_STATUSES,
    EVENT_TRANSITIONS,
    REGISTRATION_SOURCES,
    REGISTRATION_STATUSES,
    TRANSITIONS,
    Event,
    Registration,
)

bp = ClusterBlueprint("events", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")


URL_SENTINEL = "987654321"


class UrlPattern:
    """A URL built once per page, then filled with each row's id (``url_for`` per row is costly)."""

    def __init__(self, endpoint: str, arg: str, **values):
        self.url = url_for(endpoint, **{arg: int(URL_SENTINEL)}, **values)

    def __call__(self, value) -> str:
        return self.url.replace(URL_SENTINEL, str(value))


@bp.context_processor
def _labels():
    cluster = g.get("cluster")
    from flask_babel import get_locale

    locale = get_locale() or "en"
    currency = cluster.currency if cluster else "EUR"
    amounts: dict = {}

    def when(event):
        return display.when(event, cluster, locale)

    def short(value):
        return display.short_date(value, cluster, locale)

    def money(amount):
        if amount not in amounts:  # a page shows few distinct prices
            amounts[amount] = display.money(amount, currency, locale)
        return amounts[amount]

    return {
        "EVENT_KINDS": EVENT_KINDS, "EVENT_STATUSES": EVENT_STATUSES, "EVENT_TRANSITIONS": EVENT_TRANSITIONS,
        "REGISTRATION_STATUSES": REGISTRATION_STATUSES, "REGISTRATION_SOURCES": REGISTRATION_SOURCES,
        "TRANSITIONS": TRANSITIONS, "when": when, "short": short, "money": money, "url_pattern": UrlPattern,
        "texts": lambda mapping: {k: str(v) for k, v in mapping.items()},
        "can_manage": current_user.is_authenticated and cluster is not None and can(current_user, "events.manage"),
        "can_checkin": current_user.is_authenticated and cluster is not None and can(current_user, "events.checkin"),
    }


def _status_code(form) -> int:
    return 400 if form.errors else 200


def _registration_page(event: Event) -> dict:
    return queries.registration_page(event, request.args, page=page_arg(), per_page=current_app.config["PAGE_SIZE"])


# -- events -----------------------------------------------------------------------------------------
@bp.route("/")
def index():
    stmt, filters, errors = queries.event_filters(request.args)
    page = paginate(db.session, stmt, page=page_arg(), per_page=current_app.config["PAGE_SIZE"])
    counts = queries.status_counts(e.id for e in page.items)
    return render_template("events/index.html", page=page, filters=filters, errors=errors, counts=counts,
                           seats_taken=queries.seats_taken), 400 if errors else 200


@bp.route("/new", methods=["GET", "POST"])
@requires("events.manage")
def event_new():
    form = EventForm()
    if form.validate_on_submit():
        event = services.save_event(None, form)
        flash(_("Event “%(title)s” created as a draft; open it for registrations when ready.", title=event.title),
              "success")
        return redirect(url_for("events.event", event_id=event.id))
    return render_template("events/event_form.html", form=form, event=None), _status_code(form)


@bp.route("/<int:event_id>")
def event(event_id: int):
    event = get_or_404(Event, event_id)
    counts = queries.status_counts([event.id])[event.id]
    regs = _registration_page(event)
    topics = crm.competence_names(event.topic_ids)
    organizer = user_name(event.organizer_id)
    return render_template("events/event.html", event=event, counts=counts, taken=queries.seats_taken(counts),
                           topics=[topics[i] for i in event.topic_ids if i in topics], organizer=organizer,
                           action_form=ConfirmForm(), **regs), 400 if regs["errors"] else 200


@bp.route("/<int:event_id>/registrations", endpoint="registrations")
def registrations_page(event_id: int):
    """An event's registrations alone (filters, sort, pages)."""
    event = get_or_404(Event, event_id)
    regs = _registration_page(event)
    return render_template("events/registrations.html", event=event, **regs), 400 if regs["errors"] else 200


@bp.route("/<int:event_id>/edit", methods=["GET", "POST"])
@requires("events.manage")
def event_edit(event_id: int):
    event = get_or_404(Event, event_id)
    form = EventForm(obj=event)
    if form.validate_on_submit():
        services.save_event(event, form)
        flash(_("Event saved."), "success")
        return redirect(url_for("events.event", event_id=event.id))
    return render_template("events/event_form.html", form=form, event=event), _status_code(form)


@bp.route("/<int:event_id>/status", methods=["POST"])
@requires("events.manage")
def event_status(event_id: int):
    event = get_or_404(Event, event_id)
    form = EventStatusForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("events.event", event_id=event.id)), 303
    try:
        event = services.change_event_status(event, form.status.data)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("events.event", event_id=event.id)), 303
    flash(_("The event is now %(status)s.", status=EVENT_STATUSES[event.status].lower()), "success")
    if event.status == "cancelled":
        flash(_("Its registrants are being told by e-mail."), "info")
    return redirect(url_for("events.event", event_id=event.id))


@bp.route("/<int:event_id>/delete", methods=["POST"])
@requires("events.delete")
def event_delete(event_id: int):
    event = get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_event(event)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("events.event", event_id=event_id)), 303
    flash(_("Event deleted."), "success")
    return redirect(url_for("events.index"))


# -- registrations (staff) ---------------------------------------------------------------------------
@bp.route("/<int:event_id>/register", methods=["GET", "POST"])
@requires("events.manage")
def register(event_id: int):
    """Find a CRM person and register them."""
    event = get_or_404(Event, event_id)
    form = RegistrationForm()
    q = (request.args.get("q") or "").strip()[:200]
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                out = registrations.register(event.id, form.person_id.data, source="staff",
                                             organization_id=form.organization_id.data, notify=not form.no_mail.data)
            except EventsError as exc:
                form.person_id.errors = [str(exc)]
                status = 409
            else:
                person = crm.get_person(out.person_id)
                if not out.changed:
                    flash(_("%(name)s was already %(status)s.", name=person.full_name,
                            status=REGISTRATION_STATUSES[out.status].lower()), "info")
                else:
                    flash(_("%(name)s is %(status)s.", name=person.full_name,
                            status=REGISTRATION_STATUSES[out.status].lower()),
                          "success" if out.status == "registered" else "warning")
                return redirect(url_for("events.event", event_id=event.id))
        else:
            status = 400
    return _register_page(event, form, BulkRegistrationForm(formdata=None), q, status)


def _register_page(event: Event, form, bulk_form, q: str, status: int):
    found, already = queries.candidates(event, q, limit=25)
    return render_template("events/register.html", event=event, form=form, bulk_form=bulk_form, q=q, found=found,
                           already=already), status


@bp.route("/<int:event_id>/register/many", methods=["POST"])
@requires("events.manage")
def register_many(event_id: int):
    """Register several persons at once (ticked in the search results, or a list of ids): all or none."""
    event = get_or_404(Event, event_id)
    bulk_form = BulkRegistrationForm()
    status = 400
    if bulk_form.validate_on_submit():
        try:
            outcomes = registrations.register_many(event.id, bulk_form.person_ids.data, source="staff",
                                                   notify=not bulk_form.no_mail.data)
        except EventsError as exc:
            bulk_form.person_ids.errors = [str(exc)]
            status = 409
        else:
            changed = [o for o in outcomes if o.changed]
            registered = sum(1 for o in changed if o.status == "registered")
            flash(_("%(registered)s registered, %(waitlisted)s waitlisted, %(unchanged)s already there.",
                    registered=registered, waitlisted=len(changed) - registered,
                    unchanged=len(outcomes) - len(changed)),
                  "success" if registered == len(changed) else "warning")
            return redirect(url_for("events.event", event_id=event.id))
    q = (request.values.get("q") or "").strip()[:200]
    return _register_page(event, RegistrationForm(formdata=None), bulk_form, q, status)


@bp.route("/registrations/<int:registration_id>/status", methods=["POST"])
@requires("events.manage")
def registration_status(registration_id: int):
    form = RegistrationStatusForm()
    reg = get_or_404(Registration, registration_id)
    back = safe_next(request.values.get("next"), url_for("events.event", event_id=reg.event_id))
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(back), 303
    try:
        out = registrations.change_status(reg.id, form.status.data, notify=not form.no_mail.data)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(back), 303
    flash(_("Registration is now %(status)s.", status=REGISTRATION_STATUSES[out.status].lower()), "success")
    if out.promoted:
        flash(_("%(n)s person(s) moved up from the waitlist and are told by e-mail.", n=len(out.promoted)), "info")
    return redirect(back)


# -- invitations --------------------------------------------------------------------------------------
@bp.route("/<int:event_id>/invite", methods=["GET", "POST"])
@requires("events.manage")
def invite(event_id: int):
    """Invite a CRM segment or hand-picked persons (in the background; consent respected)."""
    event = get_or_404(Event, event_id)
    form = InvitationForm()
    q = (request.args.get("q") or "").strip()[:200]
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                job = services.invite(event, segment_id=form.segment_id.data, person_ids=form.person_ids.data)
            except EventsError as exc:
                form.segment_id.errors = [str(exc)]
                status = 409
            else:
                flash(_("The invitations are being sent; this page follows their progress."), "success")
                return redirect(url_for("core.job", job_id=job.id))
        else:
            status = 400
    found, already = queries.candidates(event, q, limit=50)
    consenting = crm.consenting_person_ids([p.id for p in found], "event_invitations") if found else set()
    return render_template("events/invite.html", event=event, form=form, q=q, found=found, consenting=consenting,
                           already=already), status


@bp.route("/<int:event_id>/remind", methods=["POST"])
@requires("events.manage")
def remind(event_id: int):
    event = get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        job = services.send_reminders(event)
    except EventsError as exc:
        flash(str(exc), "error")
        return redirect(url_for("events.event", event_id=event.id)), 303
    if job is None:
        flash(_("Everyone registered has had a reminder already."), "info")
        return redirect(url_for("events.event", event_id=event.id))
    flash(_("Reminders are being sent."), "success")
    return redirect(url_for("core.job", job_id=job.id))


# -- the outbox -----------------------------------------------------------------------------------------
@bp.route("/outbox")
@requires("events.mail")
def outbox():
    entries = outbox_list(g.cluster)
    per_page = current_app.config["PAGE_SIZE"]
    page_no = page_arg()
    page = Page(items=entries[(page_no - 1) * per_page: page_no * per_page], total=len(entries), page=page_no,
                per_page=per_page)
    headers = {e.name: outbox_read(g.cluster, e.name, headers_only=True) for e in page.items}
    return render_template("events/outbox.html", page=page, headers=headers,
                           smtp=bool(current_app.config.get("SMTP_URL")), MAIL_KINDS=mail.MAIL_KINDS)


@bp.route("/outbox/<name>")
@requires("events.mail")
def outbox_mail(name: str):
    msg = outbox_read(g.cluster, name)
    if msg is None:
        abort(404)
    body = msg.get_body(preferencelist=("plain",))
    return render_template("events/outbox_mail.html", msg=msg, name=name,
                           body=body.get_content() if body is not None else "")
