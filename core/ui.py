"""Plain data that plugins hand to the back-office shell through hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from markupsafe import Markup
from sqlalchemy import func, select

MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class NavItem:
    """A navigation entry: ``endpoint`` is built with the current cluster."""

    label: str
    endpoint: str
    order: int = 100
    permission: str | None = None
    icon: str = ""


@dataclass(frozen=True)
class Widget:
    """A dashboard widget; ``body`` is HTML the plugin rendered (escape what you insert)."""

    title: str
    body: Markup | str
    order: int = 100
    link: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a record's timeline."""

    when: datetime
    kind: str  # e.g. "visit", "registration", "invoice"
    title: str
    plugin: str
    url: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Setting:
    """A per-cluster setting: ``field`` builds the WTForms field (``lambda: IntegerField(...)``)."""

    key: str
    label: str
    field: Callable[[], Any]
    default: Any = None


@dataclass
class Page:
    """One page of a list: items, the total, and helpers to build links."""

    items: list
    total: int
    page: int
    per_page: int
    sort: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(session, stmt, *, page: int, per_page: int = 50, sort: str = "",
             sortable: dict | None = None, count: bool = True) -> Page:
    """Run one page of a select, sorted by a whitelisted key (``-name`` for descending)."""
    if sortable and sort:
        key = sort.lstrip("-")
        column = sortable.get(key)
        if column is not None:
            stmt = stmt.order_by(None).order_by(column.desc() if sort.startswith("-") else column.asc())
    page = min(max(1, page), MAX_PAGE)  # a huge ?page= is the last page, never an overflowing OFFSET
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one() if count else 0
    items = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return Page(items=list(items), total=total, page=page, per_page=per_page, sort=sort)
