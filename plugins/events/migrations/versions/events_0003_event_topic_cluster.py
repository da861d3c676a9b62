"""event topic cluster

An event's topics are cluster-owned rows like the event itself (``EventTopic`` is
``ClusterScoped``): ``events_event_topic`` gets a ``cluster_id`` (indexed, foreign key to
``core_cluster`` with ``ON DELETE CASCADE``), so the core scopes and purges them with the
other events tables.  Existing topics take their event's cluster; nothing is lost.

Revision ID: events_0003
Revises: events_0002
Create Date: 2026-11-28 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'events_0003'
down_revision = 'events_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events_event_topic', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cluster_id', sa.Integer(), nullable=True))
    op.execute("UPDATE events_event_topic SET cluster_id = "
               "(SELECT events_event.cluster_id FROM events_event WHERE events_event.id = events_event_topic.event_id)")
    with op.batch_alter_table('events_event_topic', schema=None) as batch_op:
        batch_op.alter_column('cluster_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_events_event_topic_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_events_event_topic_cluster_id_core_cluster'), 'core_cluster',
                                    ['cluster_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('events_event_topic', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_events_event_topic_cluster_id_core_cluster'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_events_event_topic_cluster_id'))
        batch_op.drop_column('cluster_id')
