"""The ``grappe`` command line, through click's CliRunner."""

from __future__ import annotations

import random
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core import db
from core.auth import check_password
from core.cli import cli
from core.models import AuditEntry, Cluster, User
from core.testing import TEST_PASSWORD, Factory, make_test_app, truncate_all

from .fakeplugins import make_plugin

PASSWORD_TWICE = "a-long-enough-password\na-long-enough-password\n"


@pytest.fixture
def cli_app(_schema, instance_path):
    """An app with the fake plugins alpha, beta (depends on alpha) and gamma, on empty tables."""
    app = make_test_app(_schema, instance_path, plugins=[
        make_plugin("alpha"), make_plugin("beta", depends=("alpha",)), make_plugin("gamma")])
    with app.app_context():
        truncate_all()
        yield app
        db.session.rollback()


@pytest.fixture
def grappe(cli_app):
    """``grappe(*args, input=None)``: run a command on ``cli_app``; returns the click Result."""
    runner = CliRunner()

    def run(*args, input=None):
        db.session.commit()  # what the test wrote is visible to the command
        result = runner.invoke(cli, list(args), obj={"app": cli_app}, input=input)
        db.session.expire_all()
        return result

    return run


def assert_one_line_error(result, *words):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])


# -- db ------------------------------------------------------------------------------------
def test_db_upgrade_builds_a_fresh_database_and_then_has_nothing_to_do(tmp_path):
    env = {"GRAPPE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "GRAPPE_INSTANCE": str(tmp_path)}
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert first.exit_code == 0, first.output
    assert "Upgraded: core" in first.output
    second = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert second.exit_code == 0 and "Database is up to date." in second.output
    current = runner.invoke(cli, ["db", "current"], env=env)
    assert current.exit_code == 0 and re.search(r"^core\s+core_\d{4}", current.output, re.M)
    check = runner.invoke(cli, ["db", "check"], env=env)
    assert check.exit_code == 0, check.output
    assert "Models and migrations agree." in check.output


# -- clusters ----------------------------------------------------------------------------------
def test_clusters_create_and_list(grappe):
    r = grappe("clusters", "create", "automotive", "--name", "Automotive Cluster", "--timezone", "Europe/Vienna",
               "--language", "en")
    assert r.exit_code == 0 and "Created cluster automotive (Automotive Cluster)." in r.output
    cluster = db.session.execute(select(Cluster).where(Cluster.slug == "automotive")).scalar_one()
    assert cluster.timezone == "Europe/Vienna" and cluster.language == "en"
    grappe("clusters", "create", "wood", "--name", "Cluster Bois")
    grappe("modules", "enable", "wood", "beta")
    lines = grappe("clusters", "list").output.splitlines()
    assert lines[0].split()[0] == "automotive" and lines[0].rstrip().endswith("-")
    assert lines[1].split()[0] == "wood" and lines[1].rstrip().endswith("alpha, beta")


@pytest.mark.parametrize("args, words", [
    (("clusters", "create", "Bad Slug", "--name", "x"), ["invalid slug 'Bad Slug'"]),
    (("clusters", "create", "admin", "--name", "x"), ["reserved"]),
    (("clusters", "create", "one", "--name", "x"), ["already exists"]),
    (("modules", "enable", "nowhere", "alpha"), ["no cluster 'nowhere'"]),
    (("modules", "enable", "one", "nope"), ["Unknown module 'nope'"]),
    (("modules", "disable", "one", "gamma"), ["not enabled"]),
    (("modules", "disable", "one", "alpha"), ["Cannot disable alpha", "beta"]),
    (("users", "grant", "ghost@example.org", "--role", "staff", "--cluster", "one"), ["no account with ghost@example.org"]),
    (("users", "create", "new@example.org", "--role", "staff"), ["--role and --cluster go together"]),
    (("users", "create", "new@example.org"), ["--federation-admin"]),
    (("users", "create", "not-an-email", "--federation-admin"), ["invalid e-mail"]),
    (("users", "create", "taken@example.org", "--federation-admin"), ["exists already"]),
    (("tokens", "create", "ghost@example.org"), ["no account"]),
])
def test_errors_are_one_clear_line_and_a_non_zero_exit(grappe, cli_app, args, words):
    one = Factory(cli_app).cluster("one", modules=("beta",))
    Factory(cli_app).user("taken@example.org", "staff", one)
    result = grappe(*args, input=PASSWORD_TWICE)
    assert_one_line_error(result, *words)


def test_an_unexpected_error_is_one_line_too(tmp_path):
    env = {"GRAPPE_DATABASE_URL": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.sqlite3'}",
           "GRAPPE_INSTANCE": str(tmp_path)}
    result = CliRunner().invoke(cli, ["clusters", "list"], env=env)
    assert_one_line_error(result, "OperationalError")


def test_a_database_not_set_up_says_what_to_run(tmp_path):
    env = {"GRAPPE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "GRAPPE_INSTANCE": str(tmp_path)}
    result = CliRunner().invoke(cli, ["clusters", "list"], env=env)
    # a read-only command does not create the missing file (issue 8 item 11)
    assert_one_line_error(result, "no such database file", "run 'grappe db upgrade'")
    assert not (tmp_path / "empty.sqlite3").exists()
    # an existing file without the tables
    import sqlite3

    sqlite3.connect(tmp_path / "empty.sqlite3").close()
    result = CliRunner().invoke(cli, ["clusters", "list"], env=env)
    assert_one_line_error(result, "no such table", "run 'grappe db upgrade'")


# -- modules ---------------------------------------------------------------------------------------
def test_modules_list_enable_disable(grappe, cli_app):
    Factory(cli_app).cluster("one", modules=())
    r = grappe("modules", "list")
    assert r.exit_code == 0
    assert [ln.split()[0] for ln in r.output.splitlines()] == ["alpha", "beta", "gamma"]
    assert "(depends on alpha)" in next(ln for ln in r.output.splitlines() if ln.startswith("beta"))

    r = grappe("modules", "enable", "one", "beta", "gamma")
    assert r.exit_code == 0 and "Enabled for one: alpha, beta, gamma." in r.output
    r = grappe("modules", "enable", "one", "gamma")
    assert r.exit_code == 0 and "Nothing to do" in r.output
    listed = {ln.split()[0]: ln.split()[2] for ln in grappe("modules", "list", "--cluster", "one").output.splitlines()}
    assert listed == {"alpha": "enabled", "beta": "enabled", "gamma": "enabled"}

    r = grappe("modules", "disable", "one", "beta")
    assert r.exit_code == 0 and "Disabled beta for one; its data is kept." in r.output
    listed = {ln.split()[0]: ln.split()[2] for ln in grappe("modules", "list", "--cluster", "one").output.splitlines()}
    assert listed == {"alpha": "enabled", "beta": "disabled", "gamma": "enabled"}
    actions = db.session.execute(select(AuditEntry.summary).where(AuditEntry.action.like("module_%"))
                                 .order_by(AuditEntry.id)).scalars().all()
    assert actions == ["alpha enabled for one", "beta enabled for one", "gamma enabled for one", "beta disabled for one"]


# -- users and tokens ----------------------------------------------------------------------------------
def test_users_create_grant_list(grappe, cli_app):
    Factory(cli_app).cluster("one", modules=())
    Factory(cli_app).cluster("two", modules=())
    r = grappe("users", "create", "Staff@Example.org", "--name", "Sam Staff", "--role", "staff", "--cluster", "one",
               input=PASSWORD_TWICE)
    assert r.exit_code == 0, r.output
    assert "Created staff@example.org (staff of one)." in r.output
    r = grappe("users", "create", "fed@example.org", "--federation-admin", input=PASSWORD_TWICE)
    assert r.exit_code == 0 and "federation admin" in r.output
    r = grappe("users", "grant", "staff@example.org", "--role", "manager", "--cluster", "two")
    assert r.exit_code == 0 and "staff@example.org is now manager of two." in r.output
    r = grappe("users", "grant", "staff@example.org", "--role", "viewer", "--cluster", "one")
    assert r.exit_code == 0

    user = db.session.execute(select(User).where(User.email == "staff@example.org")).scalar_one()
    assert user.name == "Sam Staff" and check_password(user, "a-long-enough-password")
    assert {(r.cluster.slug, r.role) for r in user.roles} == {("one", "viewer"), ("two", "manager")}
    lines = grappe("users", "list").output.splitlines()
    assert lines[0].startswith("fed@example.org") and "federation-admin" in lines[0]
    assert lines[1].startswith("staff@example.org") and "one:viewer" in lines[1] and "two:manager" in lines[1]
    created = db.session.execute(select(AuditEntry).where(AuditEntry.action == "create",
                                                          AuditEntry.object_type == "core.user")).scalars().all()
    assert len(created) == 2


def test_users_create_refuses_a_bad_password_without_creating_anything(grappe, cli_app):
    Factory(cli_app).cluster("one", modules=())
    for given, words in (("a-long-enough-password\nanother-long-password\n", "differ"),
                         ("short\nshort\n", "at least 10 characters"),
                         ("new@example.org\nnew@example.org\n", "must differ from the e-mail"),
                         ("", "twice")):
        result = grappe("users", "create", "new@example.org", "--role", "staff", "--cluster", "one", input=given)
        assert_one_line_error(result, words)
    assert db.session.execute(select(User)).first() is None


def test_tokens_create_prints_a_token_that_works_once_shown(grappe, cli_app):
    one = Factory(cli_app).cluster("one", modules=())
    Factory(cli_app).user("u@example.org", "staff", one)
    r = grappe("tokens", "create", "u@example.org", "--label", "script")
    assert r.exit_code == 0
    token = r.output.strip()
    assert token.startswith("grp_") and len(token) > 30
    ok = cli_app.test_client().get("/api/v1/one/core/modules", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    again = grappe("tokens", "create", "u@example.org").output.strip()
    assert again != token


# -- demo ------------------------------------------------------------------------------------------------
def test_build_demo_gives_clusters_different_module_sets(cli_app):
    from core.demo import build_demo

    logins = build_demo(random.Random(1), echo=lambda *_: None)
    clusters = db.session.execute(select(Cluster).order_by(Cluster.id)).scalars().all()
    sets = [tuple(c.module_names) for c in clusters]
    assert len(clusters) >= 3 and len(set(sets)) >= 3, sets
    assert sets[0] == ("alpha", "beta", "gamma")
    for modules in sets:  # dependencies always come along
        assert "beta" not in modules or "alpha" in modules
    assert len(logins) >= 3 and all(len(pw) >= 10 for _, pw, _ in logins)


def test_grappe_demo_no_serve_builds_a_federation_and_prints_the_logins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"GRAPPE_INSTANCE": None, "GRAPPE_DATABASE_URL": None, "GRAPPE_INSECURE_COOKIES": None,
           "GRAPPE_REDIS_URL": None}
    result = CliRunner().invoke(cli, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    database = tmp_path / "instance" / "demo.sqlite3"
    assert database.exists()

    sets = re.findall(r"^cluster (\S+)\s+modules: (.*)$", result.output, re.M)
    assert len(sets) >= 3 and len({modules for _, modules in sets}) >= 3, result.output
    logins = re.findall(r"^  (\S+@\S+)\s+(\S+)\s+(.+)$", result.output, re.M)
    assert len(logins) >= 3, result.output

    # the printed logins work on the demo database, and its clusters have the printed modules
    app = make_test_app(f"sqlite:///{database}", str(tmp_path / "instance"))
    with app.app_context():
        clusters = {c.slug: ", ".join(c.module_names) or "-" for c in db.session.execute(select(Cluster)).scalars()}
        assert clusters == dict(sets)
        for email, password, _ in logins:
            user = db.session.execute(select(User).where(User.email == email)).scalar_one()
            assert check_password(user, password), email
    # nothing leaked into this process's environment
    import os

    assert "GRAPPE_INSECURE_COOKIES" not in os.environ
    assert os.environ.get("GRAPPE_DATABASE_URL") != f"sqlite:///{database}"


def test_grappe_demo_never_touches_the_configured_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    production = tmp_path / "production.sqlite3"
    env = {"GRAPPE_INSTANCE": None, "GRAPPE_DATABASE_URL": f"sqlite:///{production}",
           "GRAPPE_INSECURE_COOKIES": None, "GRAPPE_REDIS_URL": None}
    result = CliRunner().invoke(cli, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    assert not production.exists()
    assert (tmp_path / "instance" / "demo.sqlite3").exists()


def test_tokens_revoke_stops_the_api_and_users_deactivate_closes_the_account(grappe, cli_app):
    one = Factory(cli_app).cluster("one", modules=())
    Factory(cli_app).user("u@example.org", "staff", one)
    first = grappe("tokens", "create", "u@example.org", "--label", "a").output.strip()
    second = grappe("tokens", "create", "u@example.org", "--label", "b").output.strip()
    client = cli_app.test_client()

    def api(token):
        return client.get("/api/v1/one/core/modules", headers={"Authorization": f"Bearer {token}"}).status_code

    listing = grappe("tokens", "list", "u@example.org").output
    assert listing.count("active") == 2 and first not in listing and second not in listing
    token_id = int(listing.split()[0])
    r = grappe("tokens", "revoke", "u@example.org", "--id", str(token_id))
    assert r.exit_code == 0 and "Revoked 1" in r.output
    assert api(first) == 401 and api(second) == 200
    assert_one_line_error(grappe("tokens", "revoke", "u@example.org", "--id", str(token_id)), "no active token")

    r = grappe("users", "deactivate", "u@example.org")
    assert r.exit_code == 0
    assert api(second) == 401  # an inactive account's tokens stop working
    login = client.post("/login", data={"email": "u@example.org", "password": TEST_PASSWORD})
    assert login.status_code == 401
    assert grappe("users", "activate", "u@example.org").exit_code == 0
    assert api(second) == 200
    assert grappe("tokens", "revoke", "u@example.org").exit_code == 0
    assert api(second) == 401
    assert_one_line_error(grappe("users", "deactivate", "ghost@example.org"), "no account")


_CLEAN_ENV = {"GRAPPE_INSTANCE": None, "GRAPPE_DATABASE_URL": None, "GRAPPE_REDIS_URL": None,
              "GRAPPE_SECRET_KEY": None}


@pytest.mark.parametrize("args", [
    ["modules", "list"], ["clusters", "list"], ["users", "list"], ["tokens", "list", "u@example.org"],
    ["db", "current"], ["db", "check"],
    ["modules", "list", "--cluster", "one"],
])
def test_a_read_only_command_creates_nothing_in_the_folder_it_runs_from(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args, env=_CLEAN_ENV)
    assert list(tmp_path.iterdir()) == [], (result.output, list(tmp_path.rglob("*")))
    if args == ["modules", "list"]:  # needs no database: it lists what is installed
        assert result.exit_code == 0, result.output
        assert re.search(r"^crm\s", result.output, re.M), result.output
    else:  # the others say the database is not set up, in one line
        assert result.exit_code != 0
        assert "grappe db upgrade" in result.output and "Traceback" not in result.output, result.output


def test_a_read_only_command_on_a_set_up_instance_writes_no_key_and_no_queue(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["db", "upgrade"], env=_CLEAN_ENV).exit_code == 0
    assert CliRunner().invoke(cli, ["clusters", "create", "one", "--name", "One"], env=_CLEAN_ENV).exit_code == 0
    instance = tmp_path / "instance"
    for name in ("secret_key", "jobs.sqlite3"):
        (instance / name).unlink()
    before = sorted(p.name for p in instance.iterdir())
    result = CliRunner().invoke(cli, ["clusters", "list"], env=_CLEAN_ENV)
    assert result.exit_code == 0 and re.search(r"^one\s+One", result.output, re.M), result.output
    assert sorted(p.name for p in instance.iterdir()) == before


def test_grappe_demo_builds_in_the_database_named_by_its_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "elsewhere.sqlite3"
    env = dict(_CLEAN_ENV, GRAPPE_DATABASE_URL=f"sqlite:///{tmp_path / 'production.sqlite3'}")
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--database-url", f"sqlite:///{target}"], env=env)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "production.sqlite3").exists()
    assert not (tmp_path / "instance" / "demo.sqlite3").exists()
    app = make_test_app(f"sqlite:///{target}", str(tmp_path / "instance"))
    with app.app_context():
        slugs = set(db.session.execute(select(Cluster.slug)).scalars())
    assert len(slugs) >= 3, slugs

    # a second run refuses: the database holds clusters now, and it is left as it was
    again = CliRunner().invoke(cli, ["demo", "--no-serve", "--database-url", f"sqlite:///{target}"], env=env)
    assert again.exit_code != 0 and "holds" in again.output, again.output
    with app.app_context():
        assert set(db.session.execute(select(Cluster.slug)).scalars()) == slugs
