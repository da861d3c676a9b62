"""The home page (the user's clusters), a cluster's dashboard and its search."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from flask_login import current_user

from ..toolkit import cluster_hooks
from .blueprint import bp
from .shell import my_clusters


@bp.route("/")
def home():
    clusters = my_clusters(with_modules=True)
    if len(clusters) == 1 and not current_user.is_federation_admin:
        return redirect(url_for("core.dashboard", cluster=clusters[0].slug))
    return render_template("core/home.html", clusters=clusters)


@bp.route("/<cluster>/")
def dashboard():
    widgets = [w for group in cluster_hooks().grappe_dashboard_widgets(cluster=g.cluster, user=current_user) for w in group]
    widgets.sort(key=lambda w: (w.order, str(w.title)))
    return render_template("core/dashboard.html", widgets=widgets)


@bp.route("/<cluster>/search")
def search():
    query = request.args.get("q", "").strip()[:200]
    results = []
    if query:
        for group in cluster_hooks().grappe_search(cluster=g.cluster, query=query, limit=20):
            results.extend(group)
    return render_template("core/search.html", query=query, results=results)
