"""The events' part of ``grappe bench``: three years of events and registrations, through
the event form and the event and registration operations (seat rules, waitlist, check-in),
and the event pages measured.

The load runs outside any request: the operations flush, and it commits what each
cluster's batch made (as a request would, once per event).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from werkzeug.datastructures import MultiDict

from core import db, hookimpl

KINDS = ["conference", "workshop", "workshop", "company_visit", "trade_fair", "webinar", "networking"]
TODAY = datetime(2026, 11, 1, tzinfo=timezone.utc)  # the synthetic federation's "today"


@hookimpl
def grappe_bench_load(bench):
    from . import registrations, services
    from .forms import EventForm

    rng, synth = bench.rng, bench.synth
    clusters = bench.clusters_with("events")
    person_ids = bench.data.get("crm.person_ids") or []
    persons_of = bench.data.get("crm.persons_of_organization") or {}
    members = bench.data.get("crm.member_organization_ids") or {}
    if not clusters or not person_ids:
        return
    n_events, n_regs = bench.count("events"), bench.count("registrations")

    # events: spread over three years (a tenth still to come), bigger clusters run more
    weights = [3 if c.id == bench.main_cluster.id else 2 if len(c.modules) > 3 else 1 for c in clusters]
    plans = []
    for k in range(n_events):
        cluster = rng.choices(clusters, weights)[0]
        days = rng.randint(-1095, 180) if rng.random() < 0.1 else rng.randint(-1095, -2)
        starts = datetime.combine((TODAY + timedelta(days=days)).date(), time(rng.choice([8, 9, 14, 17])),
                                  tzinfo=timezone.utc)
        plans.append((cluster, starts))
    events: list[tuple[object, int, datetime, int | None]] = []
    with bench.timer("events.events", n_events, tables=("events_event",)) as t:
        for cluster in clusters:
            mine = [p for p in plans if p[0].id == cluster.id]
            with bench.acting_as(cluster):
                for _, starts in mine:
                    online = rng.random() < 0.2
                    capacity = rng.choice([None, None, 20, 30, 40, 60, 120])
                    price = rng.choice([0, 0, 0, 50, 90, 150, 350])
                    form = EventForm(formdata=MultiDict({
                        "title": synth.event_title(rng), "kind": rng.choice(KINDS),
                        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
                        "ends_at": (starts + timedelta(hours=rng.choice([2, 3, 4, 8]))).strftime("%Y-%m-%dT%H:%M"),
                        "venue": "" if online else f"{rng.choice(synth.CITIES_AT)[0]}, {rng.choice(['Tech Center', 'Cluster office', 'Member site', 'Design Center'])}",
                        "online_url": "https://meet.example.org/" + str(rng.randint(10000, 99999)) if online else "",
                        "capacity": str(capacity or ""), "member_price": str(price),
                        "non_member_price": str(int(price * 1.6)),
                        "description": "Talks, case studies from members and time to meet.",
                    }), meta={"csrf": False})
                    if not form.validate():
                        raise RuntimeError(f"bench event refused: {form.errors}")
                    event = services.save_event(None, form)
                    services.change_event_status(event, "open")
                    db.session.commit()
                    events.append((cluster, event.id, starts, capacity))
            t.batch(len(mine))
    bench.data["events.event_ids"] = [e[1] for e in events]

    # registrations: mostly people of member companies, 20 a head on average
    member_persons = {cid: [p for org in orgs for p in persons_of.get(org, [])] for cid, orgs in members.items()}
    share = [max(1, int(rng.expovariate(1.0) * n_regs / len(events))) for _ in events]
    scale_fix = n_regs / sum(share)
    share = [max(1, round(s * scale_fix)) for s in share]
    share[-1] += n_regs - sum(share)
    registered: dict[int, list[tuple[int, str]]] = {}
    with bench.timer("events.registrations", n_regs, tables=("events_registration",)) as t:
        done = 0
        for (cluster, event_id, starts, capacity), count in zip(events, share):
            if count <= 0:
                continue
            pool = member_persons.get(cluster.id) or person_ids
            chosen = set()
            while len(chosen) < min(count, len(person_ids)):
                chosen.add(rng.choice(pool) if rng.random() < 0.7 else rng.choice(person_ids))
            with bench.acting_as(cluster):
                outcomes = registrations.register_many(event_id, list(chosen), notify=False,
                                                       source=rng.choice(["staff", "staff", "invitation", "public"]))
                db.session.commit()
                registered.setdefault(event_id, []).extend((o.registration_id, o.status) for o in outcomes)
            done += len(chosen)
            if done >= 500 or event_id == events[-1][1]:
                t.batch(done)
                done = 0
        t.record.rows = sum(len(v) for v in registered.values())
    bench.data["events.registrations"] = registered

    # the past: some cancel, most attend, the rest are no-shows, the event is done
    past = [e for e in events if e[2] < TODAY - timedelta(days=1)]
    changes = sum(len(registered.get(e[1], [])) for e in past)
    with bench.timer("events.attendance", changes) as t:
        for cluster, event_id, starts, capacity in past:
            with bench.acting_as(cluster):
                attended = []
                for reg_id, status in registered.get(event_id, []):
                    if status != "registered":
                        continue
                    roll = rng.random()
                    if roll < 0.08:
                        registrations.cancel(reg_id, notify=False)
                    elif roll < 0.85:
                        attended.append(reg_id)
                if attended:
                    registrations.mark_attended(event_id, attended)
                registrations.finish_checkin(event_id)
                db.session.commit()
            t.batch(len(registered.get(event_id, [])))


@hookimpl
def grappe_bench_measure(bench):
    main = bench.main_cluster
    if not main.has_module("events"):
        return
    slug = main.slug
    if not bench.has_route(f"/{slug}/events/"):
        bench.echo("  events: no event pages yet, nothing to measure")
        return
    bench.measure_page("events.events", f"/{slug}/events/")
    from sqlalchemy import func, select

    from .models import Registration

    with db.for_cluster(main.id):
        busiest = db.session.execute(
            select(Registration.event_id)
            .group_by(Registration.event_id).order_by(func.count().desc(), Registration.event_id).limit(1)
        ).scalar_one_or_none()
    if busiest is not None and bench.has_route(f"/{slug}/events/{busiest}/registrations"):
        bench.measure_page("events.registrations (busiest event)", f"/{slug}/events/{busiest}/registrations")
