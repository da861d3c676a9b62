"""The cluster events code acts for: the request's, or the one the session is scoped to.

Operations (:mod:`.services`, :mod:`.registrations`, :mod:`.seats`, :mod:`.mail`) do not
take a ``cluster`` argument: in a cluster's request they act for it (the core scopes
``db.session`` to it); elsewhere (a command, the demo, a test) the caller says which
cluster with ``with db.for_cluster(cluster.id): ...``, the core's one named way.
"""

from __future__ import annotations

from flask import g

from core import cluster_by_id, db


def current_cluster():
    """The cluster ``db.session`` is scoped to (the request's ``g.cluster`` when it is that one).

    :raises RuntimeError: outside any cluster (no request for one, no ``db.for_cluster``).
    """
    cluster_id = db.session.info.get("cluster_id")
    cluster = g.get("cluster")
    if cluster is not None and (cluster_id is None or cluster.id == cluster_id):
        return cluster
    if cluster_id is not None:
        found = cluster_by_id(cluster_id)
        if found is not None:
            return found
    raise RuntimeError("events code runs for a cluster: in its request, or inside db.for_cluster(cluster_id)")
