"""Hook specifications of the Grappe core.

Every hook is called with keyword arguments only.  Hooks marked *per cluster* are
called through the cluster's subset caller: implementations of plugins that the
cluster has not enabled are skipped.  Plugins add hook specifications of their own
through :func:`grappe_addhooks` and prefix them with their name
(``billing_billable_items``).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("grappe")
hookimpl = pluggy.HookimplMarker("grappe")


@hookspec(historic=True)
def grappe_addhooks(pluginmanager):
    """Add hook specifications of a plugin (``pluginmanager.add_hookspecs(module)``).

    Called once for every plugin as it is registered, before any other hook.

    :param pluginmanager: the app's :class:`pluggy.PluginManager`.
    """


@hookspec
def grappe_blueprints():
    """Return the Flask blueprints of a plugin (called once, at app creation).

    A :class:`core.ClusterBlueprint` is mounted at ``/<cluster>/<plugin>/``, a
    :class:`core.ApiBlueprint` at ``/api/v1/<cluster>/<plugin>/``; a plain
    :class:`flask.Blueprint` keeps its own ``url_prefix`` (a federation-wide page).
    The blueprint's name must be the plugin's name or start with ``<plugin>_``.

    :returns: a list of blueprints.
    """


@hookspec
def grappe_migrations():
    """Return the folder of the plugin's Alembic revisions (called by ``grappe db upgrade``).

    Each plugin has its own history, kept in the table ``alembic_version_<plugin>``;
    histories run in dependency order.

    :returns: a path (``str`` or :class:`pathlib.Path`) or ``None``.
    """


@hookspec
def grappe_permissions():
    """Return the permissions a plugin checks (called once, at app creation).

    :returns: a list of :class:`core.Permission` (name ``<plugin>.<action>``, label,
        the lowest cluster role that holds it, and ``grantable``: whether a cluster admin
        may also grant it to one staff member, default True).
    """


@hookspec
def grappe_nav_items(cluster, user):
    """Return navigation entries for a cluster's back-office. *Per cluster.*

    :param cluster: the current :class:`core.models.Cluster`.
    :param user: the logged-in user.
    :returns: a list of :class:`core.NavItem`.
    """


@hookspec
def grappe_dashboard_widgets(cluster, user):
    """Return widgets for a cluster's dashboard. *Per cluster.*

    :param cluster: the current cluster.
    :param user: the logged-in user.
    :returns: a list of :class:`core.Widget` (title, HTML body, order).
    """


@hookspec
def grappe_timeline_entries(cluster, object_type, object_id, limit):
    """Return timeline entries about one record (an organization, a person). *Per cluster.*

    :param cluster: the cluster whose staff look at the timeline.
    :param object_type: what the record is, e.g. ``"crm.organization"``.
    :param object_id: its primary key.
    :param limit: the most entries worth returning (newest first).
    :returns: a list of :class:`core.TimelineEntry`.
    """


@hookspec
def grappe_search(cluster, query, limit):
    """Return results for the global search box. *Per cluster.*

    :param cluster: the current cluster.
    :param query: what the user typed (stripped, never empty).
    :param limit: the most results worth returning.
    :returns: a list of :class:`core.SearchResult`.
    """


@hookspec
def grappe_cluster_settings():
    """Return per-cluster settings a plugin offers on the cluster profile page.

    :returns: a list of :class:`core.Setting` (key ``<plugin>.<name>``, label,
        WTForms field factory, default).
    """


@hookspec
def grappe_cli_commands():
    """Return click commands or groups added to the ``grappe`` command line.

    Commands that need the app decorate themselves with :func:`core.with_appcontext`.

    :returns: a list of :class:`click.Command`.
    """


@hookspec
def grappe_jobs():
    """Return the background jobs a plugin can run, by name.

    A job is ``fn(job, **params)``; it runs in an app context, in the worker, and
    reports with ``job.progress(done, total)``.  Enqueue with ``core.jobs.enqueue``.

    :returns: a dict ``{"<plugin>.<job>": callable}``.
    """


@hookspec
def grappe_demo_data(clusters, rng):
    """Create a plugin's demo data (called by ``grappe demo``, in dependency order).

    :param clusters: every demo cluster; create data only for those where
        ``cluster.has_module(<plugin>)``.
    :param rng: a seeded :class:`random.Random`, so the demo is reproducible.
    """


@hookspec
def grappe_module_toggled(cluster, module, enabled):
    """Told when a module is enabled or disabled for a cluster (after the change is committed).

    :param cluster: the cluster.
    :param module: the module's name.
    :param enabled: ``True`` when it was enabled.
    """
