"""``grappe bench`` at a tiny scale: it runs, loads through the hooks and reports every figure.

No timing assertions: only that each measurement exists with its median and p95.
"""

from __future__ import annotations

import json
import sys
import types

from click.testing import CliRunner

from core import Manifest, hookimpl


def _check_summary(entry: dict, where: str) -> None:
    assert entry["n"] >= 1, where
    assert isinstance(entry["median"], (int, float)) and entry["median"] >= 0, where
    assert isinstance(entry["p95"], (int, float)) and entry["p95"] >= entry["min"], where


def test_bench_runs_and_reports_every_measurement(tmp_path):
    from core.cli import cli

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
