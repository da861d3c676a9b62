"""permission grant

A cluster admin may grant one permission a plugin declares (``crm.import``...) to one staff
member of the cluster on top of their role: one row per (cluster, user, permission), with
who granted it and when (core.models.PermissionGrant).  The unique constraint, cluster
first, is also the index the per-request look-up (cluster, user) uses.

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-12-04 19:12:12.333206
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'core_0005'
down_revision = 'core_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('core_permission_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('permission', sa.String(length=100), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_core_permission_grant_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['granted_by_id'], ['core_user.id'], name=op.f('fk_core_permission_grant_granted_by_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_core_permission_grant_user_id_core_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_core_permission_grant')),
    sa.UniqueConstraint('cluster_id', 'user_id', 'permission', name=op.f('uq_core_permission_grant_cluster_id'))
    )
    with op.batch_alter_table('core_permission_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_permission_grant_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('core_permission_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_permission_grant_user_id'))

    op.drop_table('core_permission_grant')
