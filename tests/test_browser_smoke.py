import pytest

from core.testing import Factory, browser_login

pytestmark = pytest.mark.browser


def test_login_and_dashboard(live_server, page):
    with live_server.app.app_context():
        f = Factory(live_server.app)
        c = f.cluster("one", modules=())
        f.user("u@example.org", "staff", c)
    browser_login(page, live_server.url, "u@example.org")
    assert page.url.rstrip("/").endswith("/one")
    assert page.locator("h1").inner_text() == "One"
