"""The CRM's part of ``grappe bench``: Clusterland's organizations, persons, memberships,
competences and visits, loaded through the CRM's validating paths, and its pages measured.

Everything goes through what users get: the CSV import of organizations and persons
(validated row by row with the same forms as the pages), and the services behind the
membership, competence and interaction forms.  Nothing is inserted behind the CRM's back.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from core import db, hookimpl

BATCH = 500
FILE_ROWS = 5000  # organizations and persons come in files of this many rows

# the bench's sector keys (bench.synth.SECTORS) as NACE codes
NACE = {
    "automotive": ["29.10", "29.32", "29.31"], "plastics": ["22.29", "22.21", "20.16"],
    "wood": ["16.23", "31.09", "16.10"], "health": ["32.50", "21.20", "26.60"],
    "mechatronics": ["28.41", "28.99", "27.11"], "environment": ["38.32", "37.00", "39.00"],
    "energy": ["35.11", "43.22", "27.90"], "design": ["74.10", "73.11", "90.03"],
    "ict": ["62.01", "62.02", "63.11"], "services": ["71.12", "70.22", "71.20"],
    "food": ["10.51", "11.05", "10.89"], "metal": ["25.62", "25.11", "25.61"],
}
FUNCTIONS = {
    "CEO": "management", "Managing director": "management", "Head of R&D": "rnd", "Plant manager": "production",
    "Sales director": "sales", "HR manager": "hr", "Quality manager": "quality", "Purchasing manager": "purchasing",
    "Project engineer": "rnd", "Marketing manager": "sales", "Innovation manager": "rnd", "CFO": "finance",
    "Production engineer": "production", "Export manager": "sales", "Training officer": "hr",
}
FEE_TIERS = ["Small company", "Medium company", "Large company", "Research and education"]
VISIT_SUBJECTS = [
    "Company visit: needs for {topic}", "Call about the next project call", "Meeting with the management",
    "Follow-up after the workshop", "Introduced to a partner for {topic}", "Membership renewal talk",
]


def _size_band(employees: int) -> str:
    for limit, band in ((0, "0"), (9, "1-9"), (49, "10-49"), (249, "50-249"), (999, "250-999")):
        if employees <= limit:
            return band
    return "1000+"


def _vat_at(serial: int) -> str:
    """A valid Austrian VAT number (ATU + 8 digits with its check digit), unique by ``serial``."""
    from stdnum.at import uid

    body = f"{(serial * 7919) % 9_000_000 + 1_000_000}"
    return f"ATU{body}{uid.calc_check_digit('U' + body)}"


def _form(form_class, data: dict):
    return form_class(formdata=MultiDict(data), meta={"csrf": False})


def _import(kind: str, header: list[str], rows: list[list[str]], user_id: int) -> None:
    """Import rows as a CSV file, exactly as an upload would, and commit; fail loudly on any refused row."""
    import csv
    import io

    from .importing import import_file

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(header)
    writer.writerows(rows)
    report = import_file(buffer.getvalue().encode("utf-8"), kind, filename=f"bench-{kind}.csv", user_id=user_id)
    if not report.ok or not report.written:
        raise RuntimeError(f"bench {kind} import refused: {[(e.line, e.column, e.message) for e in report.errors[:5]]}")
    db.session.commit()


def _errors(form) -> str:
    return "; ".join(f"{k}: {v}" for k, v in form.errors.items())


@hookimpl
def grappe_bench_load(bench):
    from .competences import add_organization_competence, find_or_create_competence
    from .interactions import save_interaction
    from .memberships import save_membership
    from .forms import InteractionForm, MembershipForm
    from .models import Organization, Person
    from .text import normalize

    rng, synth = bench.rng, bench.synth
    clusters = bench.clusters_with("crm")
    main = bench.main_cluster
    n_orgs, n_persons, n_members = bench.count("organizations"), bench.count("persons"), bench.count("members")

    with bench.acting_as(main):
        # the competence vocabulary (the "bricks" members are matched on)
        competence_ids = {}
        for name in synth.COMPETENCES:
            competence_ids[name] = find_or_create_competence(name, "").id
        db.session.commit()

        # organizations, through the CSV import users get (the organization form, row by row)
        taken: set[str] = set()
        companies = [synth.company(rng, i, taken) for i in range(n_orgs)]
        header = ["legal_name", "siren", "vat_number", "kind", "sector", "size_band", "street", "postcode", "city",
                  "country", "website"]
        rows = [[c["name"], c["siren"], _vat_at(i) if not c["french"] and rng.random() < 0.3 else "", "company",
                 rng.choice(NACE[c["sector"]]), _size_band(c["employees"]), c["street"], c["postcode"], c["city"],
                 c["country"], c["website"]] for i, c in enumerate(companies)]
        with bench.timer("crm.organizations", n_orgs, tables=("crm_organization",)) as t:
            for start in range(0, n_orgs, FILE_ROWS):
                _import("organizations", header, rows[start:start + FILE_ROWS], bench.users["manager"].id)
                t.batch(len(rows[start:start + FILE_ROWS]))
        ids_by_key = dict(db.session.execute(select(Organization.name_key, Organization.id)).all())
        org_ids = [ids_by_key[normalize(c["name"])] for c in companies]
        bench.data["crm.organization_ids"] = org_ids

        # competences and needs of a quarter of the organizations
        with_competences = [i for i in range(n_orgs) if rng.random() < 0.25]
        pairs = [(org_ids[i], competence_ids[name], "has") for i in with_competences
                 for name in companies[i]["competences"]]
        pairs += [(org_ids[i], competence_ids[rng.choice(synth.COMPETENCES)], "needs")
                  for i in with_competences if rng.random() < 0.4]
        with bench.timer("crm.organization_competences", len(pairs),
                         tables=("crm_organization_competence",)) as t:
            for start in range(0, len(pairs), BATCH):
                for org_id, comp_id, kind in pairs[start:start + BATCH]:
                    add_organization_competence(org_id, comp_id, kind)
                db.session.commit()
                t.batch(len(pairs[start:start + BATCH]))

        # persons: ~2 per organization, some independent, through the CSV import
        header = ["first_name", "last_name", "email", "phone", "job_title", "function", "language",
                  "organization_id", "role"]
        rows, owner = [], []
        for serial in range(n_persons):
            index = rng.randrange(n_orgs) if rng.random() < 0.97 else None
            p = synth.person(rng, companies[index] if index is not None else None, serial)
            rows.append([p["first_name"], p["last_name"], p["email"], p["phone"], p["function"],
                         FUNCTIONS.get(p["function"], "other"), p["language"],
                         str(org_ids[index]) if index is not None else "", p["function"] if index is not None else ""])
            owner.append(org_ids[index] if index is not None else None)
        with bench.timer("crm.persons", n_persons, tables=("crm_person", "crm_person_organization")) as t:
            for start in range(0, n_persons, FILE_ROWS):
                _import("persons", header, rows[start:start + FILE_ROWS], bench.users["manager"].id)
                t.batch(len(rows[start:start + FILE_ROWS]))
        ids_by_email = dict(db.session.execute(select(Person.email, Person.id)).all())
        person_ids = [ids_by_email[row[2]] for row in rows]
        persons_of: dict[int, list[int]] = {}
        for pid, org_id in zip(person_ids, owner):
            if org_id is not None:
                persons_of.setdefault(org_id, []).append(pid)
        bench.data["crm.person_ids"] = person_ids
        bench.data["crm.persons_of_organization"] = persons_of

    # membership histories: 1,519 member companies, some in several clusters, with former
    # periods and prospects
    members = rng.sample(range(n_orgs), min(n_members, n_orgs))
    today = date(2026, 11, 1)
    plans: list[tuple[object, int, str, date, date | None, str]] = []
    for i in members:
        homes = [rng.choice(clusters)] + ([rng.choice(clusters)] if rng.random() < 0.2 else [])
        for cluster in {c.id: c for c in homes}.values():
            start = today - timedelta(days=rng.randint(200, 3650))
            if rng.random() < 0.3:  # an earlier period that ended
                old_start = start - timedelta(days=rng.randint(400, 1500))
                plans.append((cluster, org_ids[i], "member", old_start, start - timedelta(days=rng.randint(30, 300)),
                              rng.choice(FEE_TIERS)))
            plans.append((cluster, org_ids[i], "member", start, None, rng.choice(FEE_TIERS)))
    for i in rng.sample(range(n_orgs), min(n_orgs, max(1, n_members // 3))):  # prospects and leavers
        cluster = rng.choice(clusters)
        start = today - timedelta(days=rng.randint(30, 1000))
        status = rng.choice(["prospect", "former"])
        plans.append((cluster, org_ids[i], status, start, None if status == "prospect" else today - timedelta(days=rng.randint(1, 29)), ""))
    member_orgs: dict[int, list[int]] = {}
    with bench.timer("crm.memberships", len(plans), tables=("crm_membership",)) as t:
        for cluster in clusters:
            mine = [p for p in plans if p[0].id == cluster.id]
            with bench.acting_as(cluster):
                for start in range(0, len(mine), BATCH):
                    for _, org_id, status, begin, end, tier in mine[start:start + BATCH]:
                        form = _form(MembershipForm, {
                            "organization_id": str(org_id), "status": status, "start_date": begin.isoformat(),
                            "end_date": end.isoformat() if end else "", "fee_tier": tier})
                        if not form.validate():
                            raise RuntimeError(f"bench membership refused: {_errors(form)}")
                        save_membership(None, form)
                        if status == "member" and end is None:
                            member_orgs.setdefault(cluster.id, []).append(org_id)
                    db.session.commit()
                    t.batch(len(mine[start:start + BATCH]))
    bench.data["crm.member_organization_ids"] = member_orgs

    # visits and calls: ~150 visits a year per cluster manager over 3 years, mostly to members
    n_visits = bench.count("interactions", full=len(clusters) * 150 * 3)
    showcase = (member_orgs.get(main.id) or org_ids)[0]
    bench.data["crm.showcase_organization_id"] = showcase
    author = bench.users["manager"].id
    with bench.timer("crm.interactions", n_visits, tables=("crm_interaction", "crm_interaction_person")) as t:
        for cluster in clusters:
            share = n_visits // len(clusters) + (1 if cluster.id == clusters[0].id else 0) * (n_visits % len(clusters))
            pool = member_orgs.get(cluster.id) or org_ids
            with bench.acting_as(cluster):
                for k in range(share):
                    org_id = showcase if cluster.id == main.id and k < 30 else rng.choice(pool)
                    met = persons_of.get(org_id, [])[:2]
                    form = _form(InteractionForm, {
                        "organization_id": str(org_id), "kind": rng.choice(["visit", "visit", "call", "meeting", "email"]),
                        "date": synth.day_in_last_years(rng, 3).isoformat(),
                        "subject": rng.choice(VISIT_SUBJECTS).format(topic=rng.choice(synth.COMPETENCES)),
                        "summary": "Discussed current projects, needs and the cluster's next events.",
                        "persons": [str(p) for p in met],
                    })
                    form.persons.choices = [(p, str(p)) for p in met]
                    if not form.validate():
                        raise RuntimeError(f"bench interaction refused: {_errors(form)}")
                    save_interaction(None, form, author_id=author)
                    if k % BATCH == BATCH - 1:
                        db.session.commit()
                db.session.commit()
            t.batch(share)


def _busiest_organization(cluster) -> int | None:
    """The organization with the most interactions in ``cluster`` (its timeline is the fullest)."""
    from .models import Interaction

    with db.for_cluster(cluster.id):
        return db.session.execute(
            select(Interaction.organization_id)
            .group_by(Interaction.organization_id).order_by(func.count().desc(), Interaction.organization_id).limit(1)
        ).scalar_one_or_none()


@hookimpl
def grappe_bench_measure(bench):
    from . import queries
    from .models import Organization

    slug = bench.main_cluster.slug

    def bare(filters: dict):
        """The list's own query (the CRM's filter: FTS5 on SQLite, trigram LIKE on PostgreSQL)."""
        page = queries.apply(select(Organization), filters).order_by(Organization.name_key, Organization.id)
        total = queries.apply(select(func.count(Organization.id)), filters)
        return page.limit(50), total

    with bench.app.app_context():
        every, tech = bare({}), bare({"q": "tech"})
    bench.measure_page("crm.organizations", f"/{slug}/crm/organizations/", bare=every)
    bench.measure_page("crm.organizations?q=tech", f"/{slug}/crm/organizations/?q=tech", bare=tech)
    showcase = bench.data.get("crm.showcase_organization_id") or _busiest_organization(bench.main_cluster)
    if showcase:
        bench.measure_page("crm.organization (with timeline)", f"/{slug}/crm/organizations/{showcase}")
    bench.measure_page("crm.persons?q=martin", f"/{slug}/crm/persons/?q=martin")
