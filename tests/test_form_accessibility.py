"""Form fields carry meaningful ARIA attributes only, and every reference they make resolves.

WTForms renders an attribute given ``None`` as the text ``"None"``: the field macro must
leave such attributes out.  The back-office is crawled over the demo federation (every
kind of page the links reach, one page per URL shape), and forms are sent back with errors.
"""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

REFERENCES = ("aria-describedby", "aria-labelledby", "aria-controls", "aria-errormessage")
SKIP_PATH = re.compile(r"(\.(ics|pdf|csv|xlsx|json)$|/static/|/logo$|/suggest$|/outbox/[^/]+$)")


class Page(HTMLParser):
    """The ids of a page, its elements' attributes and its links."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, tuple[str, dict]] = {}
        self.elements: list[tuple[str, dict]] = []
        self.links: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if "id" in attributes:
            self.ids[attributes["id"]] = (tag, attributes)
            self.texts[attributes["id"]] = []
            if tag not in ("input", "img", "br", "hr", "meta", "link"):
                self._open.append(attributes["id"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])

    def handle_data(self, data):
        for element_id in self._open:
            self.texts[element_id].append(data)

    def handle_endtag(self, tag):
        if self._open and self.ids[self._open[-1]][0] == tag:
            self._open.pop()

    def text(self, element_id: str) -> str:
        return " ".join("".join(self.texts.get(element_id, [])).split())

    def field(self, name: str) -> dict:
        (attributes,) = [a for tag, a in self.elements if tag in ("input", "select", "textarea")
                         and a.get("name") == name]
        return attributes


def problems_of(url: str, html: str) -> list[str]:
    """Attributes rendered as "None", empty ARIA values and references to missing ids."""
    page = Page(html)
    problems = [f"{url}: {m.group(0)}" for m in re.finditer(r'[\w-]+="None"', html)]
    for tag, attributes in page.elements:
        for name, value in attributes.items():
            if name.startswith("aria-") and (value is None or not value.strip()):
                problems.append(f"{url}: <{tag}> has an empty {name}")
        for name in REFERENCES:
            for ref in (attributes.get(name) or "").split():
                if ref not in page.ids:
                    problems.append(f"{url}: <{tag} {name}={ref!r}> points to no element")
        if tag == "label" and attributes.get("for") and attributes["for"] not in page.ids:
            problems.append(f"{url}: <label for={attributes['for']!r}> labels no element")
        if attributes.get("aria-invalid") not in (None, "true"):
            problems.append(f"{url}: <{tag} aria-invalid={attributes['aria-invalid']!r}>")
    return problems


@pytest.fixture
def demo(app):
    from sqlalchemy import select

    from core import db
    from core.demo import build_demo
    from core.models import User

    build_demo(random.Random(5), echo=lambda *_: None)
    return db.session.execute(select(User).where(User.email == "admin@grappe.example")).scalar_one()


def test_no_back_office_page_renders_a_none_attribute_or_a_dangling_aria_reference(app, demo):
    from sqlalchemy import select

    from core import db
    from plugins.events.models import Event

    client = app.test_client(user=demo)
    todo, seen_shapes, visited, problems = ["/", "/account", "/admin/clusters"], set(), [], []
    while todo and len(visited) < 200:
        path = todo.pop(0)
        shape = re.sub(r"/\d+", "/N", path)
        if shape in seen_shapes or SKIP_PATH.search(path):
            continue
        seen_shapes.add(shape)
        response = client.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        visited.append(path)
        problems += problems_of(path, html)
        for href in Page(html).links:
            target = urlsplit(urljoin(path, href))
            if not target.scheme and not target.netloc and target.path.startswith("/"):
                todo.append(target.path)
    # the crawl reached the main pages of the core and of both plugins, forms included
    for expected in ("/automotive/", "/automotive/crm/organizations/N", "/automotive/crm/organizations/new",
                     "/automotive/crm/persons/N", "/automotive/events/N", "/automotive/events/new",
                     "/automotive/admin/", "/automotive/admin/profile", "/automotive/audit", "/automotive/jobs",
                     "/account"):
        assert expected in seen_shapes and any(re.sub(r"/\d+", "/N", p) == expected for p in visited), expected
    assert len(visited) >= 25, visited
    # and a page for a visitor: the login form and a public registration page
    anonymous = app.test_client()
    event_id = db.session.execute(select(Event.id).where(Event.status == "open").order_by(Event.id).limit(1)
                                  .execution_options(all_clusters=True)).scalar_one()
    for path in ("/login", f"/automotive/events/public/{event_id}"):
        response = anonymous.get(path)
        assert response.status_code == 200, path
        problems += problems_of(f"{path} (signed out)", response.get_data(as_text=True))
    assert not problems, "\n".join(problems)


def test_a_field_without_help_or_error_has_no_aria_attribute(client):
    html = client.get("/login").get_data(as_text=True)
    page = Page(html)
    for name in ("email", "password", "remember"):
        attributes = page.field(name)
        assert "aria-invalid" not in attributes and "aria-describedby" not in attributes, (name, attributes)
    assert not problems_of("/login", html)


def test_a_field_with_an_error_is_invalid_and_described_by_its_error(client):
    response = client.post("/login", data={"email": "not an address", "password": ""})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert not problems_of("/login", html)
    page = Page(html)
    password = page.field("password")
    assert password["aria-invalid"] == "true"
    assert password["aria-describedby"] == "password-error"
    assert page.ids["password-error"][0] == "ul" and page.text("password-error")
    assert "aria-invalid" not in page.field("remember")


def test_help_and_error_are_both_described_and_exist(app, factory):
    cluster = factory.cluster("alpha", modules=("crm",), name="Alpha Cluster")
    user = factory.user("manager@example.org", "manager", cluster)
    client = app.test_client(user=user)

    # before sending: the help text is the only description, and has a stable id
    page = Page(client.get("/alpha/crm/organizations/new").get_data(as_text=True))
    siren = page.field("siren")
    assert siren["aria-describedby"] == "siren-help" and "aria-invalid" not in siren
    assert page.ids["siren-help"][0] == "p" and "9 digits" in page.text("siren-help")
    assert "aria-describedby" not in page.field("legal_name")  # no help, no error

    # sent back with errors: invalid fields point at their help and their error
    response = client.post("/alpha/crm/organizations/new", data={"legal_name": "", "siren": "123 456 789",
                                                                 "kind": "company", "country": "FR"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert not problems_of("/alpha/crm/organizations/new", html)
    page = Page(html)
    legal_name = page.field("legal_name")
    assert legal_name["aria-invalid"] == "true"
    assert legal_name["aria-describedby"] == "legal_name-error"
    assert page.text("legal_name-error")
    siren = page.field("siren")
    assert siren["aria-invalid"] == "true"
    assert siren["aria-describedby"].split() == ["siren-help", "siren-error"]
    assert "SIREN" in page.text("siren-error")
    assert "aria-invalid" not in page.field("city")  # a valid field stays as it was
