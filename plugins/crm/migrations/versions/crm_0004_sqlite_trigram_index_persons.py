"""SQLite: a trigram full-text index on persons' normalized search text (as crm_0003)

Revision ID: crm_0004
Revises: crm_0003
Create Date: 2026-11-26 15:10:00
"""
from __future__ import annotations

from alembic import op

revision = 'crm_0004'
down_revision = 'crm_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    # crm_0003 creates the organizations' index only where FTS5 has the trigram tokenizer
    if not bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'fts_crm_organization'").first():
        return
    op.execute("CREATE VIRTUAL TABLE fts_crm_person USING fts5("
               "search, content='crm_person', content_rowid='id', tokenize='trigram')")
    op.execute("CREATE TRIGGER crm_person_fts_insert AFTER INSERT ON crm_person BEGIN "
               "INSERT INTO fts_crm_person(rowid, search) VALUES (new.id, new.search); END")
    op.execute("CREATE TRIGGER crm_person_fts_delete AFTER DELETE ON crm_person BEGIN "
               "INSERT INTO fts_crm_person(fts_crm_person, rowid, search) VALUES ('delete', old.id, old.search); END")
    op.execute("CREATE TRIGGER crm_person_fts_update AFTER UPDATE OF search ON crm_person BEGIN "
               "INSERT INTO fts_crm_person(fts_crm_person, rowid, search) VALUES ('delete', old.id, old.search); "
               "INSERT INTO fts_crm_person(rowid, search) VALUES (new.id, new.search); END")
    op.execute("INSERT INTO fts_crm_person(fts_crm_person) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS crm_person_fts_{trigger}")
    op.execute("DROP TABLE IF EXISTS fts_crm_person")
