from core import db
from core.auth import new_api_token  # tests may use core internals; plugin code may not

from grappe_missions.models import Mission

MISSION = {"title": "Automotive fair, Tokyo", "country": "jp", "starts_on": "2026-10-05",
           "ends_on": "2026-10-09", "places": "12", "price": "950"}


def test_create_from_the_page_and_list(app, factory):
    lyon = factory.cluster("lyon", modules=("missions",))
    client = app.test_client(user=factory.user("m@example.org", "manager", lyon))
    assert 'href="/lyon/missions/"' in client.get("/lyon/").get_data(as_text=True)  # nav item
    assert client.post("/lyon/missions/new", data=MISSION).status_code == 302
    page = client.get("/lyon/missions/").get_data(as_text=True)
    assert "Automotive fair, Tokyo" in page and "JP" in page


def test_bad_input_gets_field_errors_on_the_page_and_in_the_api(app, factory):
    lyon = factory.cluster("lyon", modules=("missions",))
    manager = factory.user("m@example.org", "manager", lyon)
    client = app.test_client(user=manager)
    r = client.post("/lyon/missions/new", data={**MISSION, "ends_on": "2026-10-01"})
    assert r.status_code == 400 and "The last day comes before the first day." in r.get_data(as_text=True)

    token = new_api_token(manager)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post("/api/v1/lyon/missions/missions", headers=headers, json={**MISSION, "ends_on": "2026-10-01"})
    assert r.status_code == 422
    assert r.get_json() == {"errors": {"ends_on": ["The last day comes before the first day."]}}
    r = client.post("/api/v1/lyon/missions/missions", headers=headers, json=MISSION)
    assert r.status_code == 201 and r.get_json()["country"] == "JP"
    assert client.get("/api/v1/lyon/missions/missions", headers=headers).get_json()["total"] == 1


def test_missions_belong_to_their_cluster(app, factory):
    lyon = factory.cluster("lyon", modules=("missions",))
    linz = factory.cluster("linz", modules=())
    client = app.test_client(user=factory.user("m@example.org", "manager", lyon))
    client.post("/lyon/missions/new", data=MISSION)
    assert client.get("/linz/missions/").status_code == 404  # module not enabled there
    rows = db.session.query(Mission).execution_options(all_clusters=True).all()
    assert [m.cluster_id for m in rows] == [lyon.id]


def test_staff_can_read_but_not_create(app, factory):
    lyon = factory.cluster("lyon", modules=("missions",))
    client = app.test_client(user=factory.user("s@example.org", "staff", lyon))
    assert client.get("/lyon/missions/").status_code == 200
    assert client.get("/lyon/missions/new").status_code == 403


def test_a_french_manager_sees_french(app, factory):
    lyon = factory.cluster("lyon", modules=("missions",))
    client = app.test_client(user=factory.user("m@example.org", "manager", lyon, language="fr"))
    page = client.get("/lyon/missions/").get_data(as_text=True)
    assert "Missions internationales" in page and "Nouvelle mission" in page
    r = client.post("/lyon/missions/new", data={**MISSION, "ends_on": "2026-10-01"})
    assert "Le dernier jour précède le premier jour." in r.get_data(as_text=True)
