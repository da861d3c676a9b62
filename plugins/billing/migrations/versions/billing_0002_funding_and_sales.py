"""funding schemes (third-party payers) and one-off sales

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-12-04 19:50:28.011878
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'billing_0002'
down_revision = 'billing_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_funding_scheme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=False),
    sa.Column('share_kind', sa.String(length=10), nullable=False),
    sa.Column('share_rate', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('share_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('cap_per_beneficiary', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('envelope', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('envelope_used', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('size_bands', sa.JSON(), nullable=False),
    sa.Column('sectors', sa.JSON(), nullable=False),
    sa.Column('postcodes', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('members_only', sa.Boolean(), nullable=False),
    sa.Column('counterpart', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('when_exhausted', sa.String(length=12), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("(share_kind = 'percent' AND share_rate IS NOT NULL) OR (share_kind = 'per_unit' AND share_amount IS NOT NULL)", name=op.f('ck_billing_funding_scheme_share_given')),
    sa.CheckConstraint('envelope IS NULL OR envelope_used <= envelope', name=op.f('ck_billing_funding_scheme_envelope_not_overspent')),
    sa.CheckConstraint('envelope_used >= 0', name=op.f('ck_billing_funding_scheme_envelope_used_positive')),
    sa.CheckConstraint('valid_until IS NULL OR valid_until >= valid_from', name=op.f('ck_billing_funding_scheme_valid_period')),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_funding_scheme_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['payer_id'], ['crm_organization.id'], name=op.f('fk_billing_funding_scheme_payer_id_crm_organization'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_funding_scheme'))
    )
    with op.batch_alter_table('billing_funding_scheme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_funding_scheme_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_funding_scheme_payer_id'), ['payer_id'], unique=False)

    op.create_table('billing_funding_scheme_service',
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_funding_scheme_service_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['scheme_id'], ['billing_funding_scheme.id'], name=op.f('fk_billing_funding_scheme_service_scheme_id_billing_funding_scheme'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_funding_scheme_service_service_id_billing_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scheme_id', 'service_id', name=op.f('pk_billing_funding_scheme_service'))
    )
    with op.batch_alter_table('billing_funding_scheme_service', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_funding_scheme_service_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_funding_scheme_service_service_id'), ['service_id'], unique=False)

    op.create_table('billing_sale',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('price_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('sold_on', sa.Date(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('member', sa.Boolean(), nullable=False),
    sa.Column('amount_obtained', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('full_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('payer_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('beneficiary_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=True),
    sa.Column('payer_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('vat_category', sa.String(length=30), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('quote_line_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.String(length=300), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('ABS(full_amount - payer_amount - beneficiary_amount) < 0.005', name=op.f('ck_billing_sale_parts_add_up')),
    sa.CheckConstraint('payer_amount = 0 OR scheme_id IS NOT NULL', name=op.f('ck_billing_sale_payer_part_has_a_scheme')),
    sa.CheckConstraint('payer_amount >= 0 AND beneficiary_amount >= 0', name=op.f('ck_billing_sale_parts_positive')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_billing_sale_quantity_positive')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['core_user.id'], name=op.f('fk_billing_sale_cancelled_by_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_sale_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['core_user.id'], name=op.f('fk_billing_sale_created_by_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_billing_sale_organization_id_crm_organization'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payer_id'], ['crm_organization.id'], name=op.f('fk_billing_sale_payer_id_crm_organization'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_billing_sale_person_id_crm_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['price_id'], ['billing_price.id'], name=op.f('fk_billing_sale_price_id_billing_price'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['scheme_id'], ['billing_funding_scheme.id'], name=op.f('fk_billing_sale_scheme_id_billing_funding_scheme'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_sale_service_id_billing_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_sale'))
    )
    with op.batch_alter_table('billing_sale', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_sale_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_billing_sale_cluster_sold_on', ['cluster_id', 'sold_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_payer_id'), ['payer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_price_id'), ['price_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_quote_line_id'), ['quote_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_scheme_id'), ['scheme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_sale_service_id'), ['service_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('billing_sale', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_sale_service_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_scheme_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_quote_line_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_price_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_person_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_payer_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_organization_id'))
        batch_op.drop_index(batch_op.f('ix_billing_sale_created_by_id'))
        batch_op.drop_index('ix_billing_sale_cluster_sold_on')
        batch_op.drop_index(batch_op.f('ix_billing_sale_cluster_id'))

    op.drop_table('billing_sale')
    with op.batch_alter_table('billing_funding_scheme_service', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_funding_scheme_service_service_id'))
        batch_op.drop_index(batch_op.f('ix_billing_funding_scheme_service_cluster_id'))

    op.drop_table('billing_funding_scheme_service')
    with op.batch_alter_table('billing_funding_scheme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_funding_scheme_payer_id'))
        batch_op.drop_index(batch_op.f('ix_billing_funding_scheme_cluster_id'))

    op.drop_table('billing_funding_scheme')
