"""billing catalogue and prices

Revision ID: billing_0001
Revises: 
Create Date: 2026-12-04 19:21:40.790421
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'billing_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_range',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('shared_relations', sa.Text(), nullable=False),
    sa.Column('shared_information', sa.Text(), nullable=False),
    sa.Column('shared_experts', sa.Text(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_range_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_range')),
    sa.UniqueConstraint('cluster_id', 'name', name='uq_billing_range_cluster_name')
    )
    with op.batch_alter_table('billing_range', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_range_cluster_id'), ['cluster_id'], unique=False)

    op.create_table('billing_service',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('range_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('revenue_family', sa.String(length=30), nullable=False),
    sa.Column('vat_category', sa.String(length=30), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.Column('solution', sa.Text(), nullable=False),
    sa.Column('service_rendered', sa.Text(), nullable=False),
    sa.Column('direct_gain', sa.Text(), nullable=False),
    sa.Column('indirect_gains', sa.Text(), nullable=False),
    sa.Column('size_bands', sa.JSON(), nullable=False),
    sa.Column('sectors', sa.JSON(), nullable=False),
    sa.Column('functions', sa.JSON(), nullable=False),
    sa.Column('target_traits', sa.Text(), nullable=False),
    sa.Column('prerequisites', sa.Text(), nullable=False),
    sa.Column('unit', sa.String(length=60), nullable=False),
    sa.Column('coordination_hours', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('coordination_cost', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('planned_volume', sa.Integer(), nullable=True),
    sa.Column('downstream_competences', sa.JSON(), nullable=False),
    sa.Column('promise', sa.Text(), nullable=False),
    sa.Column('tools', sa.Text(), nullable=False),
    sa.Column('deliverables', sa.Text(), nullable=False),
    sa.Column('duration', sa.String(length=200), nullable=False),
    sa.Column('calendar', sa.Text(), nullable=False),
    sa.Column('evaluation_questions', sa.JSON(), nullable=False),
    sa.Column('relationship_after', sa.Text(), nullable=False),
    sa.Column('retired_on', sa.Date(), nullable=True),
    sa.Column('copied_from_id', sa.Integer(), nullable=True),
    sa.Column('search', sa.Text(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_service_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['copied_from_id'], ['billing_service.id'], name=op.f('fk_billing_service_copied_from_id_billing_service'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['range_id'], ['billing_range.id'], name=op.f('fk_billing_service_range_id_billing_range'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_service')),
    sa.UniqueConstraint('cluster_id', 'code', name='uq_billing_service_cluster_code')
    )
    with op.batch_alter_table('billing_service', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_service_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_service_range_id'), ['range_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_service_status'), ['status'], unique=False)

    op.create_table('billing_price',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('unit', sa.String(length=60), nullable=False),
    sa.Column('member_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('non_member_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('renewal', sa.String(length=12), nullable=False),
    sa.Column('member_rate', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('non_member_rate', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('floor_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('cap_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('fee_tier', sa.String(length=60), nullable=False),
    sa.Column('pro_rata', sa.Boolean(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('valid_until IS NULL OR valid_until >= valid_from', name=op.f('ck_billing_price_valid_period')),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_price_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['core_user.id'], name=op.f('fk_billing_price_created_by_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['replaces_id'], ['billing_price.id'], name=op.f('fk_billing_price_replaces_id_billing_price'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_price_service_id_billing_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_price'))
    )
    with op.batch_alter_table('billing_price', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_price_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_price_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index('ix_billing_price_service_valid', ['service_id', 'valid_from'], unique=False)

    op.create_table('billing_service_competence',
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('competence_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_service_competence_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['competence_id'], ['crm_competence.id'], name=op.f('fk_billing_service_competence_competence_id_crm_competence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_service_competence_service_id_billing_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'competence_id', name=op.f('pk_billing_service_competence'))
    )
    with op.batch_alter_table('billing_service_competence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_service_competence_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_service_competence_competence_id'), ['competence_id'], unique=False)

    op.create_table('billing_service_expert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=200), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('person_id IS NOT NULL OR organization_id IS NOT NULL', name=op.f('ck_billing_service_expert_person_or_organization')),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_service_expert_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_billing_service_expert_organization_id_crm_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_billing_service_expert_person_id_crm_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_service_expert_service_id_billing_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_service_expert'))
    )
    with op.batch_alter_table('billing_service_expert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_service_expert_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_service_expert_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_service_expert_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_service_expert_service_id'), ['service_id'], unique=False)

    op.create_table('billing_service_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('operations', sa.Text(), nullable=False),
    sa.Column('resources', sa.Text(), nullable=False),
    sa.Column('value_brick', sa.Text(), nullable=False),
    sa.Column('cost_behaviour', sa.String(length=10), nullable=False),
    sa.Column('purchases', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('staff_hours', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('external_fees', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('overheads', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_service_step_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_service_step_service_id_billing_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_service_step'))
    )
    with op.batch_alter_table('billing_service_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_service_step_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_billing_service_step_service_position', ['service_id', 'position'], unique=False)

    op.create_table('billing_step_competence',
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('competence_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_step_competence_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['competence_id'], ['crm_competence.id'], name=op.f('fk_billing_step_competence_competence_id_crm_competence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['billing_service_step.id'], name=op.f('fk_billing_step_competence_step_id_billing_service_step'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('step_id', 'competence_id', name=op.f('pk_billing_step_competence'))
    )
    with op.batch_alter_table('billing_step_competence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_step_competence_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_step_competence_competence_id'), ['competence_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('billing_step_competence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_step_competence_competence_id'))
        batch_op.drop_index(batch_op.f('ix_billing_step_competence_cluster_id'))

    op.drop_table('billing_step_competence')
    with op.batch_alter_table('billing_service_step', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_service_step_service_position')
        batch_op.drop_index(batch_op.f('ix_billing_service_step_cluster_id'))

    op.drop_table('billing_service_step')
    with op.batch_alter_table('billing_service_expert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_service_expert_service_id'))
        batch_op.drop_index(batch_op.f('ix_billing_service_expert_person_id'))
        batch_op.drop_index(batch_op.f('ix_billing_service_expert_organization_id'))
        batch_op.drop_index(batch_op.f('ix_billing_service_expert_cluster_id'))

    op.drop_table('billing_service_expert')
    with op.batch_alter_table('billing_service_competence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_service_competence_competence_id'))
        batch_op.drop_index(batch_op.f('ix_billing_service_competence_cluster_id'))

    op.drop_table('billing_service_competence')
    with op.batch_alter_table('billing_price', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_price_service_valid')
        batch_op.drop_index(batch_op.f('ix_billing_price_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_billing_price_cluster_id'))

    op.drop_table('billing_price')
    with op.batch_alter_table('billing_service', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_service_status'))
        batch_op.drop_index(batch_op.f('ix_billing_service_range_id'))
        batch_op.drop_index(batch_op.f('ix_billing_service_cluster_id'))

    op.drop_table('billing_service')
    with op.batch_alter_table('billing_range', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_range_cluster_id'))

    op.drop_table('billing_range')
