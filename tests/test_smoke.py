from core import db
from core.modules import disable, enable
from core.testing import make_test_app, truncate_all

from .fakeplugins import make_plugin


def test_gate_follows_enabled_modules(_schema, instance_path):
    alpha = make_plugin("alpha")
    app = make_test_app(_schema, instance_path, plugins=[alpha])
    with app.app_context():
        truncate_all()
        from core.testing import Factory

        f = Factory(app)
        c = f.cluster("one", modules=())
        u = f.user("u@example.org", "staff", c)
        client = app.test_client(user=u)
        assert client.get("/one/alpha/").status_code == 404
        enable(c, ["alpha"])
        r = client.get("/one/alpha/")
        assert r.status_code == 200, r.data
        page = client.get("/one/").get_data(as_text=True)
        assert "Alpha menu" in page and "Alpha widget" in page
        disable(c, "alpha")
        assert client.get("/one/alpha/").status_code == 404
        assert "Alpha menu" not in client.get("/one/").get_data(as_text=True)
