"""job heartbeat

Jobs whose worker died: ``heartbeat_at`` (refreshed while a job runs; a stale one marks
the job failed), ``attempts`` (runs started; a retry runs the job again), and idempotent
starts: ``idempotency_key`` (unique: starting the same work twice finds the first job)
and ``permission`` (what starting the job needed, needed again to retry it).

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-27 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'core_0002'
down_revision = 'core_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('core_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', core.database.UTCDateTime(timezone=True), nullable=True))
        # existing rows: no run counted yet
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=200), nullable=True))
        # existing rows: NULL, the permission is unknown (only cluster admins retry them)
        batch_op.add_column(sa.Column('permission', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_core_job_idempotency_key'), ['idempotency_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('core_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_job_idempotency_key'))
        batch_op.drop_column('permission')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('attempts')
        batch_op.drop_column('heartbeat_at')
