"""events tables

Revision ID: events_0001
Revises: 
Create Date: 2026-11-26 14:13:06.048642
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'events_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events_rate_hit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events_rate_hit'))
    )
    with op.batch_alter_table('events_rate_hit', schema=None) as batch_op:
        batch_op.create_index('ix_events_rate_hit_key_at', ['key', 'at'], unique=False)

    op.create_table('events_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('starts_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('venue', sa.String(length=300), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('registration_deadline', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('member_price', sa.Integer(), nullable=False),
    sa.Column('non_member_price', sa.Integer(), nullable=False),
    sa.Column('organizer_id', sa.Integer(), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_events_event_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organizer_id'], ['core_user.id'], name=op.f('fk_events_event_organizer_id_core_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events_event'))
    )
    with op.batch_alter_table('events_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_event_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_events_event_cluster_starts', ['cluster_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_events_event_cluster_status_starts', ['cluster_id', 'status', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_event_organizer_id'), ['organizer_id'], unique=False)

    op.create_table('events_event_topic',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('competence_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['competence_id'], ['crm_competence.id'], name=op.f('fk_events_event_topic_competence_id_crm_competence'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['events_event.id'], name=op.f('fk_events_event_topic_event_id_events_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'competence_id', name=op.f('pk_events_event_topic'))
    )
    with op.batch_alter_table('events_event_topic', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_event_topic_competence_id'), ['competence_id'], unique=False)

    op.create_table('events_registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('member_price', sa.Boolean(), nullable=False),
    sa.Column('price', sa.Integer(), nullable=True),
    sa.Column('registered_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('invited_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attended_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', core.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cluster_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['core_cluster.id'], name=op.f('fk_events_registration_cluster_id_core_cluster'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['events_event.id'], name=op.f('fk_events_registration_event_id_events_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['crm_organization.id'], name=op.f('fk_events_registration_organization_id_crm_organization'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['crm_person.id'], name=op.f('fk_events_registration_person_id_crm_person'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events_registration')),
    sa.UniqueConstraint('event_id', 'person_id', name='uq_events_registration_event_person')
    )
    with op.batch_alter_table('events_registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_registration_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_index('ix_events_registration_event_registered', ['event_id', 'registered_at'], unique=False)
        batch_op.create_index('ix_events_registration_event_status', ['event_id', 'status', 'registered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_registration_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_registration_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_registration_person_id'))
        batch_op.drop_index(batch_op.f('ix_events_registration_organization_id'))
        batch_op.drop_index('ix_events_registration_event_status')
        batch_op.drop_index('ix_events_registration_event_registered')
        batch_op.drop_index(batch_op.f('ix_events_registration_cluster_id'))

    op.drop_table('events_registration')
    with op.batch_alter_table('events_event_topic', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_event_topic_competence_id'))

    op.drop_table('events_event_topic')
    with op.batch_alter_table('events_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_event_organizer_id'))
        batch_op.drop_index('ix_events_event_cluster_status_starts')
        batch_op.drop_index('ix_events_event_cluster_starts')
        batch_op.drop_index(batch_op.f('ix_events_event_cluster_id'))

    op.drop_table('events_event')
    with op.batch_alter_table('events_rate_hit', schema=None) as batch_op:
        batch_op.drop_index('ix_events_rate_hit_key_at')

    op.drop_table('events_rate_hit')
