"""The same rows, inserted by raw SQLAlchemy Core ``executemany`` into scratch copies.

After a plugin loaded an entity through its validating path, its rows are read back
and re-inserted with ``conn.execute(insert(copy), rows)`` into a copy of each table
(same columns, keys, indexes and foreign keys, named ``bench_raw_<table>``): what the
database itself costs for those rows, without forms, services, audit or ORM.
"""

from __future__ import annotations

import time

from sqlalchemy import MetaData, Table, insert, select, text

PREFIX = "bench_raw_"


def scratch_copy(source: Table) -> Table:
    """A ``bench_raw_`` copy of ``source`` (constraints and indexes renamed), not yet created."""
    meta = MetaData()
    for table in source.metadata.sorted_tables:  # so foreign keys resolve to the real tables
        if table is not source:
            table.to_metadata(meta)
    copy = source.to_metadata(meta, name=PREFIX + source.name)
    for item in list(copy.constraints) + list(copy.indexes):
        if item.name:
            item.name = (PREFIX + str(item.name))[:63]
    return copy


def time_raw_insert(engine, source: Table, repeat: int = 3) -> tuple[int, list[float]]:
    """Read ``source``'s rows and time inserting them into a scratch copy ``repeat`` times.

    :returns: (rows, seconds of each repetition).
    """
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(source)).mappings()]
    copy = scratch_copy(source)
    seconds = []
    try:
        with engine.begin() as conn:
            copy.drop(conn, checkfirst=True)
            copy.create(conn)
        for _ in range(repeat):
            with engine.begin() as conn:
                conn.execute(text(f'DELETE FROM "{copy.name}"'))
            start = time.perf_counter()
            with engine.begin() as conn:
                if rows:
                    conn.execute(insert(copy), rows)
            seconds.append(time.perf_counter() - start)
    finally:
        with engine.begin() as conn:
            copy.drop(conn, checkfirst=True)
    return len(rows), seconds
