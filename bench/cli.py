"""The ``grappe bench`` command, declared by the bench itself.

``pyproject.toml`` names it in the ``grappe.commands`` entry-point group; ``grappe``
(:func:`core.cli.main`) adds every command of that group without knowing what they are.
The runner is imported when the command runs, so ``grappe --help`` stays quick.
"""

from __future__ import annotations

import click


@click.command("bench")
@click.option("--scale", default=1.0, show_default=True, type=float,
              help="Size of the synthetic federation; 1.0 is Clusterland (40,000 organizations...).")
@click.option("--db", "db_url", default=None,
              help="SQLAlchemy URL of a database of its own (it is emptied); default: a new SQLite file.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="JSON results file; default bench/results/<timestamp>.json.")
@click.option("--repeat", default=30, show_default=True, type=int, help="Requests per page, calls per operation.")
@click.option("--http", is_flag=True, help="Also measure throughput under gunicorn (2 workers) on 127.0.0.1.")
@click.option("--reuse", is_flag=True, help="Measure again on a --db an earlier run loaded (no new load).")
def bench(scale, db_url, out, repeat, http, reuse):
    """Benchmark Grappe on a synthetic federation, beside a bare Flask + SQLAlchemy app."""
    from .runner import BenchError, run

    try:
        run(scale=scale, db=db_url, out=out, repeat=repeat, echo=click.echo, http=http, reuse=reuse)
    except BenchError as exc:
        raise click.ClickException(str(exc))
