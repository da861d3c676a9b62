"""``grappe bench``: Grappe at Clusterland scale, side by side with a bare Flask + SQLAlchemy app.

The bench builds a fresh database, a deterministic synthetic federation loaded through
Grappe's own validating paths (each plugin loads its part through the
``grappe_bench_load`` hook), then measures load throughput, back-office pages and
platform costs (plugins add theirs through ``grappe_bench_measure``).  See
docs/performance.md.  Nothing here is imported by the app itself: the bench declares its
hooks (:mod:`bench.hookspecs`, added when it runs) and its command (:mod:`bench.cli`, an
entry point of the ``grappe.commands`` group) itself.
"""

from __future__ import annotations

FIGURES = {
    # Clusterland's CRM at scale 1.0 (../shared/DOMAIN.md)
    "clusters": 9,
    "organizations": 40_000,
    "persons": 87_000,
    "members": 1_519,
    "events": 2_000,
    "registrations": 40_000,
    "projects": 550,
    "partner_links": 1_310,
    "documents": 46_000,
}


def run(**kwargs):
    """Run the benchmark (see :func:`bench.runner.run`)."""
    from .runner import run as _run

    return _run(**kwargs)
