"""rate limit

The database rate limit becomes a core service (core.ratelimit): one row per allowed use,
under a key ``<plugin>.<kind>:<keyed hash>``, with the time it stops counting
(``expires_at``), so plugins with different windows share the table.  The events plugin's
``events_rate_hit`` rows are copied here by its own migration (events_0002), which then
drops that table.

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-27 11:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'core_0004'
down_revision = 'core_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('core_rate_hit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_rate_hit'))
    )
    with op.batch_alter_table('core_rate_hit', schema=None) as batch_op:
        batch_op.create_index('ix_core_rate_hit_key_at', ['key', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_core_rate_hit_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('core_rate_hit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_rate_hit_expires_at'))
        batch_op.drop_index('ix_core_rate_hit_key_at')

    op.drop_table('core_rate_hit')
