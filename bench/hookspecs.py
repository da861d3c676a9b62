"""Hook specifications of the benchmark (``grappe bench``), declared by the bench itself.

The core knows nothing of the bench: these specifications are not in
:mod:`core.hookspecs`.  The bench adds them to the app's plugin manager when it runs
(``host.add_hookspecs(bench.hookspecs)``, which checks every plugin's implementations
against them and marks a misfit broken).  When the bench does not run, the app leaves
implementations of these hooks alone: their names are declared in the
``grappe.tool_hooks`` entry-point group (``pyproject.toml``), which the core reads
generically, so a plugin's plain ``@hookimpl def grappe_bench_load(bench)`` is never taken
for a typo.

The marker's project name is the platform's, ``"grappe"``: plugins implement these hooks
with the usual ``from core import hookimpl``.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("grappe")


@hookspec
def grappe_bench_load(bench):
    """Load the plugin's part of the benchmark's synthetic federation (``grappe bench``).

    Called once per plugin, in dependency order, inside an app context, on a fresh
    database.  Load through the plugin's validating paths (the import and service
    functions users get), never by raw inserts: the bench measures those paths.

    :param bench: a :class:`bench.context.Bench`: ``scale`` and ``count(what)`` (sizes),
        ``rng`` (seeded per plugin), ``clusters`` (``clusters_with(module)``), ``users``,
        ``synth`` (names, sectors, cities, competences), ``data`` (ids shared between
        plugins, e.g. ``data["crm.organization_ids"]``), ``acting_as(cluster)`` (a request
        context in a cluster) and ``timer(label, rows, tables)``, a context manager that
        records the load time and rows/s of one entity.
    """


@hookspec
def grappe_bench_measure(bench):
    """Register the plugin's benchmark measurements (``grappe bench``), after every load.

    Called once per plugin, in dependency order.  Registered measurements run later,
    repeated, and are reported with their median and 95th percentile.

    :param bench: the :class:`bench.context.Bench`: ``measure_page(label, url, user=None,
        bare=None)`` times a page through the test client (``bare=(page_stmt, count_stmt)``
        serves the same query from a bare Flask + SQLAlchemy view, for the overhead
        ratio); ``measure(label, fn)`` times an operation.
    """
