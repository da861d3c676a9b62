"""``grappe import crm FILE --kind organizations|persons``."""

from __future__ import annotations

import json
import sys

import click

from core import with_appcontext


@click.group("import")
def import_group():
    """Import data from files."""


@import_group.command("crm")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(["organizations", "persons"]), required=True, help="What the file holds.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--on-duplicate", type=click.Choice(["update", "skip"]), default="update", show_default=True,
              help="What to do with a row matching an existing record (same SIREN, SIRET, VAT or e-mail).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), help="CSV delimiter (detected by default).")
@click.option("--encoding", help="CSV encoding, e.g. utf-8 or latin-1 (detected by default).")
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD",
              help="Read a file column as a field, e.g. --map 'Raison sociale=legal_name'.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def import_crm(path, kind, dry_run, on_duplicate, delimiter, encoding, mappings, as_json):
    """Import organizations or persons from a CSV or XLSX FILE (all or nothing)."""
    from .importing import ImportRefused, import_file

    mapping = {}
    for item in mappings:
        column, sep, fieldname = item.rpartition("=")
        if not sep or not column:
            raise click.BadParameter(f"expected COLUMN=FIELD, got {item!r}", param_hint="--map")
        mapping[column] = fieldname
    bar = click.progressbar(length=1, label=f"Checking {kind}", show_pos=True, file=sys.stderr)

    def progress(done, total):
        bar.length = max(total, 1)
        bar.update(done - bar.pos)

    with bar:
        try:
            report = import_file(path, kind, dry_run=dry_run, on_duplicate=on_duplicate, mapping=mapping or None,
                                 progress=progress, delimiter="\t" if delimiter == "tab" else delimiter,
                                 encoding=encoding)
        except ImportRefused as exc:
            raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(f"{report.rows} rows read ({report.encoding}{', delimiter ' + repr(report.delimiter) if report.delimiter else ''})"
                   f" in {report.seconds:.1f} s.")
        for error in report.errors:
            where = f"line {error.line}" + (f", column {error.column}" if error.column else "")
            click.echo(f"  {where}: {error.message}", err=True)
        if report.error_count > len(report.errors):
            click.echo(f"  ... and {report.error_count - len(report.errors)} more errors", err=True)
        verb = "would be" if dry_run or not report.ok else ""
        click.echo(f"{report.created} {verb + ' ' if verb else ''}created, {report.updated} {verb + ' ' if verb else ''}"
                   f"updated, {report.skipped} skipped"
                   + (f", {report.organizations_created} organizations created" if report.organizations_created else "")
                   + ".")
    if not report.ok:
        raise click.ClickException(f"{report.error_count} bad row(s): nothing was written.")
    click.echo("Dry run: nothing was written." if dry_run else "Imported.")
