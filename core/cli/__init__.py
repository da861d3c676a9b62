"""The ``grappe`` command line, one module per group of commands.

- :mod:`.base`: the ``grappe`` group, ``with_app`` (a command's app context, its one commit)
- :mod:`.schema`: ``grappe db`` (migrations)
- :mod:`.clusters`, :mod:`.modules`: ``grappe clusters``, ``grappe modules``
- :mod:`.users`, :mod:`.tokens`: ``grappe users``, ``grappe tokens`` (over core.services)
- :mod:`.run`: ``grappe serve``, ``grappe worker``, ``grappe demo``

:func:`main` (the console script) adds the commands of installed tools (the
``grappe.commands`` entry points) and of the plugins (``grappe_cli_commands``).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from . import clusters, modules, run, schema, tokens, users  # noqa: F401 - their commands
from .base import GrappeGroup, cli, with_app

__all__ = ["COMMANDS_GROUP", "GrappeGroup", "cli", "main", "with_app"]

# commands of tools that run on the app, declared by their distributions (see _add_installed_commands)
COMMANDS_GROUP = "grappe.commands"


def _add_installed_commands() -> None:
    """Add the commands installed distributions declare in the ``grappe.commands`` entry-point
    group (``name = "package.module:command"``): tools that run on the app and that the core
    names nowhere.  A command that fails to load, or whose name is taken, is left out with a
    warning."""
    for ep in entry_points(group=COMMANDS_GROUP):
        try:
            command = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken tool must not take the CLI down
            click.echo(f"warning: the command '{ep.name}' ({ep.value}) could not be loaded: "
                       f"{type(exc).__name__}: {exc}", err=True)
            continue
        if not isinstance(command, click.Command):
            click.echo(f"warning: {ep.value} is not a click command; '{ep.name}' ignored", err=True)
            continue
        if cli.commands.get(ep.name) is command:
            continue
        if ep.name in cli.commands:
            click.echo(f"warning: the command '{ep.name}' ({ep.value}) exists already; ignored", err=True)
            continue
        cli.add_command(command, ep.name)


def _add_plugin_commands() -> None:
    """Load plugin commands (the plugins are imported once for this)."""
    from .. import builtin
    from ..plugins import PluginHost

    try:
        host = PluginHost(core_plugins=[builtin])
    except Exception as exc:  # noqa: BLE001
        click.echo(f"warning: plugins could not be loaded: {exc}", err=True)
        return
    for plugin, commands in host.call_loading("grappe_cli_commands"):
        for command in commands:
            if command.name in cli.commands:
                click.echo(f"warning: plugin {plugin}: the command '{command.name}' exists already; ignored", err=True)
                continue
            cli.add_command(command)


def main() -> None:
    _add_installed_commands()
    _add_plugin_commands()
    cli(prog_name="grappe")
