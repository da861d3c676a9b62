"""rate limit to core

The rate limit of the public registration page is now the core's (``core_rate_hit``,
created by core_0004, which runs before the plugins' migrations).  The uses recorded in
``events_rate_hit`` are copied there, under the keys the events plugin now uses
(``ip:...`` becomes ``events.ip:...``), then the table is dropped: a visitor over the limit
stays over it across the upgrade.

Revision ID: events_0002
Revises: events_0001
Create Date: 2026-11-27 11:00:00.000000
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import core.database

revision = 'events_0002'
down_revision = 'events_0001'
branch_labels = None
depends_on = None

BATCH = 1000
old = sa.table('events_rate_hit', sa.column('id', sa.Integer), sa.column('key', sa.String),
               sa.column('at', core.database.UTCDateTime(timezone=True)))
new = sa.table('core_rate_hit', sa.column('key', sa.String), sa.column('at', core.database.UTCDateTime(timezone=True)),
               sa.column('expires_at', core.database.UTCDateTime(timezone=True)))


def _kept_for() -> timedelta:
    """How long a copied use keeps counting: the longest events window, at least a day.

    The old rows do not say their window; it is the platform's ``EVENTS_RATE_PER_*``
    setting (``"20/3600"``, an hour by default).
    """
    longest = 24 * 3600
    try:
        from flask import current_app

        config = current_app.config
    except RuntimeError:  # no app: the defaults
        config = {}
    for name in ("EVENTS_RATE_PER_IP", "EVENTS_RATE_PER_EMAIL"):
        try:
            longest = max(longest, int(str(config.get(name, "")).split("/", 1)[1]))
        except (IndexError, ValueError):
            continue
    return timedelta(seconds=longest)


def upgrade() -> None:
    bind = op.get_bind()
    if 'core_rate_hit' not in sa.inspect(bind).get_table_names():
        raise RuntimeError("core_rate_hit is missing: upgrade the core's history first (grappe db upgrade)")
    kept = _kept_for()
    last = 0
    while True:
        rows = bind.execute(sa.select(old.c.id, old.c.key, old.c.at).where(old.c.id > last)
                            .order_by(old.c.id).limit(BATCH)).all()
        if not rows:
            break
        bind.execute(new.insert(), [{"key": f"events.{key}"[:120], "at": at, "expires_at": at + kept}
                                    for _id, key, at in rows])
        last = rows[-1].id
    with op.batch_alter_table('events_rate_hit', schema=None) as batch_op:
        batch_op.drop_index('ix_events_rate_hit_key_at')

    op.drop_table('events_rate_hit')


def downgrade() -> None:
    op.create_table('events_rate_hit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('at', core.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events_rate_hit'))
    )
    with op.batch_alter_table('events_rate_hit', schema=None) as batch_op:
        batch_op.create_index('ix_events_rate_hit_key_at', ['key', 'at'], unique=False)

    bind = op.get_bind()
    if 'core_rate_hit' not in sa.inspect(bind).get_table_names():
        return
    ours = sa.or_(new.c.key.like('events.ip:%'), new.c.key.like('events.email:%'))
    rows = bind.execute(sa.select(new.c.key, new.c.at).where(ours)).all()
    if rows:
        bind.execute(old.insert(), [{"key": key[len("events."):], "at": at} for key, at in rows])
    bind.execute(new.delete().where(ours))
