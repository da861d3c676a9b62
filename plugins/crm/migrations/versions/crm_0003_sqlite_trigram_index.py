"""SQLite: a trigram full-text index on organizations' normalized search text

Revision ID: crm_0003
Revises: crm_0002
Create Date: 2026-11-26 14:40:00

PostgreSQL serves ``search LIKE '%term%'`` from its pg_trgm GIN index (crm_0001).
SQLite cannot: a leading-% LIKE scans the table.  An FTS5 trigram index, kept in step
by triggers whatever writes the table (pages, API, bulk imports), finds the rows
containing a term (3 characters or more) without a scan.  It is named ``fts_...`` so
that schema comparisons of the ``crm_`` tables leave the virtual table alone.
"""
from __future__ import annotations

from alembic import op

revision = 'crm_0003'
down_revision = 'crm_0002'
branch_labels = None
depends_on = None


def _has_trigram(bind) -> bool:
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.crm_trigram_probe USING fts5(x, tokenize='trigram')")
        bind.exec_driver_sql("DROP TABLE temp.crm_trigram_probe")
        return True
    except Exception:  # noqa: BLE001 - SQLite older than 3.34: the search scans instead
        return False


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not _has_trigram(bind):
        return
    op.execute("CREATE VIRTUAL TABLE fts_crm_organization USING fts5("
               "search, content='crm_organization', content_rowid='id', tokenize='trigram')")
    op.execute("CREATE TRIGGER crm_organization_fts_insert AFTER INSERT ON crm_organization BEGIN "
               "INSERT INTO fts_crm_organization(rowid, search) VALUES (new.id, new.search); END")
    op.execute("CREATE TRIGGER crm_organization_fts_delete AFTER DELETE ON crm_organization BEGIN "
               "INSERT INTO fts_crm_organization(fts_crm_organization, rowid, search) "
               "VALUES ('delete', old.id, old.search); END")
    op.execute("CREATE TRIGGER crm_organization_fts_update AFTER UPDATE OF search ON crm_organization BEGIN "
               "INSERT INTO fts_crm_organization(fts_crm_organization, rowid, search) "
               "VALUES ('delete', old.id, old.search); "
               "INSERT INTO fts_crm_organization(rowid, search) VALUES (new.id, new.search); END")
    op.execute("INSERT INTO fts_crm_organization(fts_crm_organization) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS crm_organization_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS fts_crm_organization")
