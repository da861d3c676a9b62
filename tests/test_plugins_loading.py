"""Plugin loading: order, every kind of broken plugin, hooks added by plugins."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from core import hookimpl
from core.cli import cli
from core.modules import ModuleError, enable
from core.testing import Factory

from .fakeplugins import make_billable_plugin, make_billing_plugin, make_plugin


def loaded_names(app):
    return [i.name for i in app.extensions["grappe.host"].loaded()]


def error_of(app, name):
    info = app.extensions["grappe.host"].plugins[name]
    assert info.broken, f"{name} should be broken"
    return info.error


# -- load order --------------------------------------------------------------------
def test_load_order_is_a_topological_sort_of_depends(build_app):
    c = make_plugin("gamma", depends=("beta",))
    d = make_plugin("delta", depends=("alpha",))
    b = make_plugin("beta", depends=("alpha",))
    a = make_plugin("alpha")
    app = build_app(c, d, b, a)
    order = loaded_names(app)
    assert sorted(order) == ["alpha", "beta", "delta", "gamma"]
    assert order.index("alpha") < order.index("beta") < order.index("gamma")
    assert order.index("alpha") < order.index("delta")
    host = app.extensions["grappe.host"]
    assert host.requirements("gamma") == ["alpha", "beta", "gamma"]
    assert sorted(host.dependents("alpha")) == ["beta", "delta", "gamma"]


def test_load_order_is_the_same_whatever_the_discovery_order(build_app):
    mods = [make_plugin("beta", depends=("alpha",)), make_plugin("alpha"), make_plugin("gamma", depends=("beta",))]
    assert loaded_names(build_app(*mods)) == loaded_names(build_app(*reversed(mods))) == ["alpha", "beta", "gamma"]


# -- every way a plugin can be broken ---------------------------------------------------
def _cycle():
    return [make_plugin("ying", depends=("yang",)), make_plugin("yang", depends=("ying",))]


def _missing():
    return [make_plugin("needy", depends=("ghost",))]


def _duplicate():
    return [make_plugin("twin", module_name="fakeplugin_twin_one"), make_plugin("twin", module_name="fakeplugin_twin_two")]


def _typo():
    @hookimpl
    def grappe_nav_item(cluster, user):
        return []

    return [make_plugin("typo", hooks={"grappe_nav_item": grappe_nav_item})]


def _wrong_signature():
    @hookimpl
    def grappe_nav_items(cluster, user, colour):
        return []

    return [make_plugin("badsig", hooks={"grappe_nav_items": grappe_nav_items})]


def _raises_at_import():
    return ["tests.fake_raising_plugin"]


def _not_importable():
    return ["tests.no_such_plugin_module"]


def _no_manifest():
    mod = make_plugin("nomanifest")
    del mod.manifest
    return [mod]


def _hook_raises():
    @hookimpl
    def grappe_blueprints():
        raise ValueError("blueprints cannot be built without a colour")

    return [make_plugin("crasher", hooks={"grappe_blueprints": grappe_blueprints})]


def _blueprint_misnamed():
    from core import ClusterBlueprint

    bp = ClusterBlueprint("elsewhere", __name__)

    @hookimpl
    def grappe_blueprints():
        return [bp]

    return [make_plugin("misnamed", pages=False, hooks={"grappe_blueprints": grappe_blueprints})]


def _foreign_permission():
    from core import Permission

    @hookimpl
    def grappe_permissions():
        return [Permission("core.admin", "Steal the core's permission", "viewer")]

    return [make_plugin("thief", hooks={"grappe_permissions": grappe_permissions})]


def _undeclared_permission():
    from core import requires

    mod = make_plugin("careless", module_name="fakeplugin_careless")

    @mod.blueprint.route("/secret")
    @requires("careless.secret")
    def secret():
        return "secret"

    return [mod]


def _foreign_job():
    @hookimpl
    def grappe_jobs():
        return {"billing.fee_run": lambda job: None}

    return [make_plugin("squatter", hooks={"grappe_jobs": grappe_jobs})]


def _wrong_return_types():
    from core import Permission

    @hookimpl
    def grappe_permissions():
        return Permission("sloppy.x", "One, not a list")

    @hookimpl
    def grappe_jobs():
        return ["jobbish.run"]

    return [make_plugin("sloppy", hooks={"grappe_permissions": grappe_permissions}),
            make_plugin("jobbish", hooks={"grappe_jobs": grappe_jobs})]


BROKEN = {
    # case: (plugins, broken plugin names, words the reason must contain)
    "cycle": (_cycle, ["ying", "yang"], ["dependency cycle", "yang -> ying -> yang"]),
    "missing dependency": (_missing, ["needy"], ["depends on 'ghost'", "not installed"]),
    "duplicate name": (_duplicate, ["twin"], ["2 plugins are named 'twin'", "fakeplugin_twin_one", "fakeplugin_twin_two"]),
    "hook without spec": (_typo, ["typo"], ["grappe_nav_item'", "no hook specification", "did you mean 'grappe_nav_items'"]),
    "wrong signature": (_wrong_signature, ["badsig"], ["grappe_nav_items", "colour"]),
    "raises at import": (_raises_at_import, ["fake_raising_plugin"], [
        "import failed", "RuntimeError", "cannot find its configuration", "fake_raising_plugin.py:7"]),
    "not importable": (_not_importable, ["no_such_plugin_module"], ["import failed", "ModuleNotFoundError"]),
    "no manifest": (_no_manifest, ["fakeplugin_nomanifest"], ["no manifest"]),
    "hook raises while the app is built": (_hook_raises, ["crasher"], [
        "grappe_blueprints raised", "ValueError", "without a colour"]),
    "blueprint misnamed": (_blueprint_misnamed, ["misnamed"], ["blueprint 'elsewhere'", "must be named 'misnamed'"]),
    "permission of another plugin": (_foreign_permission, ["thief"], ["declares the permission 'core.admin'",
                                                                       "'thief.<action>'"]),
    "hooks returning the wrong type": (_wrong_return_types, ["sloppy", "jobbish"], ["must return a"]),
    "job of another plugin": (_foreign_job, ["squatter"], ["declares the job 'billing.fee_run'", "'squatter.<job>'"]),
    "undeclared permission": (_undeclared_permission, ["careless"], [
        "its view 'careless.secret' requires the permission 'careless.secret'", "no grappe_permissions declares"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_plugin_is_reported_and_the_platform_starts_without_it(build_app, case, caplog):
    make_broken, names, words = BROKEN[case]
    healthy = make_plugin("healthy")
    with caplog.at_level(logging.ERROR):
        app = build_app(healthy, *make_broken())
    host = app.extensions["grappe.host"]

    # the error names the plugin and the cause ...
    for name in names:
        reason = error_of(app, name)
        for word in words:
            assert word in reason, (name, reason)
        assert "\n" not in reason
        assert any(name in r.getMessage() and reason in r.getMessage() for r in caplog.records), caplog.text
        assert host.get(name) is None
    # ... and the rest of the platform works
    assert "healthy" in loaded_names(app)
    f = Factory(app)
    one = f.cluster("one", modules=("healthy",))
    admin = f.user("admin@example.org", "admin", one)
    fed = f.user("fed@example.org", None, federation_admin=True)
    assert app.test_client(user=admin).get("/one/healthy/").status_code == 200

    # the federation admin sees it broken, with the reason, on the modules page
    page = app.test_client(user=fed).get("/admin/modules")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in names:
        assert name in html and _escaped(error_of(app, name)) in html
    assert "broken" in html

    # so does the cluster admin
    html = app.test_client(user=admin).get("/one/admin/").get_data(as_text=True)
    for name in names:
        assert name in html and _escaped(error_of(app, name)) in html

    # and `grappe modules list`
    result = CliRunner().invoke(cli, ["modules", "list"], obj={"app": app})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in names:
        line = next(ln for ln in lines if ln.startswith(name) and "BROKEN" in ln)
        assert error_of(app, name) in line
    assert any(ln.startswith("healthy") and "BROKEN" not in ln for ln in lines)

    # a broken module cannot be enabled
    with pytest.raises(ModuleError, match="broken"):
        enable(one, [names[0]])


def _escaped(text):
    from markupsafe import escape

    return str(escape(text))


def test_dependents_of_a_broken_plugin_are_broken_too(build_app):
    app = build_app(
        make_plugin("leaf", depends=("stem",)),
        make_plugin("stem", depends=("raiser",)),
        "tests.fake_raising_plugin",
        make_plugin("other"),
    )
    assert "import failed" in error_of(app, "fake_raising_plugin")
    assert error_of(app, "stem").startswith("depends on 'raiser'")
    assert "depends on 'stem'" in error_of(app, "leaf")
    assert loaded_names(app) == ["other"]


def test_a_plugin_broken_while_the_app_is_built_takes_its_dependents_and_routes_out(build_app):
    @hookimpl
    def grappe_jobs():
        raise RuntimeError("no job today")

    base = make_plugin("base", hooks={"grappe_jobs": grappe_jobs})
    top = make_plugin("top", depends=("base",))
    app = build_app(base, top, make_plugin("fine"))
    assert "grappe_jobs raised RuntimeError: no job today" in error_of(app, "base")
    assert "depends on 'base'" in error_of(app, "top")
    f = Factory(app)
    one = f.cluster("one", modules=("fine",))
    u = f.user("u@example.org", "admin", one)
    client = app.test_client(user=u)
    # its blueprints were mounted before it broke: they answer 404 anyway
    assert client.get("/one/base/").status_code == 404
    assert client.get("/one/top/").status_code == 404
    assert client.get("/one/fine/").status_code == 200
    nav = client.get("/one/").get_data(as_text=True)
    assert "Fine menu" in nav and "Base menu" not in nav and "Top menu" not in nav


def test_three_plugins_with_one_name_are_all_refused(build_app):
    app = build_app(*(make_plugin("trio", module_name=f"fakeplugin_trio_{i}") for i in range(3)))
    host = app.extensions["grappe.host"]
    assert loaded_names(app) == []
    assert sum(1 for i in host.plugins.values() if i.name == "trio" and "3 plugins are named 'trio'" in i.error) == 3


def test_the_name_core_is_reserved(build_app):
    app = build_app(make_plugin("core", module_name="fakeplugin_named_core"), make_plugin("fine"))
    assert "reserved" in next(i.error for i in app.extensions["grappe.host"].broken())
    assert loaded_names(app) == ["fine"]


# -- hooks added by plugins ------------------------------------------------------------
def test_a_plugin_adds_hooks_that_another_implements(build_app):
    app = build_app(make_billable_plugin("events"), make_billing_plugin(), make_billable_plugin("training"))
    assert sorted(loaded_names(app)) == ["billing", "events", "training"]
    host = app.extensions["grappe.host"]
    one = Factory(app).cluster("one", modules=("billing", "events"))
    items = [i for group in host.hook.billing_billable_items(cluster=one) for i in group]
    assert sorted(items) == [("events item of one", 10), ("training item of one", 10)]
    # per cluster: only the enabled implementations are called
    items = [i for group in host.hook_for({"billing", "events"}).billing_billable_items(cluster=one) for i in group]
    assert items == [("events item of one", 10)]


def test_an_optional_implementation_is_fine_without_the_plugin_that_defines_the_hook(build_app):
    app = build_app(make_billable_plugin("events", optional=True))
    assert loaded_names(app) == ["events"]
    assert not hasattr(app.extensions["grappe.host"].hook, "billing_billable_items") or \
        app.extensions["grappe.host"].hook.billing_billable_items.spec is None


def test_a_mandatory_implementation_without_the_defining_plugin_is_a_broken_plugin(build_app):
    app = build_app(make_billable_plugin("events", optional=False), make_plugin("fine"))
    assert "implements 'billing_billable_items', which no hook specification declares" in error_of(app, "events")
    assert loaded_names(app) == ["fine"]


def test_an_implementation_of_a_plugin_hook_with_a_wrong_signature_breaks_the_implementer(build_app):
    @hookimpl(optionalhook=True)
    def billing_billable_items(cluster, period):
        return []

    # "aaa" comes before "billing" in load order: still checked against billing's spec
    app = build_app(make_plugin("aaa", hooks={"billing_billable_items": billing_billable_items}), make_billing_plugin())
    assert loaded_names(app) == ["billing"]
    assert "period" in error_of(app, "aaa")


def test_a_plugin_whose_addhooks_raises_is_broken(build_app):
    @hookimpl
    def grappe_addhooks(pluginmanager):
        raise ImportError("its hookspecs module is missing")

    app = build_app(make_plugin("definer", hooks={"grappe_addhooks": grappe_addhooks}), make_plugin("fine"))
    assert "could not register its hooks: ImportError: its hookspecs module is missing" in error_of(app, "definer")
    assert loaded_names(app) == ["fine"]
