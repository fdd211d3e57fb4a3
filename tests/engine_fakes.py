"""A small deterministic encoder and an in-memory programme, for engine tests where the
model is not what is tested (the ranking tests use the real models)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from partnermatch.matching.passages import profile_passages

DIMENSION = 64
_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Bag-of-words vectors: each word hashed to a dimension, normalised. Texts it has
    encoded count as cached, as the real embedder's cache would."""

    model_id = "hashing-test-encoder"
    dimension = DIMENSION

    def __init__(self) -> None:
        self.threads = 1
        self.encoded: list[str] = []
        self._seen: set[str] = set()

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(DIMENSION, np.float32)
        for word in _WORD.findall(text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(text) for text in texts])

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        fresh = [text for text in dict.fromkeys(texts) if text not in self._seen]
        self.encoded.extend(fresh)
        self._seen.update(fresh)
        return (
            np.stack([self._vector(t) for t in texts])
            if texts
            else np.zeros((0, DIMENSION), np.float32)
        )

    def uncached(self, texts: Sequence[str]) -> int:
        return len({text for text in texts if text not in self._seen})


def fake_profile(profile_id: int, **fields: Any) -> SimpleNamespace:
    """A profile as profile_passages reads it."""
    values = {
        "id": profile_id,
        "name": f"Profile {profile_id}",
        "organisation": None,
        "keywords": [],
        "summary": "",
        "offers": "",
        "needs": "",
        "evidence": [],
        "sectors": [],
        "value_chain": [],
        "economy": "TW",
    }
    values.update(fields)
    return SimpleNamespace(**values)


def evidence(item_id: int, title: str, text: str = "") -> SimpleNamespace:
    return SimpleNamespace(id=item_id, title=title, text=text)


@dataclass
class InMemorySource:
    """A programme held in memory, with its journal (partnermatch.matching.source)."""

    rows: dict[int, SimpleNamespace] = field(default_factory=dict)
    journal: list[tuple[int, int]] = field(default_factory=list)  # (seq, profile id)
    _seq: int = 0

    def _record(self, profile_id: int) -> None:
        self._seq += 1
        self.journal.append((self._seq, profile_id))

    def save(self, profile: SimpleNamespace) -> None:
        """Add or change a profile, with a journal entry."""
        self.rows[profile.id] = profile
        self._record(profile.id)

    def change(self, profile_id: int, **fields: Any) -> None:
        self.save(SimpleNamespace(**{**vars(self.rows[profile_id]), **fields}))

    def delete(self, profile_id: int) -> None:
        del self.rows[profile_id]
        self._record(profile_id)

    def profile_ids(self) -> list[int]:
        return sorted(self.rows)

    def profile_count(self) -> int:
        return len(self.rows)

    def profiles(self, ids: Sequence[int]) -> dict[int, SimpleNamespace]:
        return {pid: self.rows[pid] for pid in sorted(ids) if pid in self.rows}

    def passages(self, profile_ids: Sequence[int]):
        return [(pid, profile_passages(p)) for pid, p in self.profiles(profile_ids).items()]

    def organisation_members(self, organisation_id: int) -> set[int]:
        return set()

    def filtered_ids(self, filters: Any) -> list[int] | None:
        if filters is None or not getattr(filters, "economies", ()):
            return None
        return [pid for pid, p in self.rows.items() if p.economy in filters.economies]

    def journal_position(self) -> int:
        return self._seq

    def changed_since(self, seq: int, until: int) -> list[int]:
        return sorted({pid for number, pid in self.journal if seq < number <= until})

    def snapshot_written(self, seq: int) -> None:
        self.journal = [(number, pid) for number, pid in self.journal if number > seq]

    def release(self) -> None:
        pass
