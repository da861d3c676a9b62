"""Demo data for ``grappe demo``: French and Austrian companies, labs and schools, their people,
competences and needs, memberships of the demo clusters running the CRM, visits and calls.

Organizations and persons go through the CSV import (the validating path users get).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select

from core import db, today
from stdnum import luhn
from stdnum.at import uid

from .competences import add_organization_competence, find_or_create_competence
from .importing import import_file
from .models import ConsentRecord, Interaction, Membership, Organization, Person, PersonOrganization, Segment
from .persons import normalize_email

FR_CITIES = [("69001", "Lyon"), ("42000", "Saint-Étienne"), ("38000", "Grenoble"), ("74000", "Annecy"),
             ("01100", "Oyonnax"), ("45000", "Orléans"), ("25000", "Besançon"), ("88000", "Épinal"),
             ("63000", "Clermont-Ferrand"), ("69100", "Villeurbanne"), ("39100", "Dole"), ("73000", "Chambéry")]
AT_CITIES = [("4020", "Linz"), ("4600", "Wels"), ("4400", "Steyr"), ("8010", "Graz"), ("1010", "Wien"),
             ("5020", "Salzburg"), ("6020", "Innsbruck"), ("9020", "Klagenfurt"), ("4060", "Leonding"),
             ("4050", "Traun"), ("4840", "Vöcklabruck"), ("4910", "Ried im Innkreis")]
FR_FIRST = ["Camille", "Julien", "Léa", "Mathieu", "Chloé", "Nicolas", "Émilie", "Théo", "Sophie", "Hugo", "Manon",
            "Antoine", "Inès", "Lucas", "Céline", "Gaëlle", "François", "Hélène", "Jérôme", "Zoé"]
FR_LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
           "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier", "Girard", "Mercier", "Bonnet", "Chevalier",
           "Besnard", "Gauthier", "Perrin", "Rousseau"]
AT_FIRST = ["Lukas", "Anna", "Maximilian", "Sophie", "Florian", "Katharina", "Tobias", "Julia", "Stefan", "Lena",
            "Johannes", "Elisabeth", "Michael", "Theresa", "Andreas", "Jürgen", "Bernadette", "Wolfgang"]
AT_LAST = ["Gruber", "Huber", "Bauer", "Wagner", "Müller", "Pichler", "Steiner", "Moser", "Mayer", "Hofer",
           "Leitner", "Berger", "Fuchs", "Eder", "Fischer", "Schmid", "Winkler", "Weber", "Schwarz", "Maier",
           "Pöschl", "Strasser"]

# theme: (French name stems, Austrian name stems, NACE codes, competences)
THEMES = {
    "automotive": (["Mécanique de Précision", "Décolletage", "Équipements Auto", "Forge", "Usinage"],
                   ["Fahrzeugtechnik", "Präzisionsteile", "Antriebstechnik", "Zulieferwerk", "Metallbau"],
                   ["29.10", "29.32", "25.62", "28.15"],
                   ["CNC machining", "Welding", "Lightweight design", "Simulation (FEM)", "Metrology", "Assembly"]),
    "plastics": (["Plasturgie", "Injection Plastique", "Moules et Outillages", "Extrusion", "Composites"],
                 ["Kunststofftechnik", "Spritzguss", "Formenbau", "Kunststoffwerk", "Verbundwerkstoffe"],
                 ["22.29", "22.21", "20.16", "28.96"],
                 ["Injection moulding", "Extrusion", "Mould design", "Composite materials",
                  "Recycling of plastics", "Surface treatment"]),
    "wood": (["Menuiserie", "Scierie", "Charpente", "Ameublement", "Bois Massif"],
             ["Holzbau", "Sägewerk", "Tischlerei", "Möbelwerk", "Zimmerei"],
             ["16.10", "16.23", "31.09", "43.32"],
             ["Timber construction", "Wood drying", "CAD/CAM", "Painting and coating", "Prototyping"]),
    "hr": (["Conseil RH", "Formation Pro", "Recrutement", "Talents"],
           ["Personalberatung", "Bildungszentrum", "Karriere", "Akademie"],
           ["78.10", "70.22", "85.59"],
           ["Recruiting engineers", "Apprenticeship training", "Lean manufacturing", "Quality management (ISO 9001)"]),
}
SHARED_COMPETENCES = ["Energy efficiency", "Robotics", "Sensor integration", "3D printing", "Life-cycle assessment",
                      "Export to Germany", "Export to France", "Industrial design", "Laser cutting", "Logistics"]
JOBS = [("CEO", "management", "Directeur général"), ("Managing director", "management", "Geschäftsführer"),
        ("Head of R&D", "rnd", "Responsable R&D"), ("Plant manager", "production", "Directeur d'usine"),
        ("Sales director", "sales", "Directeur commercial"), ("HR manager", "hr", "Responsable RH"),
        ("Quality manager", "quality", "Responsable qualité"), ("Purchasing manager", "purchasing", "Acheteur"),
        ("CFO", "finance", "Directeur financier"), ("IT manager", "it", "Responsable informatique")]
SUBJECTS = ["Visit of the plant: needs in {c}", "Call about the project call on {c}", "Meeting with the management",
            "Follow-up after the workshop on {c}", "Introduced to a partner for {c}", "Membership renewal",
            "Presentation of the cluster's services", "Preparing the trade fair stand"]
SUMMARIES = ["They are looking for a partner in {c}; I promised two contacts.",
             "Good meeting. Interested in the training programme and the next networking evening.",
             "Growth of 10 % this year, hiring three engineers; asked about the export mission.",
             "Concerned by energy prices; would join a working group on {c}.",
             "Wants to present their new line at the members' day."]


def _siren(rng) -> str:
    body = f"{rng.randint(30000000, 99999999)}"
    return body + luhn.calc_check_digit(body)


def _vat_at(rng) -> str:
    body = f"{rng.randint(1000000, 9999999)}"
    return f"ATU{body}{uid.calc_check_digit('U' + body)}"


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def create_demo_data(clusters, rng, n_organizations: int = 320, n_persons: int = 560) -> None:
    """Fill the CRM (shared) and the memberships and interactions of the clusters running it."""
    from core import cluster_users, federation_admin_ids

    crm_clusters = [c for c in clusters if c.has_module("crm")]
    themes = list(THEMES)
    competences = {name: find_or_create_competence(name, theme)
                   for theme, (_fr, _at, _nace, comps) in THEMES.items() for name in comps}
    competences.update({name: find_or_create_competence(name, "cross-cutting") for name in SHARED_COMPETENCES})
    db.session.commit()

    # organizations, through the import
    sirens, vats, names = set(), set(), set()
    org_rows, org_meta = [], []
    special = [("Université Grenoble Alpes", "school", "85.42", "FR"), ("Johannes Kepler Universität Linz", "school",
               "85.42", "AT"), ("CEA-Liten", "research_lab", "72.19", "FR"), ("Profactor GmbH", "research_lab", "72.19",
               "AT"), ("Région Auvergne-Rhône-Alpes", "public_body", "84.13", "FR"), ("Business Upper Austria",
               "public_body", "84.13", "AT"), ("Association des Plasturgistes de l'Ain", "association", "94.11", "FR"),
               ("Verein Holzcluster Oberösterreich", "association", "94.11", "AT")]
    for i in range(n_organizations):
        theme = themes[i % len(themes)]
        fr_stems, at_stems, nace, _comps = THEMES[theme]
        french = rng.random() < 0.55
        if i < len(special):
            name, kind, sector, country = special[i]
            french = country == "FR"
        else:
            kind, sector = "company", rng.choice(nace)
            if french:
                name = f"{rng.choice(fr_stems)} {rng.choice(FR_LAST)}" + rng.choice([" SAS", " SARL", " SA", ""])
            else:
                name = f"{rng.choice(AT_LAST)} {rng.choice(at_stems)}" + rng.choice([" GmbH", " GmbH & Co KG", " AG"])
            if name in names:
                name = f"{name} {rng.choice(['Industrie', 'Technik', 'Services', 'Group'])}"
            if name in names:
                continue
        names.add(name)
        postcode, city = rng.choice(FR_CITIES if french else AT_CITIES)
        siren = vat = ""
        if french and kind != "public_body":
            siren = _siren(rng)
            while siren in sirens:
                siren = _siren(rng)
            sirens.add(siren)
        elif not french and rng.random() < 0.8:
            vat = _vat_at(rng)
            while vat in vats:
                vat = _vat_at(rng)
            vats.add(vat)
        employees = rng.choice([3, 8, 25, 40, 120, 180, 400, 1500])
        street = (f"{rng.randint(1, 120)} rue {rng.choice(['de la République', 'des Artisans', 'Jean Jaurès', 'du Lac'])}"
                  if french else f"{rng.choice(['Industriestraße', 'Hauptplatz', 'Linzer Straße', 'Werkstraße'])} "
                                 f"{rng.randint(1, 80)}")
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        tags = [theme] + (["export"] if rng.random() < 0.3 else []) + (["family business"] if rng.random() < 0.2 else [])
        org_rows.append([name, siren, vat, kind, sector, str(employees), street, postcode, city, "FR" if french else "AT",
                         f"https://www.{slug}.{'fr' if french else 'at'}", ", ".join(tags)])
        org_meta.append((name, theme, french))
    report = import_file(_csv(["legal_name", "siren", "vat_number", "kind", "sector", "size_band", "street",
                               "postcode", "city", "country", "website", "tags"], org_rows),
                         "organizations", filename="demo-organizations.csv")
    if not report.ok:
        raise RuntimeError(f"demo organizations refused: {report.errors[:3]}")
    ids = dict(db.session.execute(select(Organization.legal_name, Organization.id)).all())
    orgs = [(ids[name], theme, french) for name, theme, french in org_meta]

    # a group with subsidiaries
    groups = [o for o in orgs if o[1] == "plastics"][:4]
    if len(groups) == 4:
        for child_id, _t, _f in groups[1:]:
            db.session.get(Organization, child_id).parent_id = groups[0][0]

    # competences and needs
    for org_id, theme, _french in orgs:
        pool = THEMES[theme][3] + SHARED_COMPETENCES
        for name in rng.sample(pool, rng.randint(1, 4)):
            add_organization_competence(org_id, competences[name].id, "has")
        if rng.random() < 0.5:
            add_organization_competence(org_id, competences[rng.choice(pool)].id, "needs")
    db.session.commit()

    # persons, through the import
    person_rows, emails = [], set()
    for n in range(n_persons):
        org_id, _theme, french = orgs[n % len(orgs)] if n < len(orgs) * 2 else rng.choice(orgs)
        first, last = (rng.choice(FR_FIRST), rng.choice(FR_LAST)) if french else (rng.choice(AT_FIRST),
                                                                                 rng.choice(AT_LAST))
        job, function, job_fr = rng.choice(JOBS)
        base = normalize_email(
            f"{''.join(c for c in first.lower() if c.isalpha())}.{''.join(c for c in last.lower() if c.isalpha())}"
            f"@example.{'fr' if french else 'at'}".encode("ascii", "ignore").decode())
        email, k = base, 1
        while email in emails:
            k += 1
            email = base.replace("@", f"{k}@")
        emails.add(email)
        phone = (f"+33 4 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
                 if french else f"+43 732 {rng.randint(100000, 999999)}")
        person_rows.append([first, last, email if rng.random() < 0.93 else "", phone, job_fr if french else job,
                            function, "fr" if french else "en", str(org_id), job_fr if french else job])
    report = import_file(_csv(["first_name", "last_name", "email", "phone", "job_title", "function", "language",
                               "organization_id", "role"], person_rows), "persons", filename="demo-persons.csv")
    if not report.ok:
        raise RuntimeError(f"demo persons refused: {report.errors[:3]}")

    # consent: most accepted the newsletter at a fair, a few declined invitations
    persons = db.session.execute(select(Person.id)).scalars().all()
    day0 = today()
    for pid in persons:
        if rng.random() < 0.6:
            db.session.add(ConsentRecord(person_id=pid, purpose="newsletter", status="granted",
                                         method=rng.choice(["signed form at the trade fair", "web form",
                                                            "e-mail reply"])))
        if rng.random() < 0.05:
            db.session.add(ConsentRecord(person_id=pid, purpose="event_invitations", status="withdrawn",
                                         method="asked by phone"))
    db.session.commit()

    persons_of: dict[int, list[int]] = {}
    for pid, oid in db.session.execute(select(PersonOrganization.person_id, PersonOrganization.organization_id)):
        persons_of.setdefault(oid, []).append(pid)

    # memberships and interactions, per cluster running the CRM
    cluster_theme = {"automotive": "automotive", "plastics": "plastics", "wood": "wood", "hr": "hr"}
    for cluster in crm_clusters:
        theme = next((t for key, t in cluster_theme.items() if key in cluster.slug), rng.choice(themes))
        mine = [o for o in orgs if o[1] == theme] + rng.sample(orgs, 15)
        mine = list(dict.fromkeys(mine))
        authors = ([u.id for u in cluster_users(cluster.id, roles=("staff", "manager", "admin"))]
                   or federation_admin_ids())
        for org_id, _t, _f in mine[:60]:
            roll = rng.random()
            start = day0 - timedelta(days=rng.randint(60, 2500))
            tier = rng.choice(["Small company", "Medium company", "Large company", "Research and education"])
            if roll < 0.65:
                db.session.add(Membership(cluster_id=cluster.id, organization_id=org_id, status="member",
                                          start_date=start, fee_tier=tier))
            elif roll < 0.8:
                db.session.add(Membership(cluster_id=cluster.id, organization_id=org_id, status="former",
                                          start_date=start, end_date=start + timedelta(days=rng.randint(365, 1000)),
                                          fee_tier=tier))
            else:
                db.session.add(Membership(cluster_id=cluster.id, organization_id=org_id, status="prospect",
                                          start_date=day0 - timedelta(days=rng.randint(5, 200))))
        pool = THEMES[theme][3]
        for k in range(90):
            org_id = rng.choice(mine)[0]
            topic = rng.choice(pool)
            day = day0 - timedelta(days=rng.randint(0, 700))
            follow = None
            if k % 6 == 0:  # every sixth asks for a follow-up; a few of them are late
                follow = day0 + timedelta(days=rng.randint(-10, -1) if k % 18 == 0 else rng.randint(0, 30))
                day = min(day, follow)
            interaction = Interaction(
                cluster_id=cluster.id, organization_id=org_id,
                kind=rng.choice(["visit", "visit", "visit", "call", "meeting", "email", "note"]), date=day,
                author_id=rng.choice(authors) if authors else None,
                subject=rng.choice(SUBJECTS).format(c=topic.lower()),
                summary=rng.choice(SUMMARIES).format(c=topic.lower()), follow_up_on=follow,
                follow_up_done=False)
            met = persons_of.get(org_id, [])
            if met:
                interaction.persons = list(db.session.execute(select(Person).where(
                    Person.id.in_(rng.sample(met, min(len(met), rng.randint(1, 2)))))).scalars())
            db.session.add(interaction)
        db.session.add(Segment(cluster_id=cluster.id, name="Members", filters={"membership": "member"}))
        db.session.add(Segment(cluster_id=cluster.id, name=f"{theme.title()} companies",
                               filters={"tag": theme, "kind": "company"}))
        db.session.commit()
