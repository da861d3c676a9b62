"""Demo data for ``grappe demo``: a realistic range of services for each demo cluster running
billing (membership tiers, project support with a success fee, a training course, a
diagnostic, advertising in the members' directory), with their steps, costs and prices.

Everything goes through the billing forms and operations (the validating paths users get),
as each cluster (``db.for_cluster``).  Prices start on the 1st of January of last year; the
training's price changed this year (a new price row, the old one closed); the printed
directory was retired and copied into an online one.
"""

from __future__ import annotations

from datetime import date

from core import db, validate
from plugins.crm import api as crm

from . import catalogue, prices
from .forms import ExpertForm, PriceForm, RangeForm, ServiceForm, StepForm

RANGES = {
    "network": {"name": "Membership and network", "description": "Belonging to the cluster and meeting peers.",
                "shared_relations": "The yearly visit of each member by its cluster manager.",
                "shared_information": "The CRM's record of each member's needs and competences.",
                "shared_experts": "The board's working groups."},
    "projects": {"name": "Projects and innovation", "description": "From an idea to a funded cooperative project.",
                 "shared_relations": "Follow-up of the project ideas raised during visits.",
                 "shared_information": "Calls for projects, funding rules, past projects and their lessons.",
                 "shared_experts": "Research labs, funding consultants, technical experts."},
    "skills": {"name": "Skills and training", "description": "Courses and diagnostics for members' teams.",
               "shared_relations": "The HR and production managers of the members.",
               "shared_information": "Skills needs found by the diagnostics.",
               "shared_experts": "Trainers and auditors called case by case."},
}

MEMBERSHIP = {
    "name": "Membership", "code": "MEMBER", "range": "network", "status": "on_sale",
    "revenue_family": "membership_fees", "vat_category": "out_of_scope",
    "problem": "A company alone misses partners, information and a voice towards public bodies.",
    "solution": "Membership of the cluster: its network, its information and its services at member prices.",
    "service_rendered": "A yearly visit, the members' directory, working groups, member prices.",
    "direct_gain": "Lower prices on every service; partners found faster.",
    "indirect_gains": "Visibility, a say in the cluster's strategy.",
    "size_bands": ["1-9", "10-49", "50-249", "250-999", "1000+"], "functions": ["management"],
    "prerequisites": "An activity in the cluster's sector and territory.",
    "unit": "one member a year", "coordination_hours": "1.5", "planned_volume": "120",
    "downstream_competences": ["Understanding members' strategy", "Yearly satisfaction survey"],
    "promise": "One contact person and a visit a year; an answer to every request within a week.",
    "deliverables": "Membership certificate, directory entry, access to the members' area.",
    "duration": "One membership year", "calendar": "Visit planned in the first quarter.",
    "evaluation_questions": ["Did the cluster answer your requests within a week?",
                             "Which partner or information did membership bring you this year?",
                             "Will you renew your membership?"],
    "relationship_after": "Renewal proposed one month before the end of the year.",
}
PROJECT = {
    "name": "Cooperative project support", "code": "PROJECT", "range": "projects", "status": "on_sale",
    "revenue_family": "projects", "vat_category": "standard", "vat_rate": "20.00",
    "problem": "Funding programmes are complex; consortia are hard to assemble.",
    "solution": "The cluster qualifies the idea, finds partners and writes the application with the members.",
    "service_rendered": "A complete funding application filed before the deadline.",
    "direct_gain": "Public funding of 30 to 70 % of the project's budget.",
    "indirect_gains": "New partners, a first project with a research lab.",
    "size_bands": ["10-49", "50-249", "250-999"], "functions": ["management", "rnd"],
    "prerequisites": "A project idea and a budget for its own share.",
    "unit": "one application", "coordination_hours": "4", "planned_volume": "12",
    "downstream_competences": ["Understanding the member's project", "Debriefing after the funding decision"],
    "promise": "An application filed on time, or no success fee.",
    "tools": "Budget template, consortium agreement model.",
    "deliverables": "Application file, budget, consortium agreement.",
    "duration": "Two to four months", "calendar": "Kick-off, partner search, writing, filing.",
    "evaluation_questions": ["Was the application filed on time?", "Did the consortium hold together?",
                             "Was the funding granted, and how much?"],
}
TRAINING = {
    "name": "Lean manufacturing (2 days)", "code": "TRAIN-LEAN", "range": "skills", "status": "on_sale",
    "revenue_family": "training", "vat_category": "exempt_non_profit",
    "problem": "Production teams lose time on waste they no longer see.",
    "solution": "Two days of training with exercises on the trainees' own workshops.",
    "service_rendered": "Two days of training for a trainee, a certificate, an action plan.",
    "direct_gain": "Productivity gains of 5 to 15 % on the lines concerned.",
    "indirect_gains": "A shared vocabulary between production and management.",
    "size_bands": ["10-49", "50-249", "250-999"], "functions": ["production", "quality"],
    "prerequisites": "A production line the trainee works on.",
    "unit": "one trainee", "coordination_hours": "0.5", "planned_volume": "48",
    "downstream_competences": ["Evaluating trainees' satisfaction"],
    "promise": "Each trainee leaves with an action plan for their own line.",
    "tools": "Value stream mapping kit.", "deliverables": "Certificate, action plan.",
    "duration": "Two days", "calendar": "Four sessions a year, twelve trainees each.",
    "evaluation_questions": ["Was the training useful for your line?", "Which action of the plan is done?"],
}
DIAGNOSTIC = {
    "name": "Energy efficiency diagnostic", "code": "DIAG-ENERGY", "range": "skills", "status": "on_sale",
    "revenue_family": "projects", "vat_category": "standard", "vat_rate": "20.00",
    "problem": "Energy bills rise and the company does not know where it loses energy.",
    "solution": "A visit of the site by an energy expert and a report with priced actions.",
    "service_rendered": "A one-day site visit and a report of ten priced actions.",
    "direct_gain": "Savings of 10 to 20 % of the energy bill.",
    "indirect_gains": "Eligibility for energy-saving grants; a greener image.",
    "size_bands": ["10-49", "50-249"], "functions": ["production", "finance"],
    "prerequisites": "The last two years of energy bills.",
    "unit": "one diagnostic", "coordination_hours": "2", "planned_volume": "20",
    "downstream_competences": ["Restitution of the results to the management"],
    "promise": "Ten actions with their cost and payback, within a month of the visit.",
    "tools": "Energy data questionnaire.", "deliverables": "Diagnostic report, action plan.",
    "duration": "One month", "calendar": "Questionnaire, visit, report, restitution.",
    "evaluation_questions": ["Were the actions clear and priced?", "Which actions will you carry out?"],
}
DIRECTORY = {
    "name": "Members' directory (print)", "code": "DIR-PRINT", "range": "network", "status": "on_sale",
    "revenue_family": "advertising_media", "vat_category": "standard", "vat_rate": "20.00",
    "problem": "Members want to be seen by buyers and partners.",
    "solution": "An advertisement in the members' directory.",
    "service_rendered": "A page in the yearly directory.", "unit": "one page", "planned_volume": "30",
    "promise": "Distributed to 2,000 buyers.",
}
EXPORT = {
    "name": "Export mission to Germany", "code": "EXPORT-DE", "status": "draft", "revenue_family": "international",
    "vat_category": "standard", "vat_rate": "20.00",
    "problem": "German buyers are hard to meet without an introduction.",
    "solution": "A delegation to a trade fair with meetings prepared by the cluster.",
    "unit": "one company in the delegation",
}
STEPS = {
    "MEMBER": [
        {"name": "Welcome visit", "operations": "Visit of the new member, record in the CRM.",
         "competences": ["Export to France", "Energy efficiency"], "resources": "The member's record in the CRM.",
         "value_brick": "Knowledge of the member's needs.", "staff_hours": "3", "purchases": "15"},
        {"name": "Animation of the network", "operations": "Working groups, members' day, newsletter.",
         "cost_behaviour": "fixed", "staff_hours": "400", "purchases": "6000", "overheads": "4000",
         "value_brick": "Peers met, information shared."},
        {"name": "Directory entry and members' area", "staff_hours": "0.5", "overheads": "10"},
    ],
    "PROJECT": [
        {"name": "Qualify the idea", "operations": "Meeting with the member, check against the calls open.",
         "staff_hours": "4", "value_brick": "An idea that fits a call."},
        {"name": "Find the partners", "operations": "Matching in the CRM, calls to labs and companies.",
         "competences": ["Simulation (FEM)", "Life-cycle assessment", "Robotics"], "staff_hours": "8",
         "resources": "The CRM's competences and needs.", "value_brick": "A consortium."},
        {"name": "Write the application", "staff_hours": "24", "external_fees": "800",
         "resources": "Funding rules, budget template.", "value_brick": "A complete application."},
        {"name": "Watch the calls for projects", "cost_behaviour": "fixed", "staff_hours": "80",
         "purchases": "1200", "value_brick": "The calls known before they open."},
    ],
    "TRAIN-LEAN": [
        {"name": "Design the course", "cost_behaviour": "fixed", "staff_hours": "40", "external_fees": "2500",
         "competences": ["Lean manufacturing"], "value_brick": "A course built on members' cases."},
        {"name": "Deliver the two days", "operations": "Two days with a trainer, exercises on site.",
         "external_fees": "210", "purchases": "65", "overheads": "20", "value_brick": "Trainees trained."},
        {"name": "Evaluate and certify", "staff_hours": "0.5", "value_brick": "A certificate and an action plan."},
    ],
    "DIAG-ENERGY": [
        {"name": "Collect the energy data", "operations": "Questionnaire and bills.", "staff_hours": "1.5"},
        {"name": "Visit the site", "operations": "One day on site with an energy expert.",
         "competences": ["Energy efficiency"], "external_fees": "650", "staff_hours": "2", "purchases": "40",
         "value_brick": "Losses measured."},
        {"name": "Write the report", "staff_hours": "6", "value_brick": "Ten priced actions."},
        {"name": "Restitution meeting", "staff_hours": "2", "overheads": "25",
         "value_brick": "Actions chosen with the management."},
    ],
    "DIR-PRINT": [
        {"name": "Layout of the page", "staff_hours": "1", "purchases": "40"},
        {"name": "Printing and mailing", "cost_behaviour": "fixed", "purchases": "6500"},
    ],
    "EXPORT-DE": [
        {"name": "Prepare the meetings", "staff_hours": "10", "external_fees": "400"},
    ],
}
TIERS = (("Small company", "450"), ("Medium company", "1200"), ("Large company", "3000"),
         ("Research and education", "300"))


def _form(form_class, data: dict):
    return validate(form_class, data={k: v for k, v in data.items() if v is not None})


def _price(service, **data) -> None:
    prices.add_price(service, _form(PriceForm, data))


def create_demo_data(clusters, rng) -> None:
    for cluster in clusters:
        if not cluster.has_module("billing"):
            continue
        with db.for_cluster(cluster.id):
            _cluster_catalogue(cluster, rng)
            _cluster_funding(cluster, rng)
            _cluster_quotes(cluster, rng)
        db.session.commit()


def _cluster_catalogue(cluster, rng) -> None:
    today = cluster.today()
    last_year, this_year = date(today.year - 1, 1, 1), date(today.year, 1, 1)
    vocabulary = {name: cid for cid, name in crm.competence_choices()}
    ranges = {key: catalogue.save_range(None, _form(RangeForm, data)) for key, data in RANGES.items()}
    services = {}
    for spec in (MEMBERSHIP, PROJECT, TRAINING, DIAGNOSTIC, DIRECTORY, EXPORT):
        data = {k: v for k, v in spec.items() if k != "range"}
        if "range" in spec:
            data["range_id"] = str(ranges[spec["range"]].id)
        inhouse = [vocabulary[n] for n in ("Energy efficiency", "Lean manufacturing", "Life-cycle assessment")
                   if n in vocabulary and spec["code"] in ("DIAG-ENERGY", "TRAIN-LEAN", "PROJECT")]
        if inhouse:
            data["inhouse_competences"] = inhouse
        service = catalogue.save_service(None, _form(ServiceForm, data))
        for step in STEPS[spec["code"]]:
            step = dict(step)
            step["competences"] = [vocabulary[n] for n in step.get("competences", []) if n in vocabulary]
            catalogue.add_step(service, _form(StepForm, step))
        services[spec["code"]] = service

    for tier, amount in TIERS:
        _price(services["MEMBER"], mode="membership_fee", label=tier, fee_tier=tier, member_amount=amount,
               pro_rata=True, valid_from=last_year.isoformat())
    _price(services["PROJECT"], mode="success_fee", label="Funding obtained", member_rate="5",
           non_member_rate="8", floor_amount="1500", cap_amount="15000", valid_from=last_year.isoformat())
    _price(services["PROJECT"], mode="quote", label="Large European consortium", valid_from=last_year.isoformat())
    _price(services["TRAIN-LEAN"], mode="catalogue", label="Seat", unit="trainee", member_amount="650",
           non_member_amount="950", valid_from=last_year.isoformat())
    _price(services["TRAIN-LEAN"], mode="catalogue", label="Seat", unit="trainee", member_amount="690",
           non_member_amount="990", valid_from=this_year.isoformat())  # this year's price follows last year's
    _price(services["TRAIN-LEAN"], mode="flat_fee", label="In-company session (12 trainees)",
           member_amount="6900", non_member_amount="9900", valid_from=last_year.isoformat())
    _price(services["DIAG-ENERGY"], mode="flat_fee", label="Diagnostic", member_amount="1500",
           non_member_amount="2400", valid_from=last_year.isoformat())
    _price(services["DIR-PRINT"], mode="catalogue", label="Full page", unit="page", member_amount="900",
           non_member_amount="1500", valid_from=date(today.year - 2, 1, 1).isoformat())

    for service in (services["PROJECT"], services["DIAG-ENERGY"]):
        for person in _experts(rng):
            catalogue.add_expert(service, _form(ExpertForm, {"person_id": person.id,
                                                                 "role": rng.choice(EXPERT_ROLES)}))

    printed = services["DIR-PRINT"]
    catalogue.retire_service(printed, on=date(today.year - 1, 6, 30))
    online = catalogue.copy_service(printed, on=today, name="Members' directory (online)")
    changes = {"code": "DIR-ONLINE", "status": "on_sale", "unit": "one listing a year",
               "service_rendered": "A premium listing in the online directory for a year."}
    catalogue.save_service(online, validate(ServiceForm, obj=online, data=changes, partial=True, current_id=online.id,
                                            inhouse_competences=online.competence_ids))
    _price(online, mode="subscription", label="Premium listing", member_amount="240", non_member_amount="480",
           period="year", renewal="automatic", valid_from=this_year.isoformat())
    db.session.flush()


EXPERT_ROLES = ("Technical review of the applications", "Site visits", "Funding rules", "Second opinion")


def _experts(rng) -> list:
    found = []
    for name in ("martin", "gruber", "bernard", "huber"):
        found.extend(crm.search_persons(name, limit=3))
    rng.shuffle(found)
    return found[:2]


# -- slice 2a: third-party payers and one-off sales -----------------------------------------------
DEMO_BUYER_NAMES = ("martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy",
                    "moreau", "gruber", "huber", "wagner", "bauer", "mayer", "pichler")


def _cluster_funding(cluster, rng) -> None:
    """A regional payer co-funding the energy diagnostic (50 %, a cap, an envelope), an Austrian
    one co-funding the lean training, and some sales of this year, through the forms and
    :func:`.sales.record_sale` (the payer's part taken from its envelope)."""
    from datetime import timedelta

    from sqlalchemy import select

    from . import funding, sales
    from .errors import BillingError
    from .forms import FundingSchemeForm
    from .models import Service

    today = cluster.today()
    first, last = date(today.year, 1, 1), date(today.year, 12, 31)
    codes = dict(db.session.execute(select(Service.code, Service.id).where(Service.code.is_not(None))).all())
    region = crm.find_organization_by_name("Région Auvergne-Rhône-Alpes")
    upper_austria = crm.find_organization_by_name("Business Upper Austria")
    schemes = []
    if region is not None and "DIAG-ENERGY" in codes:
        schemes.append(funding.save_scheme(None, _form(FundingSchemeForm, {
            "name": "Energy diagnostics for SMEs (Auvergne-Rhône-Alpes)", "payer_id": region,
            "reference": f"ARA-ENR-{today.year}-014", "service_ids": [codes["DIAG-ENERGY"]], "share_kind": "percent",
            "share_rate": "50", "cap_per_beneficiary": "1200", "envelope": "15000", "when_exhausted": "full_price",
            "size_bands": ["1-9", "10-49", "50-249", "250-999"], "regions": ["ARA"],
            "counterpart": "Share the diagnostic's energy figures with the regional energy observatory, and answer "
                           "its follow-up survey a year later.",
            "valid_from": first.isoformat(), "valid_until": last.isoformat()})))
    if upper_austria is not None and "TRAIN-LEAN" in codes:
        schemes.append(funding.save_scheme(None, _form(FundingSchemeForm, {
            "name": "Qualifizierungsförderung Oberösterreich (lean training)", "payer_id": upper_austria,
            "reference": f"OOE-Q-{today.year}-31", "service_ids": [codes["TRAIN-LEAN"]], "share_kind": "percent",
            "share_rate": "50", "cap_per_beneficiary": "2000", "envelope": "12000", "when_exhausted": "refuse",
            "country": "AT", "postcodes": "4",
            "counterpart": "Attendance sheets signed per half-day; the trainees' evaluation of the course.",
            "valid_from": first.isoformat()})))
    if not schemes:
        return
    org_ids = []
    for name in DEMO_BUYER_NAMES:
        org_ids.extend(p.organization_id for p in crm.search_persons(name, limit=10) if p.organization_id)
    org_ids = sorted(set(org_ids))
    rng.shuffle(org_ids)
    days = max((today - first).days, 0)
    training = codes.get("TRAIN-LEAN")
    for scheme in schemes:
        service_id, made = scheme.service_ids[0], 0
        for org_id in org_ids:
            on = first + timedelta(days=rng.randint(0, days))
            if made >= 8 or not funding.eligible_schemes(service_id, org_id, on):
                continue
            try:
                sales.record_sale(service_id, org_id, on=on, scheme_id="auto",
                                  **({"mode": "catalogue", "quantity": rng.choice((1, 2, 3))}
                                     if service_id == training else {}))
            except BillingError:
                continue  # a members-only price, an envelope that refuses: the demo goes on without it
            made += 1
    for org_id in org_ids[:3]:  # a few sales without a third-party payer
        if training is not None:
            try:
                sales.record_sale(training, org_id, on=first + timedelta(days=rng.randint(0, days)),
                                  mode="catalogue")
            except BillingError:
                continue
    db.session.flush()


# -- slice 2b: quotes and subscriptions -------------------------------------------------------------
def _cluster_quotes(cluster, rng) -> None:
    """A few quotes (one accepted, whose lines became sales; one sent; one refused; one draft)
    and subscriptions to the online directory (one cancelled), through the forms and the
    operations of :mod:`.quotes` and :mod:`.subscriptions` (no mail is sent)."""
    from datetime import timedelta

    from sqlalchemy import select

    from . import quotes, subscriptions
    from .errors import BillingError
    from .forms import FreeLineForm, QuoteForm, QuoteLineForm, SubscriptionForm
    from .models import Price, Service

    today = cluster.today()
    codes = dict(db.session.execute(select(Service.code, Service.id).where(Service.code.is_not(None))).all())
    contacts, seen = [], set()
    for name in DEMO_BUYER_NAMES:
        for person in crm.search_persons(name, limit=10):
            if person.organization_id and person.email and person.organization_id not in seen:
                seen.add(person.organization_id)
                contacts.append(person)
    contacts.sort(key=lambda p: p.id)
    rng.shuffle(contacts)
    members = crm.member_ids((c.organization_id for c in contacts), cluster.id, today)
    contacts.sort(key=lambda c: c.organization_id not in members)  # members first: member prices
    if len(contacts) < 4:
        return

    def quote(contact, title, lines, free=()):
        with db.session.begin_nested():
            draft = quotes.create_draft(_form(QuoteForm, {"organization_id": contact.organization_id,
                                                          "person_id": contact.id, "title": title}))
            for code, values in lines:
                if code in codes:
                    quotes.add_catalogue_line(draft, _form(QuoteLineForm, {"service_id": str(codes[code]), **values}),
                                              today=today)
            for values in free:
                quotes.add_free_line(draft, _form(FreeLineForm, values))
            return draft

    plans = [
        ("accept", "Energy diagnostic and lean training",
         [("DIAG-ENERGY", {"scheme_id": "auto"}), ("TRAIN-LEAN", {"mode": "catalogue", "quantity": "2"})], ()),
        ("issue", "Lean training in your plant",
         [("TRAIN-LEAN", {"mode": "flat_fee", "scheme_id": "none"})],
         ({"description": "Trainer's travel and stay", "quantity": "2", "unit_price": "180"},)),
        ("refuse", "Energy diagnostic", [("DIAG-ENERGY", {"scheme_id": "auto"})], ()),
        ("draft", "European consortium application",
         [("PROJECT", {"mode": "quote", "unit_price": "8500", "scheme_id": "none",
                       "description": "Consortium building and application (Horizon Europe)"})], ()),
    ]
    for (what, title, lines, free), contact in zip(plans, contacts):
        try:
            draft = quote(contact, title, lines, free)
            if what == "draft" or not draft.lines:
                continue
            with db.session.begin_nested():
                quotes.issue(draft, today=today)
                if what == "accept":
                    quotes.accept(draft, today=today)
                elif what == "refuse":
                    quotes.refuse(draft, today=today, reason="The budget goes to a new press this year.")
        except BillingError:
            continue  # a price the organization is not offered: the demo goes on without it

    listing = db.session.execute(select(Price).join(Service, Service.id == Price.service_id).where(
        Service.code == "DIR-ONLINE", Price.mode == "subscription")).scalars().first()
    if listing is None:
        return
    start = max(listing.valid_from, date(today.year, 1, 1))
    for i, contact in enumerate(contacts[4:8]):
        begins = min(start + timedelta(days=rng.randint(0, 200)), today)
        try:
            with db.session.begin_nested():
                sub = subscriptions.create(_form(SubscriptionForm, {
                    "organization_id": contact.organization_id, "person_id": contact.id,
                    "price_id": str(listing.id), "start_date": begins.isoformat()}))
                if sub.next_billing_date is not None and sub.next_billing_date <= today:
                    subscriptions.advance(sub, today=today)  # the first year is billed
                if i == 3:
                    subscriptions.cancel(sub, max(today, sub.start_date), "The company stopped its export activity.",
                                         today=today)
        except BillingError:
            continue
    db.session.flush()
