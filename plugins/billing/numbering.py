"""Numbers of a series (quotes now, invoices later): one continuous sequence per cluster, per
series and per year, that never skips nor repeats.

The last number given is kept in a :class:`.models.BillingCounter` row (cluster, series,
year).  :func:`next_number` locks that row with the platform's lock helper
(``db.locked``: ``SELECT ... FOR UPDATE`` on PostgreSQL, the database's write lock on
SQLite) and counts under the lock, in the transaction that writes the numbered record: two
requests numbering at once run one after the other, and a request that rolls back gives
its number back with everything else it wrote (the next one gets it), so there is no gap.

The first number of a year creates the row; two transactions creating it at once on
PostgreSQL meet on its unique constraint: the loser's insert is undone (a savepoint) and it
locks the winner's row instead.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import cluster_setting, db

from .models import BillingCounter
from .settings import DEFAULT_QUOTE_PREFIX, QUOTE_PREFIX

QUOTE_SERIES = "quote"
PREFIX_SETTINGS = {QUOTE_SERIES: QUOTE_PREFIX}
DEFAULT_PREFIXES = {QUOTE_SERIES: DEFAULT_QUOTE_PREFIX}
DIGITS = 4


def _locked_counter(series: str, year: int) -> BillingCounter | None:
    stmt = select(BillingCounter).where(BillingCounter.series == series, BillingCounter.year == year)
    return db.session.execute(db.locked(stmt).execution_options(populate_existing=True)).scalar_one_or_none()


def lock_counter(series: str, year: int) -> BillingCounter:
    """The current cluster's counter of ``series`` for ``year``, locked until the transaction ends
    (created at 0 when the year has no number yet)."""
    counter = _locked_counter(series, year)
    if counter is not None:
        return counter
    try:
        with db.session.begin_nested():
            db.session.add(BillingCounter(series=series, year=year, last_number=0))
            db.session.flush()
    except IntegrityError:  # another transaction created it meanwhile (PostgreSQL): lock theirs
        pass
    counter = _locked_counter(series, year)
    if counter is None:  # pragma: no cover - the row exists once one of the inserts committed
        raise RuntimeError(f"no counter for {series} {year}")
    return counter


def prefix(series: str, cluster=None) -> str:
    """The cluster's prefix of a series' numbers (a cluster setting, e.g. ``Q-``)."""
    key = PREFIX_SETTINGS.get(series)
    default = DEFAULT_PREFIXES.get(series, "")
    value = cluster_setting(key, cluster, default) if key else default
    return value if isinstance(value, str) else default


def format_number(series: str, year: int, number: int, cluster=None) -> str:
    """``Q-2026-0001``: the prefix, the year, the number on four digits (more past 9,999)."""
    return f"{prefix(series, cluster)}{year}-{number:0{DIGITS}d}"


def next_number(series: str, year: int, cluster=None) -> tuple[int, str]:
    """The next number of ``series`` in ``year`` for the current cluster, and its text.

    Call it in the transaction that writes the numbered record, after the checks that may
    refuse it and before the writes that may fail (the lock is held until the commit).
    """
    counter = lock_counter(series, year)
    counter.last_number += 1
    db.session.flush()
    return counter.last_number, format_number(series, year, counter.last_number, cluster)
