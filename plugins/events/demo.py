"""Demo data for ``grappe demo``: a year of events per cluster, through the real services.

Past events have their check-in closed (attended, no-shows); this week's event is
ready for the check-in page; one upcoming event is full with a waitlist, one is
cancelled, one is a draft, and a few persons are invited.  Attendees are the CRM's
persons (those with an address); when the CRM has too few, demo attendees are added
through ``plugins.crm.api.find_or_create_person``.

The demo runs outside any request: each cluster's data is made as that cluster
(``db.for_cluster``) and committed event by event (mails queued by the operations go
out at those commits).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from core import db, utcnow
from plugins.crm import api as crm

from . import registrations, services
from .models import Event, EventTopic, Registration

TITLES = {
    "en": [
        ("conference", "Annual members' conference"), ("workshop", "Lean production workshop"),
        ("company_visit", "Company visit: robotic welding line"), ("webinar", "Webinar: energy prices in 2027"),
        ("networking", "Members' breakfast"), ("trade_fair", "Joint stand at the trade fair"),
        ("workshop", "Workshop: export to North America"), ("conference", "Digital twins day"),
        ("company_visit", "Company visit: recycling plant"), ("networking", "After-work networking"),
        ("webinar", "Webinar: EU funding calls"), ("workshop", "Design thinking workshop"),
        ("conference", "Hydrogen mobility forum"), ("networking", "New members' welcome evening"),
    ],
    "fr": [
        ("conference", "Assemblée annuelle des adhérents"), ("workshop", "Atelier production lean"),
        ("company_visit", "Visite d'entreprise : ligne de soudage robotisée"),
        ("webinar", "Webinaire : prix de l'énergie en 2027"), ("networking", "Petit-déjeuner des adhérents"),
        ("trade_fair", "Stand collectif au salon"), ("workshop", "Atelier : exporter en Amérique du Nord"),
        ("conference", "Journée jumeaux numériques"), ("company_visit", "Visite d'entreprise : centre de recyclage"),
        ("networking", "Afterwork réseau"), ("webinar", "Webinaire : appels à projets européens"),
        ("workshop", "Atelier design thinking"), ("conference", "Forum mobilité hydrogène"),
        ("networking", "Soirée d'accueil des nouveaux adhérents"),
    ],
}
VENUES = ["Technopole, 4 rue de l'Innovation", "Cluster office, meeting room 2", "Member site, visitors' entrance",
          "Chamber of Commerce, auditorium", "Design Center, hall B"]
FIRST = ["Anna", "Bruno", "Chloé", "David", "Emma", "Felix", "Giulia", "Hugo", "Inès", "Jonas", "Katarina", "Lucas",
         "Maria", "Nicolas", "Olga", "Pierre", "Quentin", "Rosa", "Samuel", "Tanja", "Ugo", "Vera", "William", "Yasmin"]
LAST = ["Auer", "Bernard", "Costa", "Dubois", "Eder", "Fischer", "Garnier", "Huber", "Ivanova", "Jäger", "Klein",
        "Laurent", "Moser", "Nowak", "Olivier", "Petit", "Rossi", "Schmid", "Thomas", "Unger", "Vogel", "Weber"]
COMPANIES = ["Alpenplast GmbH", "Rhône Composites", "Mecatron SA", "Holzbau Steiner", "Lumière Optique",
             "Danube Robotics", "Atelier Moreau", "Voestline Parts", "EcoFilm Packaging", "Nordic Sensors"]


def _attendee_pool(cluster, rng, wanted: int = 60) -> list[int]:
    """CRM persons with an address (``search_persons("@")``), topped up with demo attendees."""
    found = [p.id for p in crm.search_persons("@", limit=400) if p.email and not p.erased]
    rng.shuffle(found)
    pool = found[:wanted]
    n = 0
    while len(pool) < wanted:
        n += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}.{cluster.slug}{n}@demo.example".lower().replace("ä", "a").replace("è", "e") \
            .replace("é", "e").replace("ï", "i").replace("ö", "o").replace("ü", "u")
        person_id, _ = crm.find_or_create_person(
            email=email, first_name=first, last_name=last, organization_name=rng.choice(COMPANIES),
            language=cluster.language if rng.random() < 0.8 else ("en" if cluster.language == "fr" else "fr"),
            source="events demo")
        pool.append(person_id)
    db.session.commit()
    return pool


def _event(cluster, rng, kind: str, title: str, day: datetime, hours: int, capacity, price: int, status: str,
           topics: list[int]) -> Event:
    tz = cluster.zone
    start = datetime.combine(day.astimezone(tz).date(), time(rng.choice([9, 10, 14, 17])), tzinfo=tz)
    online = kind == "webinar"
    event = Event(cluster_id=cluster.id, title=title, kind=kind, status=status,
                  starts_at=start, ends_at=start + timedelta(hours=hours), capacity=capacity,
                  venue="" if online else rng.choice(VENUES),
                  online_url="https://meet.demo.example/" + str(rng.randint(10000, 99999)) if online else "",
                  member_price=Decimal(price), non_member_price=Decimal(int(price * 1.8)),
                  description="Talks, case studies from members and time to meet." if cluster.language == "en"
                  else "Interventions, retours d'expérience d'adhérents et temps d'échange.")
    event.topics = [EventTopic(cluster_id=cluster.id, competence_id=cid) for cid in topics]
    db.session.add(event)
    db.session.commit()
    return event


def create_demo_data(clusters, rng) -> None:
    competences = [cid for cid, _name in crm.competence_choices()]
    for cluster in clusters:
        if not cluster.has_module("events"):
            continue
        with db.for_cluster(cluster.id):
            _cluster_demo(cluster, rng, competences)


def _cluster_demo(cluster, rng, competences: list[int]) -> None:
    """One cluster's year of events (inside ``db.for_cluster(cluster.id)``)."""
    pool = _attendee_pool(cluster, rng)
    titles = TITLES.get(cluster.language, TITLES["en"])
    now = utcnow()
    plan = [  # days from today, status, capacity, price, how many register
        (-300, "closed", 40, 0, 25), (-240, "closed", None, 90, 18), (-180, "closed", 25, 0, 22),
        (-120, "closed", 60, 150, 35), (-75, "closed", 30, 0, 16), (-40, "closed", 20, 50, 20),
        (-12, "closed", None, 0, 12),
        (0, "open", 30, 0, 14),   # today: the check-in page has work
        (9, "open", 12, 90, 16),  # full, with a waitlist
        (21, "open", 80, 0, 9), (35, "open", None, 350, 4), (50, "draft", 40, 0, 0),
        (63, "cancelled", 25, 0, 0), (90, "open", 100, 0, 2),
    ]
    for (days, status, capacity, price, count), (kind, title) in zip(plan, titles):
        day = now + timedelta(days=days)
        if days == 0:
            day = now - timedelta(hours=1)
        topics = rng.sample(competences, k=min(len(competences), rng.randint(0, 2)))
        event = _event(cluster, rng, kind, title, day, 8 if kind == "trade_fair" else rng.choice([2, 3, 4]),
                       capacity, price, "open" if status == "cancelled" else status, topics)
        if days == 0:
            event.starts_at = now - timedelta(minutes=30)
            event.ends_at = now + timedelta(hours=3)
            db.session.commit()
        people = rng.sample(pool, k=min(count, len(pool)))
        for i, person_id in enumerate(people):
            registrations.register(event.id, person_id, notify=days == 9 and i >= 10,
                                   source=rng.choice(["staff", "public", "public", "invitation"]))
        if days < 0:
            _past_attendance(event, rng)
        if days == 21:
            _invite(event, cluster, [p for p in pool if p not in people][:8])
        if status == "cancelled":
            services.change_event_status(event, "cancelled")
        db.session.commit()


def _past_attendance(event: Event, rng) -> None:
    """Some cancel, most attend, the rest are no-shows; the check-in is closed and the event done."""
    regs = db.session.execute(
        select(Registration.id, Registration.status).where(Registration.event_id == event.id)).all()
    for reg_id, status in regs:
        if status != "registered":
            continue
        roll = rng.random()
        if roll < 0.07:
            registrations.cancel(reg_id, notify=False)
        elif roll < 0.85:
            registrations.change_status(reg_id, "attended", notify=False)
    registrations.finish_checkin(event.id)


def _invite(event: Event, cluster, person_ids: list[int]) -> None:
    """Invited persons, recorded as the invitation job would (their mails go out with the demo's jobs)."""
    now = utcnow()
    for person_id in person_ids:
        person = crm.get_person(person_id)
        db.session.add(Registration(event_id=event.id, person_id=person_id, cluster_id=cluster.id, status="invited",
                                    source="invitation", organization_id=person.organization_id if person else None,
                                    invited_at=now))
    db.session.commit()
