"""crm tables

Revision ID: crm_0001
Revises: 
Create Date: 2026-11-26 14:11:07.310167
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'crm_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    is_postgresql = op.get_bind().dialect.name == "postgresql"
    if is_postgresql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table('crm_competence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_competence')),
    sa.UniqueConstraint('key', name=op.f('uq_crm_competence_key'))
    )
    with op.batch_alter_table('crm_competence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_competence_category'), ['category'], unique=False)

    op.create_table('crm_organization',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('trade_name', sa.String(length=200), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('vat_number', sa.String(length=20), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('sector', sa.String(length=10), nullable=False),
    sa.Column('size_band', sa.String(length=10), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('postcode', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('website', sa.String(length=300), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('search', sa.Text(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['crm_organization.id'], name=op.f('fk_crm_organization_parent_id_crm_organization'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_organization')),
    sa.UniqueConstraint('siren', name=op.f('uq_crm_organization_siren')),
    sa.UniqueConstraint('siret', name=op.f('uq_crm_organization_siret')),
    sa.UniqueConstraint('vat_number', name=op.f('uq_crm_organization_vat_number'))
    )
    with op.batch_alter_table('crm_organization', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_organization_city'), ['city'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_name_key'), ['name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_sector'), ['sector'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_organization_size_band'), ['size_band'], unique=False)

    op.create_table('crm_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('job_title', sa.String(length=150), nullable=False),
    sa.Column('function', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('search', sa.Text(), nullable=False),
    sa.Column('erased_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_person')),
    sa.UniqueConstraint('email', name=op.f('uq_crm_person_email'))
    )
    with op.batch_alter_table('crm_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_person_function'), ['function'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_person_name_key'), ['name_key'], unique=False)

    if is_postgresql:
        # '%term%' searches on the normalized columns use trigram indexes (SQLite scans them)
        op.execute("CREATE INDEX ix_crm_organization_search_trgm ON crm_organization USING gin (search gin_trgm_ops)")
        op.execute("CREATE INDEX ix_crm_person_search_trgm ON crm_person USING gin (search gin_trgm_ops)")

    op.create_table('crm_tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_tag')),
    sa.UniqueConstraint('key', name=op.f('uq_crm_tag_key'))
    )
    op.create_table('crm_consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=200), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_crm_consent_person_id_crm_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['core_user.id'], name=op.f('fk_crm_consent_recorded_by_id_core_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_consent'))
    )
    with op.batch_alter_table('crm_consent', schema=None) as batch_op:
        batch_op.create_index('ix_crm_consent_person_purpose', ['person_id', 'purpose', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_consent_recorded_by_id'), ['recorded_by_id'], unique=False)

    op.create_table('crm_interaction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('follow_up_done', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['core_user.id'], name=op.f('fk_crm_interaction_author_id_core_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_crm_interaction_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_crm_interaction_organization_id_crm_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_interaction'))
    )
    with op.batch_alter_table('crm_interaction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_interaction_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_interaction_date'), ['date'], unique=False)
        batch_op.create_index('ix_crm_interaction_followup', ['author_id', 'follow_up_done', 'follow_up_on'], unique=False)
        batch_op.create_index('ix_crm_interaction_org_date', ['organization_id', 'date'], unique=False)

    op.create_table('crm_membership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('fee_tier', sa.String(length=60), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_crm_membership_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_crm_membership_organization_id_crm_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_membership'))
    )
    with op.batch_alter_table('crm_membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_membership_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_crm_membership_cluster_org', ['cluster_id', 'organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_membership_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_membership_status'), ['status'], unique=False)

    op.create_table('crm_organization_competence',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('competence_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=5), nullable=False),
    sa.ForeignKeyConstraint(['competence_id'], ['crm_competence.id'], name=op.f('fk_crm_organization_competence_competence_id_crm_competence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_crm_organization_competence_organization_id_crm_organization'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'competence_id', 'kind', name=op.f('pk_crm_organization_competence'))
    )
    with op.batch_alter_table('crm_organization_competence', schema=None) as batch_op:
        batch_op.create_index('ix_crm_organization_competence_comp', ['competence_id', 'kind'], unique=False)

    op.create_table('crm_organization_tag',
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_crm_organization_tag_organization_id_crm_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['crm_tag.id'], name=op.f('fk_crm_organization_tag_tag_id_crm_tag'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'tag_id', name=op.f('pk_crm_organization_tag'))
    )
    with op.batch_alter_table('crm_organization_tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_organization_tag_tag_id'), ['tag_id'], unique=False)

    op.create_table('crm_person_organization',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('main', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_crm_person_organization_organization_id_crm_organization'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_crm_person_organization_person_id_crm_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', 'organization_id', name=op.f('pk_crm_person_organization'))
    )
    with op.batch_alter_table('crm_person_organization', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_person_organization_organization_id'), ['organization_id'], unique=False)

    op.create_table('crm_segment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_crm_segment_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['core_user.id'], name=op.f('fk_crm_segment_created_by_id_core_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_segment')),
    sa.UniqueConstraint('cluster_id', 'name', name='uq_crm_segment_cluster_name')
    )
    with op.batch_alter_table('crm_segment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_segment_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crm_segment_created_by_id'), ['created_by_id'], unique=False)

    op.create_table('crm_interaction_person',
    sa.Column('interaction_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['interaction_id'], ['crm_interaction.id'], name=op.f('fk_crm_interaction_person_interaction_id_crm_interaction'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_crm_interaction_person_person_id_crm_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('interaction_id', 'person_id', name=op.f('pk_crm_interaction_person'))
    )
    with op.batch_alter_table('crm_interaction_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crm_interaction_person_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_crm_person_search_trgm")
        op.execute("DROP INDEX IF EXISTS ix_crm_organization_search_trgm")
    with op.batch_alter_table('crm_interaction_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_interaction_person_person_id'))

    op.drop_table('crm_interaction_person')
    with op.batch_alter_table('crm_segment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_segment_created_by_id'))
        batch_op.drop_index(batch_op.f('ix_crm_segment_cluster_id'))

    op.drop_table('crm_segment')
    with op.batch_alter_table('crm_person_organization', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_person_organization_organization_id'))

    op.drop_table('crm_person_organization')
    with op.batch_alter_table('crm_organization_tag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_organization_tag_tag_id'))

    op.drop_table('crm_organization_tag')
    with op.batch_alter_table('crm_organization_competence', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_organization_competence_comp')

    op.drop_table('crm_organization_competence')
    with op.batch_alter_table('crm_membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_membership_status'))
        batch_op.drop_index(batch_op.f('ix_crm_membership_organization_id'))
        batch_op.drop_index('ix_crm_membership_cluster_org')
        batch_op.drop_index(batch_op.f('ix_crm_membership_cluster_id'))

    op.drop_table('crm_membership')
    with op.batch_alter_table('crm_interaction', schema=None) as batch_op:
        batch_op.drop_index('ix_crm_interaction_org_date')
        batch_op.drop_index('ix_crm_interaction_followup')
        batch_op.drop_index(batch_op.f('ix_crm_interaction_date'))
        batch_op.drop_index(batch_op.f('ix_crm_interaction_cluster_id'))

    op.drop_table('crm_interaction')
    with op.batch_alter_table('crm_consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_consent_recorded_by_id'))
        batch_op.drop_index('ix_crm_consent_person_purpose')

    op.drop_table('crm_consent')
    op.drop_table('crm_tag')
    with op.batch_alter_table('crm_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_person_name_key'))
        batch_op.drop_index(batch_op.f('ix_crm_person_function'))

    op.drop_table('crm_person')
    with op.batch_alter_table('crm_organization', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_organization_size_band'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_sector'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_parent_id'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_name_key'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_kind'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_created_at'))
        batch_op.drop_index(batch_op.f('ix_crm_organization_city'))

    op.drop_table('crm_organization')
    with op.batch_alter_table('crm_competence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crm_competence_category'))

    op.drop_table('crm_competence')
