"""Sign-in throttling by account and by source address (core.auth, core_login_throttle).

Nobody can keep an account's owner out for long, spraying many accounts (or e-mails no
account has) from one address is slowed down, the answers never tell accounts apart,
concurrent failures are counted exactly, and throttling goes to the audit log.

No test reads the real clock: ``clock`` replaces ``core.auth.throttle_now``.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from core import auth, db
from core.models import AuditEntry, LoginThrottle
from core.testing import TEST_PASSWORD, make_test_app, truncate_all

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth, "throttle_now", c)
    return c


def login(app, email, password, address=ATTACKER, client=None, **headers):
    client = client or app.test_client()
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def messages(response) -> list[str]:
    """The error messages under the form's fields."""
    html = response.get_data(as_text=True)
    return [m.strip() for block in re.findall(r'<ul class="errors"[^>]*>(.*?)</ul>', html, re.S)
            for m in re.findall(r"<li>(.*?)</li>", block, re.S)]


def signed_in(client, address=ATTACKER) -> bool:
    # Flask-Login's "strong" session protection ties the session to the address
    return client.get("/account", environ_base={"REMOTE_ADDR": address}).status_code == 200


def counter(kind: str) -> list[int]:
    return sorted(db.session.execute(select(LoginThrottle.failures).where(LoginThrottle.kind == kind)).scalars())


def audit(*actions) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if actions:
        stmt = stmt.where(AuditEntry.action.in_(actions))
    return list(db.session.execute(stmt).scalars())


WRONG = "Wrong e-mail or password."


def wait_text(seconds: int) -> str:
    return f"Too many attempts: try again in {seconds} second{'s' if seconds != 1 else ''}."


# -- the owner is slowed down, never locked out ---------------------------------------------
def test_five_wrong_passwords_from_an_attacker_do_not_keep_the_owner_out(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    for attempt in range(1, 5):
        r = login(app, "owner@example.org", f"guess-number-{attempt}")
        assert r.status_code == 401 and messages(r) == [WRONG]
    r = login(app, "owner@example.org", "guess-number-5")
    assert r.status_code == 401 and messages(r) == [WRONG, wait_text(1)]

    # while the delay runs, attempts are refused before the password is checked: even the
    # right one gets nothing, from the attacker or from the owner
    attacker = app.test_client()
    r = login(app, "owner@example.org", TEST_PASSWORD, client=attacker)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and messages(r) == [wait_text(1)]
    assert not signed_in(attacker)
    assert login(app, "owner@example.org", TEST_PASSWORD, address=OWNER).status_code == 429

    # a second later the owner is in
    clock.advance(1)
    owner = app.test_client()
    r = login(app, "owner@example.org", TEST_PASSWORD, address=OWNER, client=owner)
    assert r.status_code == 302 and signed_in(owner, OWNER)


def test_an_attacker_who_keeps_trying_only_gets_waits_capped_at_a_few_minutes(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    waits = []
    for attempt in range(16):  # each guess as soon as the previous wait is over, from many addresses
        r = login(app, "owner@example.org", f"guess-number-{attempt}", address=f"203.0.113.{attempt}")
        assert r.status_code == 401
        found = [int(m.split()[-2]) for m in messages(r) if m.startswith("Too many attempts")]
        waits.append(found[0] if found else 0)
        clock.advance(waits[-1])
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]

    # the longest wait is LOGIN_MAX_DELAY (300 s by default): then the right password works
    assert login(app, "owner@example.org", TEST_PASSWORD, address=OWNER).status_code == 302
    assert counter("account") == []  # and the account's count starts over


def test_a_successful_sign_in_resets_the_account_count_but_not_the_address_count(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    for attempt in range(4):
        login(app, "owner@example.org", f"typo-{attempt}", address=OWNER)
    assert login(app, "owner@example.org", TEST_PASSWORD, address=OWNER).status_code == 302
    assert counter("account") == [] and counter("address") == [4]
    for attempt in range(4):  # four more typos: no wait, the account counts from zero again
        assert messages(login(app, "owner@example.org", f"typo-{attempt}", address=OWNER)) == [WRONG]
    assert counter("account") == [4] and counter("address") == [8]


def test_counts_start_over_after_a_window_without_failures(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    for attempt in range(4):
        login(app, "owner@example.org", f"typo-{attempt}")
        clock.advance(14 * 60)  # LOGIN_ACCOUNT_LIMIT "5/900": never 15 minutes without a failure
    assert messages(login(app, "owner@example.org", "typo-4")) == [WRONG, wait_text(1)]
    clock.advance(15 * 60)  # now 15 minutes without one: forgotten
    for attempt in range(4):
        assert messages(login(app, "owner@example.org", f"typo-{attempt}")) == [WRONG]
    assert messages(login(app, "owner@example.org", "typo-5")) == [WRONG, wait_text(1)]


def test_counters_nothing_concerns_any_more_are_deleted(app, clock):
    login(app, "ghost@example.org", "guess", address=OWNER)
    clock.advance(15 * 60 + 300 + 1)  # past the window and the longest wait
    login(app, "other@example.org", "guess")
    keys = db.session.execute(select(LoginThrottle.kind, LoginThrottle.failures)).all()
    assert sorted(keys) == [("account", 1), ("address", 1)]  # the new e-mail's and address's only


# -- spraying from one address ------------------------------------------------------------------
def test_spraying_thirty_accounts_from_one_address_gets_throttled(app, factory, clock):
    one = factory.cluster("one", modules=())
    for i in range(30):
        factory.user(f"user{i:02d}@example.org", "staff", one)
    statuses = []
    for i in range(30):
        r = login(app, f"user{i:02d}@example.org", "Summer2026!")
        statuses.append(r.status_code)
        if i == 19:  # LOGIN_ADDRESS_LIMIT "20/900": the 20th failure from here starts the waits
            assert messages(r) == [WRONG, wait_text(1)]
    assert statuses == [401] * 20 + [429] * 10
    assert counter("address") == [20]
    assert counter("account") == [1] * 20  # the refused ten were never checked nor counted

    # another address is not slowed down, and after the wait this one gets one more guess
    assert login(app, "user29@example.org", TEST_PASSWORD, address=OWNER).status_code == 302
    clock.advance(1)
    r = login(app, "user20@example.org", "Summer2026!")
    assert r.status_code == 401 and messages(r) == [WRONG, wait_text(2)]


def test_e_mails_no_account_has_count_against_the_address_too(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    statuses = [login(app, f"nobody{i}@example.org", "Summer2026!").status_code for i in range(22)]
    assert statuses == [401] * 20 + [429] * 2
    assert login(app, "owner@example.org", TEST_PASSWORD).status_code == 429  # the same address
    assert login(app, "owner@example.org", TEST_PASSWORD, address=OWNER).status_code == 302


def test_a_forged_x_forwarded_for_does_not_escape_the_address_count(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    statuses = [login(app, f"nobody{i}@example.org", "Summer2026!", **{"X-Forwarded-For": f"192.0.2.{i}"}).status_code
                for i in range(21)]
    assert statuses == [401] * 20 + [429]  # GRAPPE_PROXY_COUNT unset: the header is not believed


def test_behind_a_proxy_the_forwarded_address_is_counted(_schema, instance_path, clock):
    proxied = make_test_app(_schema, instance_path, PROXY_COUNT=1)
    with proxied.app_context():
        truncate_all()
        statuses = [login(proxied, f"nobody{i}@example.org", "Summer2026!", address="127.0.0.1",
                          **{"X-Forwarded-For": f"192.0.2.{i % 2}"}).status_code for i in range(42)]
        # two clients behind the same proxy: each has its own 20 failures
        assert statuses[:40] == [401] * 40 and statuses[40:] == [429, 429]
        assert counter("address") == [20, 20]
        db.session.rollback()


# -- no enumeration ---------------------------------------------------------------------------
def test_unknown_e_mails_are_throttled_exactly_like_known_ones(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)

    def story(email, address):
        seen = []
        for step in range(9):
            r = login(app, email, "not-the-password", address=address)
            html = r.get_data(as_text=True).replace(email, "EMAIL")
            seen.append((r.status_code, r.headers.get("Retry-After"), messages(r), html))
            if step in (5, 7):
                clock.advance(step // 3)  # the wait that step saw: 1 s, then 2 s
        return seen

    start = clock.now
    known = story("owner@example.org", "198.51.100.1")
    clock.now = start
    unknown = story("ghost@example.org", "198.51.100.2")
    assert [s[:3] for s in known] == [s[:3] for s in unknown]
    assert known == unknown  # the whole page, byte for byte
    assert [s[0] for s in known] == [401] * 5 + [429, 401, 429, 401]
    assert known[4][2] == [WRONG, wait_text(1)] and known[5][2] == [wait_text(1)]
    assert known[6][2] == [WRONG, wait_text(2)] and known[8][2] == [WRONG, wait_text(4)]


def test_the_wait_is_told_in_french(app, factory, clock):
    for attempt in range(5):
        login(app, "ghost@example.org", f"guess-{attempt}")
    r = login(app, "ghost@example.org", "guess", **{"Accept-Language": "fr"})
    assert r.status_code == 429
    assert messages(r) == ["Trop de tentatives\u00a0: réessayez dans 1 seconde."]
    clock.advance(1)
    login(app, "ghost@example.org", "guess")
    r = login(app, "ghost@example.org", "guess", **{"Accept-Language": "fr"})
    assert messages(r) == ["Trop de tentatives\u00a0: réessayez dans 2 secondes."]


# -- races ------------------------------------------------------------------------------------
def _together(app, count, attempt):
    barrier = threading.Barrier(count)
    statuses = []

    def run(i):
        barrier.wait()
        statuses.append(attempt(i).status_code)

    db.session.commit()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def test_simultaneous_failures_are_counted_exactly(app, factory, clock):
    one = factory.cluster("one", modules=())
    factory.user("owner@example.org", "staff", one)
    app.config.update(LOGIN_ACCOUNT_LIMIT="1000/900", LOGIN_ADDRESS_LIMIT="1000/900")
    statuses = _together(app, 12, lambda i: login(app, "owner@example.org", f"guess-{i}"))
    assert statuses == [401] * 12
    assert counter("account") == [12] and counter("address") == [12]
    assert len(audit("login_failed")) == 12


def test_simultaneous_failures_start_the_waits_once(app, factory, clock):
    one = factory.cluster("one", modules=())
    user = factory.user("owner@example.org", "staff", one)
    statuses = _together(app, 10, lambda i: login(app, "owner@example.org", f"guess-{i}", address=f"192.0.2.{i}"))
    # the attempts that read "no wait" before the 5th failure was counted are checked and
    # counted (at most one more per worker than a one-by-one run); the later ones are refused
    checked = statuses.count(401)
    assert checked >= 5 and sorted(statuses) == [401] * checked + [429] * (10 - checked)
    assert counter("account") == [checked]
    starts = audit("login_throttle_start")
    assert [(e.object_type, e.object_id) for e in starts] == [("core.user", str(user.id))]
    row = db.session.execute(select(LoginThrottle).where(LoginThrottle.kind == "account")).scalar_one()
    assert row.blocked_until == clock.now + timedelta(seconds=2 ** (checked - 5))  # the last failure's wait


# -- audit ------------------------------------------------------------------------------------
def test_throttling_is_audited_without_passwords_or_unknown_e_mails(app, factory, clock):
    one = factory.cluster("one", modules=())
    user = factory.user("owner@example.org", "staff", one)
    for attempt in range(5):
        login(app, "owner@example.org", f"secret-guess-{attempt}")
    for _ in range(12):
        assert login(app, "owner@example.org", "secret-guess-refused").status_code == 429
    for attempt in range(5):
        login(app, "ghost@example.org", f"secret-guess-{attempt}", address=OWNER)
    login(app, "ghost@example.org", "secret-guess-refused", address=OWNER)

    entries = audit("login_failed", "login_throttle_start", "login_throttled")
    mine = [(e.action, e.object_type, e.object_id, e.user_id, e.cluster_id) for e in entries if e.user_id == user.id]
    assert mine == ([("login_failed", "core.user", str(user.id), user.id, None)] * 5
                    + [("login_throttle_start", "core.user", str(user.id), user.id, None)]
                    + [("login_throttled", "core.user", str(user.id), user.id, None)] * 2)  # 1st and 10th refusal
    assert "owner@example.org: 5 failed sign-ins without a 15 min pause" in entries[5].summary
    assert "(1 during this wait)" in entries[6].summary and "(10 during this wait)" in entries[7].summary

    ghost = [e for e in entries if e.user_id is None]
    assert [(e.action, e.object_type) for e in ghost] == [("login_throttle_start", "core.login_throttle"),
                                                            ("login_throttled", "core.login_throttle")]
    assert ghost[0].object_id.startswith("account:") and ghost[0].summary.startswith("unknown e-mail #")
    everything = " ".join(f"{e.object_id} {e.summary} {e.changes}" for e in audit())
    assert "ghost" not in everything and "secret-guess" not in everything
    assert "argon2" not in everything


def test_the_address_that_sprays_is_named_in_the_audit_log(app, factory, clock):
    for i in range(21):
        login(app, f"nobody{i}@example.org", "Summer2026!")
    [start] = audit("login_throttle_start")
    [refused] = audit("login_throttled")
    assert start.object_type == refused.object_type == "core.login_throttle"
    assert start.object_id.startswith("address:") and start.cluster_id is None
    assert start.summary == (f"address {ATTACKER}: 20 failed sign-ins without a 15 min pause: "
                             "next attempts wait, from 1 s up to 300 s")
    assert refused.summary.startswith(f"address {ATTACKER}: sign-in refused without checking the password")


# -- settings ---------------------------------------------------------------------------------
def test_the_limits_come_from_the_config(_schema, instance_path, clock):
    strict = make_test_app(_schema, instance_path, LOGIN_ACCOUNT_LIMIT="3/60", LOGIN_MAX_DELAY=5)
    with strict.app_context():
        truncate_all()
        waits = []
        for attempt in range(6):
            r = login(strict, "ghost@example.org", f"guess-{attempt}")
            found = [int(m.split()[-2]) for m in messages(r) if m.startswith("Too many attempts")]
            waits.append(found[0] if found else 0)
            clock.advance(waits[-1])
        assert waits == [0, 0, 1, 2, 4, 5]
        db.session.rollback()


@pytest.mark.parametrize("setting", [
    {"LOGIN_ACCOUNT_LIMIT": "five"}, {"LOGIN_ADDRESS_LIMIT": "20"}, {"LOGIN_ACCOUNT_LIMIT": "0/900"},
    {"LOGIN_MAX_DELAY": "-1"}, {"LOGIN_MAX_DELAY": 0.5}, {"PROXY_COUNT": "one"},
])
def test_a_malformed_setting_stops_the_start(_schema, instance_path, setting):
    with pytest.raises(ValueError, match=next(iter(setting)).replace("PROXY_COUNT", "GRAPPE_PROXY_COUNT")
                       .replace("LOGIN_MAX_DELAY", "LOGIN_(MAX|FIRST)_DELAY")):
        make_test_app(_schema, instance_path, **setting)
