"""quotes and subscriptions

Revision ID: billing_0003
Revises: billing_0002
Create Date: 2026-12-04 19:59:57.443340
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'billing_0003'
down_revision = 'billing_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('billing_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('series', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_counter_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_counter')),
    sa.UniqueConstraint('cluster_id', 'series', 'year', name='uq_billing_counter_cluster_series_year')
    )
    with op.batch_alter_table('billing_counter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_counter_cluster_id'), ['cluster_id'], unique=False)

    op.create_table('billing_quote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=True),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('total_full', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('total_payer', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('total_beneficiary', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('sent_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_to', sa.String(length=254), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('refusal_reason', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('valid_until IS NULL OR issue_date IS NULL OR valid_until >= issue_date', name=op.f('ck_billing_quote_valid_after_issue')),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_quote_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['core_user.id'], name=op.f('fk_billing_quote_created_by_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_billing_quote_organization_id_crm_organization'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_billing_quote_person_id_crm_person'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_quote')),
    sa.UniqueConstraint('cluster_id', 'number', name='uq_billing_quote_cluster_number')
    )
    with op.batch_alter_table('billing_quote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_quote_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_billing_quote_cluster_status', ['cluster_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_issue_date'), ['issue_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_person_id'), ['person_id'], unique=False)

    op.create_table('billing_quote_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('quote_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=True),
    sa.Column('price_id', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('description', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('amount_obtained', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('member', sa.Boolean(), nullable=False),
    sa.Column('full_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('payer_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('beneficiary_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('scheme_choice', sa.String(length=10), nullable=False),
    sa.Column('funding_scheme_id', sa.Integer(), nullable=True),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_quote_line_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['funding_scheme_id'], ['billing_funding_scheme.id'], name=op.f('fk_billing_quote_line_funding_scheme_id_billing_funding_scheme'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['price_id'], ['billing_price.id'], name=op.f('fk_billing_quote_line_price_id_billing_price'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['quote_id'], ['billing_quote.id'], name=op.f('fk_billing_quote_line_quote_id_billing_quote'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_quote_line_service_id_billing_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_quote_line'))
    )
    with op.batch_alter_table('billing_quote_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billing_quote_line_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_line_funding_scheme_id'), ['funding_scheme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_line_price_id'), ['price_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_line_quote_id'), ['quote_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_quote_line_service_id'), ['service_id'], unique=False)

    op.create_table('billing_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('price_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('member', sa.Boolean(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('periods_billed', sa.Integer(), nullable=False),
    sa.Column('next_billing_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('cancelled_on', sa.Date(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('end_date IS NULL OR end_date >= start_date', name=op.f('ck_billing_subscription_end_after_start')),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_billing_subscription_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['core_user.id'], name=op.f('fk_billing_subscription_created_by_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_billing_subscription_organization_id_crm_organization'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_billing_subscription_person_id_crm_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['price_id'], ['billing_price.id'], name=op.f('fk_billing_subscription_price_id_billing_price'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['billing_service.id'], name=op.f('fk_billing_subscription_service_id_billing_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_subscription'))
    )
    with op.batch_alter_table('billing_subscription', schema=None) as batch_op:
        batch_op.create_index('ix_billing_subscription_cluster_due', ['cluster_id', 'status', 'next_billing_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_subscription_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_subscription_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_subscription_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_subscription_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_subscription_price_id'), ['price_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_subscription_service_id'), ['service_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('billing_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_subscription_service_id'))
        batch_op.drop_index(batch_op.f('ix_billing_subscription_price_id'))
        batch_op.drop_index(batch_op.f('ix_billing_subscription_person_id'))
        batch_op.drop_index(batch_op.f('ix_billing_subscription_organization_id'))
        batch_op.drop_index(batch_op.f('ix_billing_subscription_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_billing_subscription_cluster_id'))
        batch_op.drop_index('ix_billing_subscription_cluster_due')

    op.drop_table('billing_subscription')
    with op.batch_alter_table('billing_quote_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_quote_line_service_id'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_line_quote_id'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_line_price_id'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_line_funding_scheme_id'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_line_cluster_id'))

    op.drop_table('billing_quote_line')
    with op.batch_alter_table('billing_quote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_quote_person_id'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_organization_id'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_issue_date'))
        batch_op.drop_index(batch_op.f('ix_billing_quote_created_by_id'))
        batch_op.drop_index('ix_billing_quote_cluster_status')
        batch_op.drop_index(batch_op.f('ix_billing_quote_cluster_id'))

    op.drop_table('billing_quote')
    with op.batch_alter_table('billing_counter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_counter_cluster_id'))

    op.drop_table('billing_counter')
