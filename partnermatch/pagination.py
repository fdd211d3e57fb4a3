"""Pages: the page number of a list, and pages over results that are not a database query
(semantic search ranks in memory)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import abort

from partnermatch.errors import ValidationError
from partnermatch.inputs import parse_int

# The last page any list offers: its offset (page times length) stays far inside a database integer.
MAX_PAGE = 100_000


def page_number(args: Mapping[str, Any]) -> int:
    """Read ?page= from a query string: a number from 1 to MAX_PAGE, else 404 (no such page)."""
    try:
        return parse_int(args.get("page"), "page", low=1, high=MAX_PAGE, default=1)  # type: ignore[return-value]
    except ValidationError:
        abort(404)


@dataclass(frozen=True)
class ResultPage:
    """The interface of Flask-SQLAlchemy's Pagination that the templates use."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    def iter_pages(
        self,
        *,
        left_edge: int = 2,
        left_current: int = 2,
        right_current: int = 4,
        right_edge: int = 2,
    ) -> Iterator[int | None]:
        """Yield page numbers to link, with None where a gap is shown."""
        last = 0
        for number in range(1, self.pages + 1):
            near_edge = number <= left_edge or number > self.pages - right_edge
            near_current = self.page - left_current <= number < self.page + right_current
            if near_edge or near_current:
                if last + 1 != number:
                    yield None
                yield number
                last = number
