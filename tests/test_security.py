"""CSRF, password hashing, no default credentials, cookies, headers, tokens."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from core import db
from core.auth import check_password, new_api_token
from core.cli import cli
from core.models import AuditEntry, User
from core.testing import TEST_PASSWORD, Factory, make_test_app, truncate_all


def _token_in(html: str) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'<input[^>]*value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


@pytest.fixture
def csrf_app(_schema, instance_path):
    app = make_test_app(_schema, instance_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        truncate_all()
        yield app
        db.session.rollback()


# -- CSRF ------------------------------------------------------------------------------
def test_a_form_post_without_its_csrf_token_is_rejected(csrf_app):
    f = Factory(csrf_app)
    one = f.cluster("one", modules=())
    admin = f.user("admin@example.org", "admin", one)
    client = csrf_app.test_client(user=admin)
    data = {"name": "Renamed", "timezone": "Europe/Paris", "currency": "EUR", "language": "fr"}

    r = client.post("/one/admin/profile", data=data)
    assert r.status_code == 400
    assert "CSRF" in r.get_data(as_text=True)
    r = client.post("/one/admin/profile", data={**data, "csrf_token": "forged"})
    assert r.status_code == 400
    db.session.refresh(one)
    assert one.name == "One"

    # the same post with the form's token goes through (the control)
    token = _token_in(client.get("/one/admin/profile").get_data(as_text=True))
    r = client.post("/one/admin/profile", data={**data, "csrf_token": token})
    assert r.status_code == 302
    db.session.refresh(one)
    assert one.name == "Renamed"


def test_the_login_form_and_state_changing_buttons_need_the_token(csrf_app):
    f = Factory(csrf_app)
    one = f.cluster("one", modules=())
    f.user("u@example.org", "admin", one)
    client = csrf_app.test_client()
    r = client.post("/login", data={"email": "u@example.org", "password": TEST_PASSWORD})
    assert r.status_code == 400
    assert "/one" not in r.headers.get("Location", "")
    token = _token_in(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"email": "u@example.org", "password": TEST_PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    # logged in now; signing out and enabling a module are forms too
    assert client.post("/logout").status_code == 400
    assert client.post("/one/admin/", data={"module": "x", "action": "enable"}).status_code == 400
    assert client.get("/one/").status_code == 200


def test_the_api_needs_no_csrf_token(csrf_app):
    f = Factory(csrf_app)
    one = f.cluster("one", modules=())
    u = f.user("u@example.org", "admin", one)
    token = new_api_token(u)
    db.session.commit()
    r = csrf_app.test_client().get("/api/v1/one/core/modules", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


# -- login throttling: tests/test_login_throttle.py ---------------------------------------------
def _login(client, email, password, **kw):
    return client.post("/login", data={"email": email, "password": password}, **kw)


# -- passwords --------------------------------------------------------------------------
def test_passwords_are_hashed_with_argon2_and_never_stored_in_clear(app, factory):
    one = factory.cluster("one", modules=())
    user = factory.user("u@example.org", "staff", one, password="a clear password!")
    row = db.session.execute(text("SELECT * FROM core_user WHERE id = :id"), {"id": user.id}).mappings().one()
    assert row["password_hash"].startswith("$argon2id$")
    assert not any("a clear password!" in str(v) for v in row.values())
    audit = db.session.execute(select(AuditEntry.changes, AuditEntry.summary)).all()
    assert not any("a clear password!" in str(a) or "argon2" in str(a) for a in audit)
    assert check_password(user, "a clear password!")
    assert not check_password(user, "a clear password")


def test_the_production_hasher_is_argon2id_with_real_cost(_schema, instance_path):
    app = make_test_app(_schema, instance_path, fast_password_hashing=False)
    with app.app_context():
        from core.auth import hash_password

        hashed = hash_password("correct-horse-battery")
        assert hashed.startswith("$argon2id$")
        params = dict(p.split("=") for p in hashed.split("$")[3].split(","))
        assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2


def test_changing_ones_password_needs_the_current_one_and_hashes_the_new_one(app, factory):
    one = factory.cluster("one", modules=())
    user = factory.user("u@example.org", "staff", one)
    client = app.test_client(user=user)
    change = {"name": "U", "language": "", "new_password": "another-long-one", "confirm": "another-long-one"}
    for current in ("", "not-my-password"):
        r = client.post("/account", data={**change, "current_password": current})
        assert r.status_code == 400
        assert "Give your current password to set a new one." in r.get_data(as_text=True)
        db.session.refresh(user)
        assert check_password(user, TEST_PASSWORD)
    r = client.post("/account", data={**change, "current_password": TEST_PASSWORD})
    assert r.status_code == 302
    db.session.refresh(user)
    assert user.password_hash.startswith("$argon2id$") and check_password(user, "another-long-one")
    assert db.session.execute(select(AuditEntry.action).where(AuditEntry.action == "password_change")).scalar_one()
    for bad, message in (("short", "At least 10 characters."), ("u@example.org", "must differ from the e-mail")):
        r = client.post("/account", data={"name": "U", "language": "", "new_password": bad, "confirm": bad,
                                          "current_password": "another-long-one"})
        assert r.status_code == 400 and message in r.get_data(as_text=True)
    # the name alone needs no password
    assert client.post("/account", data={"name": "Una", "language": "fr"}).status_code == 302


# -- no default credentials ------------------------------------------------------------------
def test_a_fresh_database_has_no_account_and_users_create_asks_the_password_twice(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env = {"GRAPPE_DATABASE_URL": url, "GRAPPE_INSTANCE": str(tmp_path / "instance")}
    runner = CliRunner()
    r = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert r.exit_code == 0, r.output
    app = make_test_app(url, str(tmp_path / "instance"))
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0

    r = runner.invoke(cli, ["users", "create", "admin@example.org", "--federation-admin"],
                      input="long-enough-password\nanother-long-password\n", env=env)
    assert r.exit_code == 1 and "the two passwords differ" in r.output
    r = runner.invoke(cli, ["users", "create", "admin@example.org", "--federation-admin"], input="short\nshort\n", env=env)
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    r = runner.invoke(cli, ["users", "create", "admin@example.org", "--federation-admin"], input="only-one-line\n", env=env)
    assert r.exit_code == 1 and "twice" in r.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0

    r = runner.invoke(cli, ["users", "create", "admin@example.org", "--federation-admin"],
                      input="long-enough-password\nlong-enough-password\n", env=env)
    assert r.exit_code == 0, r.output
    assert "long-enough-password" not in r.output
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert user.is_federation_admin and check_password(user, "long-enough-password")
        client = app.test_client()
        assert _login(client, "admin@example.org", "long-enough-password").status_code == 302


def test_no_password_is_written_in_the_sources():
    """No default password: the config, the CLI and the demo never carry one."""
    from pathlib import Path

    import core

    for path in Path(core.__file__).parent.glob("*.py"):
        if path.name == "testing.py":
            continue
        source = path.read_text()
        assert not re.search(r"password\s*=\s*[\"'][^\"']+[\"']", source, re.I), path


# -- cookies and headers -------------------------------------------------------------------
def test_the_default_configuration_sets_secure_cookie_flags(_schema, instance_path, monkeypatch):
    monkeypatch.delenv("GRAPPE_INSECURE_COOKIES", raising=False)
    from core.app import create_app

    app = create_app({"DATABASE_URL": _schema, "SECRET_KEY": "x" * 32})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["REMEMBER_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_HTTPONLY"]


def test_the_session_cookie_is_secure_httponly_samesite(_schema, instance_path):
    app = make_test_app(_schema, instance_path, SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    with app.app_context():
        truncate_all()
        one = Factory(app).cluster("one", modules=())
        Factory(app).user("u@example.org", "staff", one)
        r = app.test_client().post("/login", base_url="https://localhost",
                                   data={"email": "u@example.org", "password": TEST_PASSWORD, "remember": "y"})
        assert r.status_code == 302
        cookies = r.headers.getlist("Set-Cookie")
        session = next(c for c in cookies if c.startswith("session="))
        remember = next(c for c in cookies if c.startswith("remember_token="))
        for cookie in (session, remember):
            flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
            assert "secure" in flags and "httponly" in flags, cookie
            assert flags["samesite"].strip().lower() == "samesite=lax", cookie


def test_security_headers_on_pages_and_api(app, factory):
    one = factory.cluster("one", modules=())
    u = factory.user("u@example.org", "staff", one)
    for r in (app.test_client().get("/login"), app.test_client(user=u).get("/one/"),
              app.test_client().get("/api/v1/one/core/modules"), app.test_client().get("/nowhere")):
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "same-origin"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    r = app.test_client().get("/login", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


# -- tokens and the API --------------------------------------------------------------------------
def test_the_api_ignores_session_cookies_and_takes_only_bearer_tokens(app, factory):
    one = factory.cluster("one", modules=())
    u = factory.user("u@example.org", "admin", one)
    token = new_api_token(u)
    db.session.commit()
    browser = app.test_client(user=u)
    assert browser.get("/one/").status_code == 200  # the session works on pages ...
    r = browser.get("/api/v1/one/core/modules")  # ... and means nothing to the API
    assert r.status_code == 401 and "errors" in r.get_json()

    # a token in a cookie is not a bearer token
    for name in ("Authorization", "token", "session", "remember_token"):
        client = app.test_client()
        client.set_cookie(name, token)
        assert client.get("/api/v1/one/core/modules").status_code == 401, name
    assert app.test_client().get("/api/v1/one/core/modules", headers={"Authorization": token}).status_code == 401
    assert app.test_client().get("/api/v1/one/core/modules", query_string={"token": token}).status_code == 401

    ok = app.test_client().get("/api/v1/one/core/modules", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    # the token decides who calls, not a session cookie riding along
    other = factory.user("other@example.org", "staff", factory.cluster("two", modules=()))
    other_token = new_api_token(other)
    db.session.commit()
    r = browser.get("/api/v1/one/core/modules", headers={"Authorization": f"Bearer {other_token}"})
    assert r.status_code == 403
    bad = app.test_client().get("/api/v1/one/core/modules", headers={"Authorization": "Bearer grp_forged"})
    assert bad.status_code == 401


def test_a_revoked_token_or_an_inactive_user_is_refused(app, factory):
    from core.models import ApiToken

    one = factory.cluster("one", modules=())
    u = factory.user("u@example.org", "admin", one)
    token = new_api_token(u)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/one/core/modules", headers=headers).status_code == 200
    db.session.execute(ApiToken.__table__.update().values(revoked=True))
    db.session.commit()
    assert app.test_client().get("/api/v1/one/core/modules", headers=headers).status_code == 401
    db.session.execute(ApiToken.__table__.update().values(revoked=False))
    u.active = False
    db.session.commit()
    assert app.test_client().get("/api/v1/one/core/modules", headers=headers).status_code == 401
    assert app.test_client(user=u).get("/one/").status_code == 302


def test_tokens_are_stored_hashed(app, factory):
    from core.models import ApiToken

    u = factory.user("u@example.org", None)
    token = new_api_token(u)
    db.session.commit()
    stored = db.session.execute(select(ApiToken.token_hash)).scalar_one()
    assert token not in stored and len(stored) == 64


# -- open redirects ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "/\\/evil.example", "\\\\evil.example",
    "/\t/evil.example", "javascript:alert(1)", "http:/evil.example", "evil.example",
])
def test_login_never_redirects_off_site(app, factory, target):
    factory.user("u@example.org", "staff", factory.cluster("one", modules=()))
    r = app.test_client().post("/login", query_string={"next": target},
                               data={"email": "u@example.org", "password": TEST_PASSWORD})
    assert r.status_code == 302
    assert r.headers["Location"] == "/"


def test_login_follows_a_local_next(app, factory):
    factory.user("u@example.org", "staff", factory.cluster("one", modules=()))
    client = app.test_client()
    r = client.get("/one/audit?action=login")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    r = client.post(r.headers["Location"], data={"email": "u@example.org", "password": TEST_PASSWORD})
    assert r.headers["Location"] == "/one/audit?action=login"


def test_a_remember_me_cookie_opens_pages_but_not_the_api(app, factory):
    one = factory.cluster("one", modules=())
    factory.user("u@example.org", "staff", one)
    r = app.test_client().post("/login", data={"email": "u@example.org", "password": TEST_PASSWORD, "remember": "y"})
    remember = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    value = remember.split(";")[0].split("=", 1)[1]
    client = app.test_client()
    client.set_cookie("remember_token", value)
    assert client.get("/one/").status_code == 200  # the page signs the user back in
    client = app.test_client()
    client.set_cookie("remember_token", value)
    r = client.get("/api/v1/one/core/modules")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_healthz_answers_without_login_and_reveals_nothing(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}
