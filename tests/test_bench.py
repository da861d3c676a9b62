"""``grappe bench`` at a tiny scale: it runs, loads through the hooks and reports every figure.

No timing assertions: only that each measurement exists with its median and p95.  Also how
the bench joins the platform without the core knowing it: its command comes from the
``grappe.commands`` entry point, its hooks from ``bench/hookspecs.py`` (added when it runs),
and the app leaves implementations of those hooks alone meanwhile.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import types
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from click.testing import CliRunner

from core import Manifest, hookimpl

ROOT = Path(__file__).resolve().parent.parent


def _grappe():
    """The ``grappe`` group as ``main()`` builds it: with the ``grappe.commands`` entry points."""
    from core.cli import _add_installed_commands, cli

    _add_installed_commands()
    return cli


def _check_summary(entry: dict, where: str) -> None:
    assert entry["n"] >= 1, where
    assert isinstance(entry["median"], (int, float)) and entry["median"] >= 0, where
    assert isinstance(entry["p95"], (int, float)) and entry["p95"] >= entry["min"], where


def test_bench_runs_and_reports_every_measurement(tmp_path):
    cli = _grappe()
    out = tmp_path / "bench.json"
    db = tmp_path / "bench.sqlite3"
    result = CliRunner().invoke(cli, ["bench", "--scale", "0.002", "--repeat", "2",
                                      "--db", f"sqlite:///{db}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "PAGES" in result.output and "TARGETS" in result.output

    data = json.loads(out.read_text())
    assert data["meta"]["scale"] == 0.002 and data["meta"]["database"] == "sqlite"
    assert len(data["meta"]["clusters"]) == 9
    for label, load in data["load"].items():
        assert load["rows"] > 0 and load["rows_per_s"] > 0, label
        _check_summary(load["batch_rows_per_s"], label)
        if load["tables"]:
            _check_summary(load["raw"]["seconds"], label)
            _check_summary(load["raw"]["rows_per_s"], label)
    for label, page in data["pages"].items():
        _check_summary(page["ms"], label)
        if "bare_ms" in page:
            _check_summary(page["bare_ms"], label)
            assert page["overhead"] > 0
    assert "core.dashboard" in data["pages"]
    for label, op in data["operations"].items():
        _check_summary(op, label)
    for label in ("core.create_app (warm)", "core.create_app (new process, imports included)",
                  "core.hook_call grappe_nav_items (subset caller)", "core.plain function call"):
        assert label in data["operations"]
    assert {t["target"] for t in data["targets"]}

    # every installed plugin with a bench part loaded and measured something
    plugins = set(data["meta"]["bench_plugins"])
    if "crm" in plugins:
        assert {"crm.organizations", "crm.persons"} <= set(data["load"])
        assert {"crm.organizations", "crm.organizations?q=tech"} <= set(data["pages"])
        assert data["pages"]["crm.organizations"]["overhead"] > 0
        assert data["rows"]["crm_organization"] == data["load"]["crm.organizations"]["rows"]
    if "events" in plugins:
        assert {"events.events", "events.registrations"} <= set(data["load"])

    # measuring again on the loaded database: no new load, the same load figures
    again = tmp_path / "again.json"
    result = CliRunner().invoke(cli, ["bench", "--reuse", "--repeat", "1", "--db", f"sqlite:///{db}", "--out", str(again)])
    assert result.exit_code == 0, result.output
    second = json.loads(again.read_text())
    assert second["meta"]["reused_load_of"] == data["meta"]["started_at"]
    assert second["load"] == data["load"] and second["rows"] == data["rows"]
    assert set(second["pages"]) == set(data["pages"])

    # a database the bench did not make is never emptied
    foreign = tmp_path / "foreign.sqlite3"
    import sqlite3

    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE precious (id INTEGER)")
    refused = CliRunner().invoke(cli, ["bench", "--scale", "0.001", "--db", f"sqlite:///{foreign}",
                                       "--out", str(tmp_path / "x.json")])
    assert refused.exit_code != 0 and "give it one of its own" in refused.output
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("SELECT count(*) FROM precious").fetchone() == (0,)


def test_plugins_join_the_bench_through_its_hooks(tmp_path):
    """A plugin's grappe_bench_load and grappe_bench_measure are called with the bench."""
    from bench.runner import run

    seen = {}
    mod = types.ModuleType("benchtest_widgets")
    mod.manifest = Manifest(name="widgets", version="1.0", label="Widgets")

    @hookimpl
    def grappe_bench_load(bench):
        seen["load"] = (bench.count("organizations"), len(bench.clusters), bench.rng.random())
        with bench.timer("widgets.things", rows=10) as t:
            t.batch(5)
            t.batch(5)
        bench.data["widgets.ids"] = list(range(10))

    @hookimpl
    def grappe_bench_measure(bench):
        seen["shared"] = bench.data["widgets.ids"]
        bench.measure("widgets.sum", lambda: sum(range(100)))
        bench.measure_page("widgets.dashboard", f"/{bench.main_cluster.slug}/")

    mod.grappe_bench_load = grappe_bench_load
    mod.grappe_bench_measure = grappe_bench_measure
    sys.modules[mod.__name__] = mod
    try:
        data = run(scale=0.001, db=None, out=str(tmp_path / "b.json"),  # the default: a new SQLite file
                   repeat=1, echo=lambda *_: None, plugins=[mod])
        again = run(scale=0.001, db=f"sqlite:///{tmp_path / 'b.sqlite3'}", out=str(tmp_path / "c.json"),
                    repeat=1, echo=lambda *_: None, plugins=[mod])
    finally:
        del sys.modules[mod.__name__]
    assert data["meta"]["plugins"] == again["meta"]["plugins"] == ["widgets"]
    assert seen["shared"] == list(range(10))
    assert seen["load"][:2] == (40, 9)
    assert data["load"]["widgets.things"]["rows"] == 10
    assert data["load"]["widgets.things"]["batch_rows_per_s"]["n"] == 2
    assert "widgets.sum" in data["operations"] and "widgets.dashboard" in data["pages"]


# -- the bench declares itself: its command and its hooks ----------------------------------------
def _module_plugin(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(f"benchtest_{name}")
    mod.manifest = Manifest(name=name, version="1.0", label=name.title())
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, fn)
    return mod


def _host(*plugins):
    from core import builtin
    from core.plugins import PluginHost

    return PluginHost(explicit=list(plugins), core_plugins=[builtin])


def test_the_entry_points_name_the_bench_command_and_every_bench_hook():
    """pyproject.toml's grappe.tool_hooks are bench/hookspecs.py's specifications, one for one
    (and the installed metadata says the same: else run ``pip install -e .`` again)."""
    from bench import hookspecs
    from core import hookspecs as core_hookspecs

    specs = {name for name, fn in vars(hookspecs).items() if hasattr(fn, "grappe_spec")}
    assert specs == {"grappe_bench_load", "grappe_bench_measure"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert project["grappe.tool_hooks"] == {name: f"bench.hookspecs:{name}" for name in specs}
    assert project["grappe.commands"] == {"bench": "bench.cli:bench"}
    installed = {ep.name: ep.value for ep in entry_points(group="grappe.tool_hooks")}
    assert installed == project["grappe.tool_hooks"], "stale metadata: run pip install -e . again"
    assert {ep.name: ep.value for ep in entry_points(group="grappe.commands")} == project["grappe.commands"]
    assert not specs & set(vars(core_hookspecs))  # the core specifies none of them


def test_grappe_bench_help_through_the_installed_command():
    grappe = shutil.which("grappe") or str(Path(sys.executable).with_name("grappe"))
    if not Path(grappe).exists():
        pytest.skip("the grappe command is not installed")
    done = subprocess.run([grappe, "bench", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--scale" in done.stdout and "--reuse" in done.stdout and "warning" not in done.stderr


def test_bench_hooks_need_no_bench_to_load_and_typos_still_fail():
    """Without the bench, an implementation of its hooks is left alone; a misspelt one is not."""
    @hookimpl
    def grappe_bench_load(bench):
        pass

    @hookimpl
    def grappe_bench_lod(bench):
        pass

    host = _host("plugins.crm.hooks", "plugins.events.hooks",
                 _module_plugin("fine", grappe_bench_load=grappe_bench_load),
                 _module_plugin("typo", grappe_bench_lod=grappe_bench_lod))
    assert [i.name for i in host.loaded()] == ["crm", "events", "fine"]
    (typo,) = host.broken()
    assert "implements 'grappe_bench_lod', which no hook specification declares" in typo.error
    assert "did you mean 'grappe_bench_load'?" in typo.error
    assert host.pm.hook.grappe_bench_load.spec is None  # the core knows nothing of the bench


def test_the_bench_checks_its_hooks_when_it_adds_them():
    """``host.add_hookspecs(bench.hookspecs)``: a misfit and its dependents are taken out, the rest stay."""
    from bench import hookspecs

    @hookimpl
    def grappe_bench_load(bench):
        pass

    @hookimpl
    def grappe_bench_measure(bench, client):  # the specification gives no client
        pass

    misfit = _module_plugin("misfit", grappe_bench_measure=grappe_bench_measure)
    follower = _module_plugin("follower")
    follower.manifest = Manifest(name="follower", version="1.0", label="F", depends=("misfit",))
    host = _host("plugins.crm.hooks", _module_plugin("fine", grappe_bench_load=grappe_bench_load), misfit, follower)
    assert [i.name for i in host.loaded()] == ["crm", "fine", "misfit", "follower"]

    assert host.add_hookspecs(hookspecs) == ["misfit", "follower"]
    assert [i.name for i in host.loaded()] == ["crm", "fine"]
    assert "invalid hook implementation" in host.plugins["misfit"].error
    assert "'client'" in host.plugins["misfit"].error
    assert host.plugins["follower"].error == "depends on 'misfit', which is broken"
    assert host.pm.hook.grappe_bench_load.spec.namespace is hookspecs
    assert {i.plugin_name for i in host.pm.hook.grappe_bench_load.get_hookimpls()} == {"crm", "fine"}
    assert host.add_hookspecs(hookspecs) == []  # once is enough
