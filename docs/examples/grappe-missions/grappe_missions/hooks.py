"""Hook implementations of the missions plugin (the entry-point target)."""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext as _l

from core import NavItem, Permission, hookimpl

from . import views


@hookimpl
def grappe_blueprints():
    return [views.bp, views.api]


@hookimpl
def grappe_migrations():
    return Path(__file__).parent / "migrations" / "versions"


@hookimpl
def grappe_permissions():
    return [Permission("missions.edit", _l("Create and change missions"), "manager")]


@hookimpl
def grappe_nav_items(cluster, user):
    return [NavItem(_l("Missions"), "missions.index", order=40)]
