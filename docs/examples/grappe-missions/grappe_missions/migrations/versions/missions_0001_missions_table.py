"""missions table

Revision ID: missions_0001
Revises: 
Create Date: 2026-11-26 14:10:43.896240
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'missions_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('missions_mission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('places', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_missions_mission_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_missions_mission'))
    )
    with op.batch_alter_table('missions_mission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_missions_mission_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_missions_mission_starts_on'), ['starts_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('missions_mission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_missions_mission_starts_on'))
        batch_op.drop_index(batch_op.f('ix_missions_mission_cluster_id'))

    op.drop_table('missions_mission')
