"""Results kept between requests by a process, least recently used dropped first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any


class KeptResults:
    """Lists of results by key, bounded by the number of results over all lists."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Any, ...]] = OrderedDict()
        self._kept = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[Any, ...] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, results: Sequence[Any]) -> None:
        kept = tuple(results)
        with self._lock:
            replaced = self._entries.pop(key, ())
            self._entries[key] = kept
            self._kept += len(kept) - len(replaced)
            while self._kept > self.size and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._kept -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._kept = 0
