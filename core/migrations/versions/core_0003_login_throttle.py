"""login throttle

Sign-in throttling by account and by source address (core.auth): one counter per
(kind, key), replacing the per-account lockout of core_user.failed_logins and
core_user.locked_until (those columns are no longer used and stay for now, so that workers
of the previous version keep running while the database is upgraded).

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-27 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'core_0003'
down_revision = 'core_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('core_login_throttle',
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_failure_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_core_login_throttle'))
    )
    with op.batch_alter_table('core_login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_login_throttle_last_failure_at'), ['last_failure_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('core_login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_login_throttle_last_failure_at'))

    op.drop_table('core_login_throttle')
