"""``grappe demo``: a fresh demo federation with clusters running different modules."""

from __future__ import annotations

import secrets

from flask import current_app

from . import migrate
from .database import db
from .modules import enable
from .services import create_cluster, create_user, grant_role

DEMO_CLUSTERS = [
    # slug, name, timezone, language
    ("automotive", "Automotive Cluster", "Europe/Vienna", "en"),
    ("plastics", "Cluster Plasturgie", "Europe/Paris", "fr"),
    ("hr-network", "Human Resources Network", "Europe/Vienna", "en"),
    ("wood", "Cluster Bois", "Europe/Paris", "fr"),
]


def demo_module_sets(load_order: list[str], count: int) -> list[list[str]]:
    """Module sets for ``count`` demo clusters, from every module down to one.

    Each set is a prefix of the load order, so it holds its modules' dependencies.  With
    fewer modules than clusters, the last cluster runs the core alone, so that the sets
    still differ (three distinct sets from two modules).  The core names no plugin.
    """
    n = len(load_order)
    if n == 0:
        return [[] for _ in range(count)]
    spread = count if n >= count else count - 1
    sizes = [n - -(-i * (n - 1) // (spread - 1)) if spread > 1 else n for i in range(spread)]
    return [load_order[:size] for size in sizes] + [[] for _ in range(count - spread)]


def _password() -> str:
    return secrets.token_urlsafe(12)


def build_demo(rng, echo=print) -> list[tuple[str, str, str]]:
    """Migrate, create clusters, users and every plugin's demo data; return the logins."""
    migrate.upgrade(echo=lambda *_: None)
    host = current_app.extensions["grappe.host"]
    module_sets = demo_module_sets([i.name for i in host.loaded()], len(DEMO_CLUSTERS))
    clusters = []
    for (slug, name, tz, lang), modules in zip(DEMO_CLUSTERS, module_sets):
        cluster = create_cluster(slug, name, timezone=tz, language=lang, legal_name=f"{name} (association)",
                                 city="Linz" if tz == "Europe/Vienna" else "Lyon",
                                 country="AT" if tz == "Europe/Vienna" else "FR")
        db.session.commit()
        if modules:
            enable(cluster, modules)
        clusters.append(cluster)
        echo(f"cluster {slug:12} modules: {', '.join(cluster.module_names) or '-'}")

    logins = []
    admin_pw = _password()
    create_user("admin@grappe.example", admin_pw, name="Federation Admin", federation_admin=True)
    logins.append(("admin@grappe.example", admin_pw, "federation admin (every cluster)"))
    for cluster, role in ((clusters[0], "manager"), (clusters[1], "staff"), (clusters[2], "admin")):
        pw = _password()
        email = f"{role}.{cluster.slug}@grappe.example"
        user = create_user(email, pw, name=f"{role.title()} {cluster.name}", language=cluster.language)
        db.session.flush()
        grant_role(user, cluster, role)
        logins.append((email, pw, f"{role} of {cluster.slug}"))
    viewer_pw = _password()
    viewer = create_user("viewer@grappe.example", viewer_pw, name="Read-only Viewer")
    db.session.flush()
    for cluster in clusters:
        grant_role(viewer, cluster, "viewer")
    logins.append(("viewer@grappe.example", viewer_pw, "viewer of every cluster"))
    db.session.commit()

    for info in host.loaded():
        impls = [i for i in host.pm.hook.grappe_demo_data.get_hookimpls() if i.plugin_name == info.name]
        for impl in impls:
            impl.function(clusters=clusters, rng=rng)
            db.session.commit()
            echo(f"demo data: {info.name}")
    return logins
