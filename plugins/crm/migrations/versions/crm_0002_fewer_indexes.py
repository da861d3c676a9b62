"""fewer indexes (low-selectivity columns cost every bulk insert)

Revision ID: crm_0002
Revises: crm_0001
Create Date: 2026-11-26 14:29:37.523201
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'crm_0002'
down_revision = 'crm_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('crm_organization', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_organization_created_at'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_kind'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_size_band'))

    with op.batch_alter_table('crm_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_person_function'))


def downgrade() -> None:
    with op.batch_alter_table('crm_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_person_function'), ['function'], unique=False)

    with op.batch_alter_table('crm_organization', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_organization_size_band'), ['size_band'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_created_at'), ['created_at'], unique=False)
