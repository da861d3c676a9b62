"""Alembic, one history per plugin (and one for the core).

Each history lives in its owner's ``migrations/`` folder and is recorded in the
table ``alembic_version_<owner>``.  ``grappe db upgrade`` runs the core's history,
then each installed plugin's, in dependency order.  No env.py is needed: the
environment is built here, so every history runs the same way.
"""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import MetaData

from .database import Base, db

TEMPLATE_DIR = Path(__file__).parent / "alembic_template"
CORE_MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def histories() -> list[tuple[str, Path]]:
    """(owner, versions folder) for the core and every loaded plugin, in load order."""
    host = current_app.extensions["grappe.host"]
    out = [("core", CORE_MIGRATIONS)]
    for name, path in host.call_each("grappe_migrations"):
        out.append((name, Path(path)))
    order = {info.name: i for i, info in enumerate(host.loaded())}
    return [out[0]] + sorted(out[1:], key=lambda item: order.get(item[0], 999))


def owned_metadata(owner: str) -> MetaData:
    """The metadata autogenerate compares for one owner.

    Every table is copied, so that foreign keys to another owner's tables (``core_cluster``)
    resolve; ``include_object`` keeps the comparison to the owner's tables (by prefix).
    """
    meta = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(meta)
    return meta


def _script(owner: str, versions: Path) -> ScriptDirectory:
    return ScriptDirectory(str(TEMPLATE_DIR), version_locations=[str(versions)])


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(TEMPLATE_DIR))
    return cfg


def _include_object(owner, dialect: str | None = None):
    def include(obj, name, type_, reflected, compare_to):
        if type_ == "table":
            return bool(name) and name.startswith(f"{owner}_")
        if type_ == "index" and dialect:
            # an index declared with .ddl_if(dialect="postgresql") exists only there
            # (owned_metadata's copies lose it: read it on the model's own index)
            model_index = compare_to if reflected else obj
            table = Base.metadata.tables.get(getattr(getattr(model_index, "table", None), "name", ""))
            original = next((i for i in table.indexes if i.name == name), None) if table is not None else None
            ddl_if = getattr(original, "_ddl_if", None)
            if ddl_if is not None and ddl_if.dialect and ddl_if.dialect != dialect:
                return False
        return True
    return include


def upgrade(target: str = "heads", owners: list[str] | None = None, echo=print) -> list[str]:
    """Bring every history (or the named ones) up to date; return what ran."""
    ran = []
    for owner, versions in histories():
        if owners and owner not in owners:
            continue
        if not versions.is_dir():
            continue
        script = _script(owner, versions)
        steps: list[str] = []

        def do_upgrade(rev, context, script=script, steps=steps):
            revs = script._upgrade_revs(target, rev)
            steps.extend(r.revision.revision for r in revs)
            return revs

        with db.engine.connect() as conn:
            env = EnvironmentContext(_config(), script, fn=do_upgrade, destination_rev=target)
            env.configure(
                connection=conn,
                target_metadata=owned_metadata(owner),
                version_table=f"alembic_version_{owner}",
                render_as_batch=conn.dialect.name == "sqlite",
                include_object=_include_object(owner, conn.dialect.name),
                transaction_per_migration=False,
            )
            with env.begin_transaction():
                env.run_migrations()
            conn.commit()
        if steps:
            echo(f"{owner}: upgraded ({', '.join(steps)})")
            ran.append(owner)
    return ran


def current_heads() -> dict[str, str | None]:
    out = {}
    with db.engine.connect() as conn:
        for owner, _ in histories():
            ctx = MigrationContext.configure(conn, opts={"version_table": f"alembic_version_{owner}"})
            out[owner] = ctx.get_current_revision()
    return out


def pending_changes(owner: str) -> list:
    """Differences between an owner's models and the database (empty when in step)."""
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "include_object": _include_object(owner, conn.dialect.name),
            "render_as_batch": conn.dialect.name == "sqlite",
            "compare_type": True,
        })
        return compare_metadata(ctx, owned_metadata(owner))


def revision(owner: str, message: str, autogenerate: bool = True) -> Path:
    """Write a new revision file in an owner's history (``grappe db revision``)."""
    versions = dict(histories())[owner]
    versions.mkdir(parents=True, exist_ok=True)
    script = _script(owner, versions)
    head = script.get_current_head()
    upgrade_ops = downgrade_ops = "pass"
    if autogenerate:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={
                "include_object": _include_object(owner, conn.dialect.name),
                "render_as_batch": True,
                "compare_type": True,
                "target_metadata": owned_metadata(owner),
                "version_table": f"alembic_version_{owner}",
            })
            migration = produce_migrations(ctx, owned_metadata(owner))
            upgrade_ops = render_python_code(migration.upgrade_ops, render_as_batch=True).strip() or "pass"
            downgrade_ops = render_python_code(migration.downgrade_ops, render_as_batch=True).strip() or "pass"
    number = len(list(script.walk_revisions())) + 1
    rev_id = f"{owner}_{number:04d}"
    sc = script.generate_revision(
        rev_id, message, head=head or "base", splice=False,
        version_path=str(versions),
        upgrades=_indent(upgrade_ops), downgrades=_indent(downgrade_ops),
    )
    return Path(sc.path)


def _indent(code: str) -> str:
    lines = [line[4:] if line.startswith("    ") else line for line in code.splitlines()]
    lines = [ln for ln in lines if not ln.startswith("# ###")]
    return "\n".join("    " + ln if ln else "" for ln in lines).strip() or "pass"
