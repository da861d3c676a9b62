"""The benchmark run: fresh database, synthetic federation, measurements, table and JSON."""

from __future__ import annotations

import gc
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, select, text

from core.testing import login_test_client, use_fast_password_hashing

from . import FIGURES, hookspecs
from .context import Bench, PageMeasure
from .stats import ratio, summary

SEED = 2008
MARKER_TABLE = "bench_run"
# bench/results/ in a source checkout (git-ignored); ./bench-results/ when installed from a wheel
RESULTS_DIR = (Path(__file__).parent / "results" if (Path(__file__).parent.parent / "pyproject.toml").exists()
               else Path.cwd() / "bench-results")

# slug, name, modules wanted (only installed ones are enabled), timezone, language
CLUSTERS = [
    ("automotive", "Automotive Cluster", ("crm", "events", "training", "projects", "billing"), "Europe/Vienna", "en"),
    ("plastics", "Kunststoff-Cluster", ("crm", "events", "projects", "billing"), "Europe/Vienna", "en"),
    ("wood", "Holz-Cluster", ("crm", "events", "billing"), "Europe/Vienna", "en"),
    ("health", "Gesundheits-Cluster", ("crm", "events", "training", "projects"), "Europe/Vienna", "en"),
    ("mechatronics", "Mechatronik-Cluster", ("crm", "events", "training", "projects", "billing"), "Europe/Vienna", "en"),
    ("environment", "Umwelttechnik-Cluster", ("crm", "events", "projects"), "Europe/Vienna", "en"),
    ("human-resources", "Personal-Netzwerk", ("crm", "training"), "Europe/Vienna", "en"),
    ("energy-efficiency", "Energieeffizienz-Netzwerk", ("crm", "events", "billing"), "Europe/Vienna", "en"),
    ("design", "Design-Netzwerk", ("crm", "events"), "Europe/Vienna", "en"),
]

# the targets, checked at scale 1.0 (label, what, limit)
TARGET_LOAD_SECONDS_SQLITE = 30.0
TARGET_ROWS_PER_S = {"crm.organizations": 5000, "crm.persons": 5000}
TARGET_PAGE_MS = 30.0
TARGET_OVERHEAD = 1.3
TARGET_CREATE_APP_S = 1.0


class BenchError(Exception):
    """The bench cannot run as asked; the message says why."""


# -- the database ---------------------------------------------------------------------
def prepare_database(url: str | None, workdir: Path) -> str:
    """Return the URL of a fresh, empty database (a new SQLite file when ``url`` is None).

    A given database is emptied only if it is empty already or was made by an earlier
    ``grappe bench`` (it holds the table ``bench_run``); a PostgreSQL database that does
    not exist is created.
    """
    if not url:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or parsed.database == ":memory:":
            raise BenchError("give a SQLite file (sqlite:////path/bench.sqlite3), not an in-memory database")
        if path.exists():
            _refuse_foreign_database(url)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                      {"n": parsed.database}).first()
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        finally:
            admin.dispose()
        _refuse_foreign_database(url)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    else:
        raise BenchError(f"unsupported database {parsed.get_backend_name()!r} (SQLite or PostgreSQL)")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {MARKER_TABLE} (started_at VARCHAR(40), loaded TEXT)"))
            conn.execute(text(f"INSERT INTO {MARKER_TABLE} (started_at) VALUES (:t)"),
                         {"t": datetime.now(timezone.utc).isoformat()})
    finally:
        engine.dispose()
    return url


def _loaded_run(url: str) -> dict:
    """What the load of an earlier run on this database recorded (for ``--reuse``)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if MARKER_TABLE not in inspect(conn).get_table_names():
                raise BenchError("--reuse needs a database loaded by an earlier 'grappe bench' run")
            cols = {c["name"] for c in inspect(conn).get_columns(MARKER_TABLE)}
            row = conn.execute(text(f"SELECT loaded FROM {MARKER_TABLE}")).first() if "loaded" in cols else None
    finally:
        engine.dispose()
    if row is None or not row[0]:
        raise BenchError("the earlier run on this database did not finish its load: run without --reuse")
    return json.loads(row[0])


def _record_load(url: str, loaded: dict) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {MARKER_TABLE} SET loaded = :d"), {"d": json.dumps(loaded, default=str)})
    finally:
        engine.dispose()


def _refuse_foreign_database(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
    finally:
        engine.dispose()
    if names and MARKER_TABLE not in names:
        raise BenchError(
            f"{make_url(url).render_as_string(hide_password=True)} holds tables that no earlier "
            f"'grappe bench' made ({', '.join(sorted(names)[:3])}...): the bench empties its database, "
            "give it one of its own"
        )


# -- setting up ---------------------------------------------------------------------
def _make_app(url: str, workdir: Path, plugins=None):
    from core.app import create_app

    app = create_app(_app_config(url), plugins=plugins)
    use_fast_password_hashing(app)  # only for the bench accounts
    return app


def _app_config(url: str) -> dict:
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + secrets.token_hex(16),
        "JOBS_IMMEDIATE": True,  # imports that run as jobs run inline
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
    }


def _setup_federation(app, echo):
    """Clusters with their module sets, a manager of every cluster and a federation admin."""
    from core import db
    from core.models import Cluster
    from core.modules import enable
    from core.services import create_cluster, create_user, grant_role

    loaded = {i.name for i in app.extensions["grappe.host"].loaded()}
    for slug, name, wanted, tz, lang in CLUSTERS:
        cluster = create_cluster(slug, name, timezone=tz, language=lang, legal_name=f"{name} (Verein)",
                                 city="Linz", country="AT")
        db.session.commit()
        modules = [m for m in wanted if m in loaded]
        if modules:
            enable(cluster, modules)
    password = secrets.token_urlsafe(16)
    manager = create_user("manager@bench.example", password, name="Bench Manager", language="en")
    admin = create_user("admin@bench.example", password, name="Bench Admin", federation_admin=True, language="en")
    db.session.flush()
    clusters = db.session.execute(select(Cluster).order_by(Cluster.id)).scalars().all()
    for cluster in clusters:
        grant_role(manager, cluster, "manager")
    db.session.commit()
    for cluster in clusters:
        echo(f"  cluster {cluster.slug:13} {', '.join(cluster.module_names) or '-'}")
    return clusters, {"manager": manager, "admin": admin}


def _bench_federation():
    """The clusters and users an earlier run created (``--reuse``)."""
    from core import db
    from core.models import Cluster, User

    clusters = db.session.execute(select(Cluster).order_by(Cluster.id)).scalars().all()
    users = {key: db.session.execute(select(User).where(User.email == f"{key}@bench.example")).scalar_one()
             for key in ("manager", "admin")}
    return clusters, users


def _plugin_impls(host, hook_name: str):
    """(plugin, implementation) in dependency order (``host.loaded()``)."""
    impls = getattr(host.pm.hook, hook_name).get_hookimpls()
    for info in host.loaded():
        for impl in impls:
            if impl.plugin_name == info.name:
                yield info.name, impl


# -- timing -------------------------------------------------------------------------
class _ServerTimer:
    """WSGI middleware recording the server time of each request (body included)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.last = 0.0

    def __call__(self, environ, start_response):
        start = time.perf_counter()
        iterable = self.wsgi_app(environ, start_response)
        try:
            body = b"".join(iterable)
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        self.last = time.perf_counter() - start
        return [body]


def _get(client, timer: _ServerTimer, url: str, expect: int, label: str) -> float:
    response = client.get(url)
    if response.status_code != expect:
        body = response.get_data(as_text=True)[:400]
        raise BenchError(f"{label}: GET {url} answered {response.status_code}, not {expect}: {body}")
    return timer.last


def _measure_page(client, timer, bare_client, bare_timer, page: PageMeasure, bare_url, repeat: int) -> dict:
    for _ in range(3):  # warm caches, templates, connections
        _get(client, timer, page.url, page.expect, page.label)
        if bare_url:
            _get(bare_client, bare_timer, bare_url, 200, page.label + " (bare)")
    samples, bare_samples = [], []
    gc.collect()
    for _ in range(repeat):  # interleaved, so noise hits both alike
        samples.append(_get(client, timer, page.url, page.expect, page.label))
        if bare_url:
            bare_samples.append(_get(bare_client, bare_timer, bare_url, 200, page.label + " (bare)"))
    entry = {"url": page.url, "plugin": page.plugin, "ms": summary(samples, 1000)}
    if bare_url:
        entry["bare_ms"] = summary(bare_samples, 1000)
        entry["overhead"] = ratio(entry["ms"]["median"], entry["bare_ms"]["median"])
    return entry


def _measure_pages(app, bench: Bench, bare_app, bare_timer, timer, repeat: int, echo) -> dict:
    clients: dict[int, object] = {}
    bare_client = bare_app.test_client() if bare_app else None
    bare_urls = {}
    for n, page in enumerate(p for p in bench.pages if p.bare):
        bare_urls[id(page)] = f"/{n}"
    results = {}
    for page in bench.pages:
        user = page.user or bench.users["manager"]
        client = clients.get(user.id)
        if client is None:
            client = clients[user.id] = app.test_client()
            login_test_client(client, user)
        bare_url = bare_urls.get(id(page))
        try:
            entry = _measure_page(client, timer, bare_client, bare_timer, page, bare_url, repeat)
        except BenchError as exc:  # a broken page is reported, the rest of the run goes on
            results[page.label] = {"url": page.url, "plugin": page.plugin, "error": str(exc)[:500]}
            echo(f"  page {page.label:32} FAILED: {str(exc)[:200]}")
            continue
        results[page.label] = entry
        extra = f"  bare {entry['bare_ms']['median']:.2f} ms  x{entry['overhead']}" if bare_url else ""
        echo(f"  page {page.label:32} {entry['ms']['median']:8.2f} ms{extra}")
    return results


def _measure_operations(app, bench: Bench, repeat: int, echo) -> dict:
    results = {}
    with app.app_context(), bench.acting_as(bench.main_cluster):
        for op in bench.operations:
            for _ in range(2):
                op.fn()
            samples = []
            gc.collect()
            for _ in range(repeat):
                start = time.perf_counter()
                op.fn()
                samples.append((time.perf_counter() - start) / op.inner)
            unit, factor = ("us", 1e6) if op.inner > 1 else ("ms", 1e3)
            results[op.label] = {"plugin": op.plugin, "unit": unit, **summary(samples, factor)}
            echo(f"  operation {op.label:27} {results[op.label]['median']:10.3f} {unit}")
    return results


def _create_app_cold(url: str, workdir: Path, repeat: int = 3) -> list[float]:
    """Seconds from ``import core.app`` to a created app, in fresh interpreters."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "from core.app import create_app\n"
        "app = create_app({'DATABASE_URL': %r, 'SECRET_KEY': 'x'})\n"
        "print(time.perf_counter() - t0)\n" % url
    )
    env = {**os.environ, "GRAPPE_INSTANCE": str(workdir / "instance")}
    out = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"create_app in a fresh interpreter failed: {done.stderr.strip()[-400:]}")
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def _core_measurements(bench: Bench, url: str, plugins=None) -> None:
    """The core's own measurements: the dashboard, a minimal page, create_app, hook calls."""
    from flask import g
    from flask_login import current_user

    from core.app import create_app

    main = bench.main_cluster
    bench.measure_page("core.dashboard", f"/{main.slug}/")
    bench.measure_page("core.jobs (empty list: the fixed cost of a page)", f"/{main.slug}/jobs")

    def create_and_dispose():
        app = create_app(_app_config(url), plugins=plugins)
        app.extensions["grappe.db"]["engine"].dispose()

    bench.measure("core.create_app (warm)", create_and_dispose)

    host = bench.app.extensions["grappe.host"]
    calls = 1000

    def hook_call():
        relay = host.hook_for(g.enabled_modules)
        for _ in range(calls):
            relay.grappe_nav_items(cluster=g.cluster, user=current_user)

    def direct_calls():
        # the same implementations, called as plain functions (what pluggy adds is the difference)
        impls = [i.function for i in host.pm.hook.grappe_nav_items.get_hookimpls()
                 if i.plugin_name.startswith("core.") or i.plugin_name in g.enabled_modules]
        cluster, user = g.cluster, current_user._get_current_object()
        for _ in range(calls):
            for fn in impls:
                fn(cluster=cluster, user=user)

    def noop(cluster=None, user=None):
        return None

    def plain_call():
        cluster, user = g.cluster, current_user
        for _ in range(calls):
            noop(cluster=cluster, user=user)

    bench.measure("core.hook_call grappe_nav_items (subset caller)", hook_call, inner=calls)
    bench.measure("core.same implementations called directly", direct_calls, inner=calls)
    bench.measure("core.plain function call", plain_call, inner=calls)


# -- the run ------------------------------------------------------------------------
def run(scale: float = 1.0, db: str | None = None, out: str | None = None, repeat: int = 30,
        seed: int = SEED, echo=print, plugins=None, http: bool = False, reuse: bool = False) -> dict:
    """Run the whole benchmark; return the results (also written as JSON to ``out``).

    :param scale: 1.0 is Clusterland (40,000 organizations, 87,000 persons...).
    :param db: a SQLAlchemy URL (emptied); default a new SQLite file in a temporary folder.
    :param out: the JSON file; default ``bench/results/<timestamp>.json``.
    :param repeat: requests per page and calls per operation.
    :param plugins: plugin modules to load instead of the ``grappe.plugins`` entry points.
    :param http: also measure throughput under gunicorn (2 sync workers) with a bounded load.
    :param reuse: measure again on ``db`` as an earlier run loaded it (no new load; its load
        figures are reported again): to see what a change to a page or an index does at full scale.
    """
    if reuse and not db:
        raise BenchError("--reuse needs --db (the database an earlier run loaded)")
    if scale <= 0:
        raise BenchError("--scale must be positive")
    repeat = max(1, repeat)
    started = datetime.now(timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="grappe-bench-"))
    previous_instance = os.environ.get("GRAPPE_INSTANCE")
    os.environ["GRAPPE_INSTANCE"] = str(workdir / "instance")  # jobs queue, never ./instance
    try:
        return _run(scale, db, out, repeat, seed, echo, started, workdir, plugins, http, reuse)
    finally:
        if previous_instance is None:
            os.environ.pop("GRAPPE_INSTANCE", None)
        else:
            os.environ["GRAPPE_INSTANCE"] = previous_instance
        shutil.rmtree(workdir, ignore_errors=True)


def _run(scale, db_url, out, repeat, seed, echo, started, workdir, plugins, http, reuse) -> dict:
    from core import db, migrate

    previous = _loaded_run(db_url) if reuse else None
    if previous:
        scale, seed = previous["scale"], previous["seed"]
    url = db_url if reuse else prepare_database(db_url, workdir)
    dialect = make_url(url).get_backend_name()
    load_before = os.getloadavg()
    echo(f"grappe bench: scale {scale}, {dialect}, seed {seed}, {repeat} repetitions")

    app = _make_app(url, workdir, plugins)
    host = app.extensions["grappe.host"]
    # the bench's own hooks: the core does not know them; each plugin's implementations are
    # checked against them now, and a misfit is reported broken below
    host.add_hookspecs(hookspecs)
    plugin_names = [i.name for i in host.loaded()]
    echo(f"  plugins: {', '.join(plugin_names) or '-'}")
    broken = {i.name: i.error for i in host.broken()}
    for name, why in broken.items():
        echo(f"  WARNING: plugin {name} is broken and left out of the bench: {why}")

    with app.app_context():
        t0 = time.perf_counter()
        migrate.upgrade(echo=lambda *_: None)
        upgrade_seconds = time.perf_counter() - t0
        if previous:
            echo(f"  reusing the load of the run of {previous['started_at']} (scale {scale})")
            clusters, users = _bench_federation()
            bench = Bench(app, scale, seed, clusters, users, repeat, echo=echo)
            loads, load_seconds = previous["load"], previous["load_seconds"]
        else:
            clusters, users = _setup_federation(app, echo)
            bench = Bench(app, scale, seed, clusters, users, repeat, echo=echo)

            load_start = time.perf_counter()
            for plugin, impl in _plugin_impls(host, "grappe_bench_load"):
                bench._enter_plugin(plugin)
                impl.function(bench=bench)
                db.session.commit()
            load_seconds = time.perf_counter() - load_start

            if dialect == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("ANALYZE"))  # what autovacuum does soon after a bulk load

            echo("  raw executemany of the same rows ...")
            loads = _raw_comparison(db.engine, bench, echo)
            _record_load(url, {"started_at": started.isoformat(timespec="seconds"), "scale": scale, "seed": seed,
                               "load": loads, "load_seconds": round(load_seconds, 3)})

        bench._enter_plugin("core")
        _core_measurements(bench, url, plugins)
        for plugin, impl in _plugin_impls(host, "grappe_bench_measure"):
            bench._enter_plugin(plugin)
            impl.function(bench=bench)
        bench._enter_plugin("core")
        # detach what pages and operations will use from this app context's session
        for obj in list(bench.clusters) + list(bench.users.values()):
            db.session.expunge(obj) if obj in db.session else None

    from .bare import create_bare_app

    timer = _ServerTimer(app.wsgi_app)
    app.wsgi_app = timer
    bare_pages = [p for p in bench.pages if p.bare]
    bare_app = create_bare_app(url, [p.bare for p in bare_pages]) if bare_pages else None
    bare_timer = None
    if bare_app:
        bare_timer = _ServerTimer(bare_app.wsgi_app)
        bare_app.wsgi_app = bare_timer
    echo("  measuring pages ...")
    pages = _measure_pages(app, bench, bare_app, bare_timer, timer, repeat, echo)
    if bare_app:
        bare_app.extensions["bench.engine"].dispose()
    echo("  measuring operations ...")
    operations = _measure_operations(app, bench, repeat, echo)
    cold = _create_app_cold(url, workdir, repeat=3 if repeat >= 3 else 1)
    operations["core.create_app (new process, imports included)"] = {"plugin": "core", "unit": "ms",
                                                                      **summary(cold, 1000)}

    throughput = None
    if http:
        echo("  throughput under gunicorn (2 sync workers) ...")
        throughput = _throughput(app, bench, url, workdir, echo)

    with app.app_context():
        counts = _row_counts(db.engine)
        db.engine.dispose()

    results = {
        "meta": {
            "started_at": started.isoformat(timespec="seconds"),
            "scale": scale,
            "seed": seed,
            "repeat": repeat,
            "reused_load_of": previous["started_at"] if previous else None,
            "database": dialect,
            "database_url": make_url(url).render_as_string(hide_password=True),
            "plugins": plugin_names,
            "broken_plugins": broken,
            "bench_plugins": [name for name, _ in _plugin_impls(host, "grappe_bench_load")],
            "clusters": [{"slug": c.slug, "modules": c.module_names} for c in bench.clusters],
            "python": platform.python_version(),
            "versions": _versions(),
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "figures_at_scale_1": FIGURES,
        },
        "schema_upgrade_seconds": round(upgrade_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "load": loads,
        "pages": pages,
        "operations": operations,
        "rows": counts,
    }
    if throughput is not None:
        results["http"] = throughput
    results["targets"] = _targets(results)
    print_table(results, echo)

    path = Path(out) if out else RESULTS_DIR / f"{started.strftime('%Y%m%d-%H%M%S')}-{dialect}-{scale:g}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    echo(f"\nResults written to {path}")
    return results


def _throughput(app, bench: Bench, url: str, workdir: Path, echo) -> dict:
    from .bare import literal_sql
    from .http import USER_AGENT, throughput

    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    login_test_client(client, bench.users["manager"])
    cookie = client.get_cookie("session").value
    dialect = create_engine(url).dialect
    pages, bare_queries = [], []
    for page in bench.pages:
        if page.bare is None and page.label != "core.dashboard":
            continue
        bare_index = None
        if page.bare is not None:
            bare_index = len(bare_queries)
            bare_queries.append(tuple(literal_sql(s, dialect) for s in page.bare))
        pages.append({"label": page.label, "url": page.url, "bare": bare_index})
    return throughput(database_url=url, secret_key=app.config["SECRET_KEY"], instance=str(workdir / "instance"),
                      cookie=cookie, pages=pages, bare_queries=bare_queries, echo=echo)


def _raw_comparison(engine, bench: Bench, echo) -> dict:
    from core import Base

    from .raw import time_raw_insert

    out = {}
    copied: set[str] = set()
    for record in bench.loads:
        raw_rows, raw_seconds = 0, []
        for name in record.tables:
            if name in copied or name not in Base.metadata.tables:
                continue
            copied.add(name)
            rows, seconds = time_raw_insert(engine, Base.metadata.tables[name])
            raw_rows += rows
            raw_seconds = [a + b for a, b in zip(raw_seconds, seconds)] if raw_seconds else seconds
        batch_rates = [rows / seconds for rows, seconds in record.batches if seconds > 0]
        entry = {
            "plugin": record.plugin,
            "rows": record.rows,
            "seconds": round(record.seconds, 3),
            "rows_per_s": round(record.rows / record.seconds) if record.seconds else None,
            "batch_rows_per_s": summary(batch_rates, 1, 0),
            "tables": list(record.tables),
        }
        if raw_seconds:
            raw_rate = [raw_rows / s for s in raw_seconds if s > 0]
            entry["raw"] = {"rows": raw_rows, "seconds": summary(raw_seconds, 1, 4),
                            "rows_per_s": summary(raw_rate, 1, 0)}
            entry["validation_cost"] = ratio(entry["raw"]["rows_per_s"]["median"], entry["rows_per_s"])
        out[record.label] = entry
    return out


def _row_counts(engine) -> dict:
    from core import Base

    counts = {}
    with engine.connect() as conn:
        for name in sorted(Base.metadata.tables):
            if inspect(conn).has_table(name):
                counts[name] = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
    return counts


def _targets(results: dict) -> list[dict]:
    scale = results["meta"]["scale"]
    full = scale == 1.0
    rows = []

    def add(name, value, limit, op, applies=True):
        met = None
        if applies and value is not None:
            met = value <= limit if op == "<=" else value >= limit
        rows.append({"target": name, "value": value, "limit": f"{op} {limit}", "met": met})

    if results["meta"]["database"] == "sqlite":
        add("full load (s, SQLite, scale 1.0)", results["load_seconds"], TARGET_LOAD_SECONDS_SQLITE, "<=", full)
    for label, minimum in TARGET_ROWS_PER_S.items():
        if label in results["load"]:
            add(f"{label} rows/s (validating path)", results["load"][label]["rows_per_s"], minimum, ">=", full)
    for label, page in results["pages"].items():
        if label.startswith("core.jobs"):
            continue
        if "error" in page:
            rows.append({"target": f"{label} median ms", "value": "error", "limit": f"<= {TARGET_PAGE_MS}",
                         "met": False})
            continue
        add(f"{label} median ms", page["ms"]["median"], TARGET_PAGE_MS, "<=", full)
        if "overhead" in page:
            add(f"{label} overhead vs bare", page["overhead"], TARGET_OVERHEAD, "<=", full)
    cold = results["operations"]["core.create_app (new process, imports included)"]["median"]
    add("create_app with all plugins (s, new process)", round(cold / 1000, 3), TARGET_CREATE_APP_S, "<=")
    return rows


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("grappe", "Flask", "SQLAlchemy", "pluggy", "psycopg", "Jinja2", "Werkzeug"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    import sqlite3

    out["sqlite"] = sqlite3.sqlite_version
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -- the table ------------------------------------------------------------------------
def print_table(results: dict, echo=print) -> None:
    meta = results["meta"]
    echo("")
    echo(f"Grappe bench - scale {meta['scale']}, {meta['database']}, {meta['cpus']} CPUs, "
         f"load average {meta['loadavg_before'][0]} -> {meta['loadavg_after'][0]}")
    echo("")
    echo(f"{'LOAD (validating path)':34} {'rows':>8} {'s':>7} {'rows/s':>8} {'batch p95':>9} "
         f"{'raw rows/s':>10} {'cost':>6}")
    for label, e in results["load"].items():
        raw = e.get("raw", {}).get("rows_per_s", {}).get("median")
        cost = e.get("validation_cost")
        echo(f"{label:34} {e['rows']:>8,} {e['seconds']:>7.2f} {e['rows_per_s'] or 0:>8,} "
             f"{e['batch_rows_per_s']['p95'] or 0:>9,.0f} {raw or 0:>10,.0f} {(f'{cost}x' if cost else '-'):>6}")
    echo(f"{'total load':34} {'':>8} {results['load_seconds']:>7.2f}   (schema upgrade "
         f"{results['schema_upgrade_seconds']:.2f} s)")
    echo("")
    echo(f"{'PAGES (server ms)':52} {'median':>7} {'p95':>7} {'bare':>7} {'b.p95':>7} {'x':>5}")
    for label, e in results["pages"].items():
        if "error" in e:
            echo(f"{label[:52]:52} FAILED: {e['error'][:60]}")
            continue
        bare = e.get("bare_ms")
        echo(f"{label[:52]:52} {e['ms']['median']:>7.2f} {e['ms']['p95']:>7.2f} "
             + (f"{bare['median']:>7.2f} {bare['p95']:>7.2f} {e['overhead']:>5}" if bare else f"{'':>7} {'':>7} {'':>5}"))
    echo("")
    echo(f"{'OPERATIONS':52} {'median':>9} {'p95':>9} unit")
    for label, e in results["operations"].items():
        echo(f"{label[:52]:52} {e['median']:>9.3f} {e['p95']:>9.3f} {e['unit']}")
    if "http" in results:
        echo("")
        echo(f"{'THROUGHPUT (gunicorn, 2 sync workers)':52} {'req/s':>9} {'bare':>9} {'x':>5}")
        for label, e in results["http"].items():
            if "grappe" not in e:
                echo(f"{label:52} {'':>9} {e['requests_per_s']:>9}")
                continue
            bare = e.get("bare", {}).get("requests_per_s")
            echo(f"{label[:52]:52} {e['grappe']['requests_per_s']:>9} {bare or '':>9} {e.get('ratio', ''):>5}")
    echo("")
    echo("TARGETS" + ("" if meta["scale"] == 1.0 else " (judged at scale 1.0 only)"))
    for t in results["targets"]:
        mark = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        echo(f"  {t['target'][:58]:58} {str(t['value']):>10} {t['limit']:>9}  {mark}")
