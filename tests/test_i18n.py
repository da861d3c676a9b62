"""French and English: the user's language, else the browser's, else English; the core's
catalog and each plugin's own catalog are merged."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from core.testing import Factory, make_test_app, truncate_all

ROOT = Path(__file__).resolve().parent.parent


def test_a_french_user_sees_the_back_office_in_french(app, factory):
    cluster = factory.cluster("lyon", modules=())
    user = factory.user("marie@example.org", "admin", cluster, language="fr")
    page = app.test_client(user=user).get("/lyon/").get_data(as_text=True)
    assert '<html lang="fr">' in page
    for french in ("Tableau de bord", "Journal d'audit", "Tâches", "Se déconnecter", "Ce cluster"):
        assert french in page
    assert "Dashboard" not in page and "Sign out" not in page


def test_an_english_user_sees_english_whatever_the_browser_says(app, factory):
    cluster = factory.cluster("linz", modules=())
    user = factory.user("anna@example.org", "admin", cluster, language="en")
    client = app.test_client(user=user)
    page = client.get("/linz/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Dashboard" in page and "Sign out" in page
    assert "Tableau de bord" not in page


def test_without_a_choice_the_browser_language_decides(app, factory):
    cluster = factory.cluster("lyon", modules=())
    user = factory.user("paul@example.org", "staff", cluster, language="")
    client = app.test_client(user=user)
    assert "Tableau de bord" in client.get("/lyon/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Dashboard" in client.get("/lyon/", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)


@pytest.mark.parametrize("accept, expected, absent", [
    ("fr-FR,fr;q=0.9,en;q=0.5", ("Connexion à Grappe", "Mot de passe", "Rester connecté"), "Sign in"),
    ("en-GB,en;q=0.9", ("Sign in to Grappe", "Password", "Keep me signed in"), "Mot de passe"),
    ("de-AT,de;q=0.9", ("Sign in to Grappe",), "Mot de passe"),  # neither: English
])
def test_the_login_page_follows_accept_language(client, accept, expected, absent):
    page = client.get("/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    for text in expected:
        assert text in page
    assert absent not in page


def test_form_errors_are_translated(client):
    r = client.post("/login", data={"email": "", "password": ""}, headers={"Accept-Language": "fr"})
    assert r.status_code == 400
    assert "Ce champ est requis." in r.get_data(as_text=True)  # WTForms' own catalog


def _extracted(folder: Path) -> set:
    """The message ids of a folder, extracted as scripts/i18n.sh does (babel.cfg)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    return {message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context
            in extract_from_dir(str(folder), method_map, options_map, keywords=keywords)}


def _catalog_problems(folder: Path, lang: str = "fr") -> list[str]:
    from babel.messages.pofile import read_po
    from babel.support import Translations

    po = folder / "translations" / lang / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return [f"{po.relative_to(ROOT)} is missing"]
    with po.open("rb") as fh:
        catalog = read_po(fh)
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog
                  if m.id and not m.fuzzy and (m.string if isinstance(m.string, str) else all(m.string))}
    problems = [f"not translated: {msgid!r}" for msgid in sorted(_extracted(folder) - set(translated))]
    with (po.with_suffix(".mo")).open("rb") as fh:
        compiled = Translations(fh)
    for msgid, message in translated.items():
        expected = message.string if isinstance(message.string, str) else message.string[0]
        if isinstance(message.id, str) and compiled.gettext(msgid) != expected:
            problems.append(f"not compiled: {msgid!r}")
    return problems


def test_every_core_string_is_translated_into_french_and_compiled():
    problems = _catalog_problems(ROOT / "core")
    assert not problems, "run scripts/i18n.sh core, translate, commit the .po and .mo:\n" + "\n".join(problems)


PLUGIN_CATALOGS = sorted(p.parents[2].parent for p in ROOT.glob("plugins/*/translations/fr/LC_MESSAGES/messages.po"))


@pytest.mark.parametrize("folder", PLUGIN_CATALOGS, ids=lambda p: p.name)
def test_a_plugin_with_a_french_catalog_has_every_string_translated_and_compiled(folder):
    """Once a plugin ships a French catalog, it stays complete (every plural form included)."""
    problems = _catalog_problems(folder)
    assert not problems, (f"run scripts/i18n.sh {folder.name}, translate, commit the .po and .mo:\n"
                          + "\n".join(problems))


def _plugin_with_catalog(tmp_path: Path) -> str:
    """A plugin package on disk with its own French catalog, as a distribution ships it."""
    pkg = tmp_path / "i18nplugin"
    (pkg / "translations" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from core import Manifest\nmanifest = Manifest(name='i18nplugin', version='1', label='I18n')\n")
    (pkg / "hooks.py").write_text(
        "from flask_babel import lazy_gettext as _l\n"
        "from core import NavItem, hookimpl\n\n"
        "@hookimpl\n"
        "def grappe_nav_items(cluster, user):\n"
        "    return [NavItem(_l('Missions abroad'), 'core.dashboard', order=50)]\n")
    catalog = Catalog(locale="fr")
    catalog.add("Missions abroad", "Missions à l'étranger")
    with (pkg / "translations" / "fr" / "LC_MESSAGES" / "messages.mo").open("wb") as fh:
        write_mo(fh, catalog)
    return "i18nplugin.hooks"


def test_a_plugin_catalog_is_merged_with_the_core_catalog(_schema, instance_path, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    target = _plugin_with_catalog(tmp_path)
    try:
        app = make_test_app(_schema, instance_path, plugins=[target])
        with app.app_context():
            truncate_all()
            f = Factory(app)
            cluster = f.cluster("lyon", modules=("i18nplugin",))
            user = f.user("marie@example.org", "staff", cluster, language="fr")
            page = app.test_client(user=user).get("/lyon/").get_data(as_text=True)
            assert "Missions à l'étranger" in page   # the plugin's catalog
            assert "Tableau de bord" in page         # the core's, still there
            user.language = "en"
            from core import db

            db.session.commit()
            page = app.test_client(user=user).get("/lyon/").get_data(as_text=True)
            assert "Missions abroad" in page
    finally:
        for name in [n for n in sys.modules if n == "i18nplugin" or n.startswith("i18nplugin.")]:
            del sys.modules[name]
