"""What the ``grappe_bench_load`` and ``grappe_bench_measure`` hooks receive."""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import FIGURES, synth


@dataclass
class LoadRecord:
    """One entity loaded through a validating path."""

    label: str
    rows: int
    seconds: float = 0.0
    batches: list[tuple[int, float]] = field(default_factory=list)  # (rows, seconds) per batch
    tables: tuple[str, ...] = ()
    plugin: str = ""
    raw_seconds: list[float] = field(default_factory=list)
    raw_rows: int = 0


@dataclass
class PageMeasure:
    label: str
    url: str
    user: Any = None
    bare: tuple | None = None  # (page statement, count statement), run by the bare app
    plugin: str = ""
    expect: int = 200


@dataclass
class OpMeasure:
    label: str
    fn: Callable[[], Any]
    plugin: str = ""
    unit: str = "ms"
    inner: int = 1  # calls per sample (for very short operations)


class LoadTimer:
    """Yielded by :meth:`Bench.timer`: report batches with :meth:`batch`."""

    def __init__(self, record: LoadRecord):
        self.record = record
        self._last = time.perf_counter()
        self._rows_at_last = 0
        self.done = 0

    def batch(self, rows: int) -> None:
        """Say that ``rows`` more rows were loaded (and committed) since the last call."""
        now = time.perf_counter()
        self.record.batches.append((rows, now - self._last))
        self._last = now
        self.done += rows


class Bench:
    """The run as plugins see it: scale, randomness, clusters, timers, shared ids, measurements.

    :ivar scale: 1.0 is Clusterland (``bench.FIGURES``).
    :ivar rng: a :class:`random.Random` seeded for the plugin being called (adding a plugin
        never changes another plugin's data).
    :ivar clusters: the bench clusters (``cluster.has_module(name)`` says which run a plugin).
    :ivar users: ``{"manager": User, ...}``: one manager of every cluster (the default page user)
        and one federation admin.
    :ivar data: ids and facts plugins share, e.g. ``data["crm.organization_ids"]``.
    :ivar synth: :mod:`bench.synth` (names, sectors, cities, competences generators).
    :ivar app: the Flask app (loads and measurements run inside its app context).
    """

    synth = synth

    def __init__(self, app, scale: float, seed: int, clusters: list, users: dict, repeat: int, echo=print):
        self.app = app
        self.scale = scale
        self.seed = seed
        self.clusters = clusters
        self.users = users
        self.repeat = repeat
        self.data: dict[str, Any] = {}
        self.loads: list[LoadRecord] = []
        self.pages: list[PageMeasure] = []
        self.operations: list[OpMeasure] = []
        self.echo = echo
        self.plugin = "core"
        self.rng = random.Random(f"{seed}:core")

    # -- called by the runner ---------------------------------------------------------
    def _enter_plugin(self, name: str) -> None:
        self.plugin = name
        self.rng = random.Random(f"{self.seed}:{name}")

    # -- sizes ------------------------------------------------------------------------
    def count(self, what: str, full: int | None = None) -> int:
        """How many ``what`` to create at this scale (at least 1).

        :param what: a key of ``bench.FIGURES`` (``"organizations"``...), or any name with ``full``.
        :param full: the figure at scale 1.0 when ``what`` is not in ``FIGURES``.
        """
        base = FIGURES.get(what, full)
        if base is None:
            raise KeyError(f"no Clusterland figure for {what!r}: pass full=")
        return max(1, round(base * self.scale))

    def clusters_with(self, module: str) -> list:
        """The bench clusters that have ``module`` enabled."""
        return [c for c in self.clusters if c.has_module(module)]

    @property
    def main_cluster(self):
        """The cluster with the most modules (the one measured pages use)."""
        return max(self.clusters, key=lambda c: (len(c.modules), -c.id))

    # -- loading ----------------------------------------------------------------------
    @contextlib.contextmanager
    def timer(self, label: str, rows: int, tables: tuple[str, ...] | str = ()) -> Iterator[LoadTimer]:
        """Time loading ``rows`` rows of one entity through the plugin's validating path.

        :param label: ``<plugin>.<entity>``, e.g. ``"crm.organizations"``.
        :param rows: how many rows this load creates.
        :param tables: the tables it fills: the bench re-inserts exactly these rows into
            scratch copies with a raw SQLAlchemy Core ``executemany`` to show what the
            validating path costs.  Tables shared with earlier loads are not copied twice.
        """
        record = LoadRecord(label=label, rows=rows, plugin=self.plugin,
                            tables=(tables,) if isinstance(tables, str) else tuple(tables))
        self.echo(f"  loading {label}: {rows:,} rows ...")
        timer = LoadTimer(record)
        start = time.perf_counter()
        yield timer
        record.seconds = time.perf_counter() - start
        if not record.batches:
            record.batches.append((rows, record.seconds))
        self.loads.append(record)
        self.echo(f"  loaded {label}: {record.rows:,} rows in {record.seconds:.1f} s "
                  f"({record.rows / max(record.seconds, 1e-9):,.0f} rows/s)")

    @contextlib.contextmanager
    def acting_as(self, cluster, user=None):
        """A request context in ``cluster`` as ``user`` (default: the manager), for services
        that read ``g.cluster``, ``current_user`` or the session's cluster scope."""
        from flask import g
        from flask_login import login_user

        from core import db
        from core.modules import enabled_modules

        user = user or self.users["manager"]
        with self.app.test_request_context(f"/{cluster.slug}/"):
            g.cluster_slug = cluster.slug
            g.cluster = cluster
            g.enabled_modules = enabled_modules(cluster)
            login_user(user)
            previous = db.session.info.get("cluster_id")
            db.session.info["cluster_id"] = cluster.id
            try:
                yield
            finally:
                if previous is None:
                    db.session.info.pop("cluster_id", None)
                else:
                    db.session.info["cluster_id"] = previous

    # -- measuring --------------------------------------------------------------------
    def measure_page(self, label: str, url: str, user=None, bare: tuple | None = None, expect: int = 200) -> None:
        """Measure a page's server time (logged in, through the Flask test client).

        :param label: ``<plugin>.<page>``, e.g. ``"crm.organizations"``.
        :param url: the path, e.g. ``/automotive/crm/organizations?q=tech``.
        :param user: who is logged in (default: ``bench.users["manager"]``).
        :param bare: ``(page_statement, count_statement)``: the same query served by a bare
            Flask + SQLAlchemy view, measured beside it (the ratio is the platform's overhead).
        :param expect: the status code every request must return.
        """
        self.pages.append(PageMeasure(label, url, user, bare, self.plugin, expect))

    def has_route(self, url: str) -> bool:
        """Does the app route ``url`` (a page of a plugin still being written may not exist)?"""
        from werkzeug.exceptions import HTTPException

        try:
            self.app.url_map.bind("localhost").match(url.split("?", 1)[0], method="GET")
        except HTTPException as exc:
            return getattr(exc, "code", None) in (301, 308)  # a redirect to the slash URL
        return True

    def measure(self, label: str, fn: Callable[[], Any], inner: int = 1) -> None:
        """Measure an operation: ``fn()`` is called repeatedly inside the app context.

        :param inner: calls per sample, for operations far below a millisecond.
        """
        self.operations.append(OpMeasure(label, fn, self.plugin, inner=inner))
