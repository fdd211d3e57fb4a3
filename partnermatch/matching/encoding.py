"""Encoding profiles' passages for the indexes: which model reads which passage.

One PassageEncoder turns a batch of profiles' passages into one EncodedPart per vector index
(capability and needs for MiniLM, capability_ml and needs_ml for the multilingual model) and
the texts of the lexical index, as the multilingual mode says:

- off: MiniLM reads every passage; no language is detected;
- auto: MiniLM reads English passages (and those without words to tell a language by), the
  multilingual model reads every passage;
- always: the multilingual model reads every passage, MiniLM none.

The lexical index reads every passage, whatever its language.

With the multilingual model on, a profile's recommendations search other profiles with its
passages read as queries (the model's "query: " prefix; see retrieval.passage_legs): those
vectors are encoded here too, into the cache, so that a profile page's first view encodes
nothing (bench/bench_pages.py, "profile page, first view").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from partnermatch.matching.asks import asks_of_needs
from partnermatch.matching.cache import DatabaseEmbeddingCache, text_hash
from partnermatch.matching.embedder import Embedder, MultilingualEmbedder
from partnermatch.matching.index import INDEX_NAMES, EncodedPart
from partnermatch.matching.lexical import CAPABILITY, NEEDS, LexicalPassage
from partnermatch.matching.multilingual import (
    DIMENSION as MULTILINGUAL_DIMENSION,
)
from partnermatch.matching.multilingual import (
    MultilingualMode,
    language_code,
)
from partnermatch.matching.passages import (
    SEARCHABLE_SOURCES,
    Passage,
    PassageSource,
    passage_id,
)

# The multilingual model reading a profile's passages as queries (texts_to_encode, models).
ASKING = "multilingual_queries"
# What MiniLM reads in "auto" mode: English, and texts without words to tell a language by.
MINILM_LANGUAGES = frozenset({"en", "other"})

ProfilePassages = tuple[int, Sequence[Passage]]  # a profile's id and its passages


def asking_texts(passages: Sequence[Passage]) -> list[str]:
    """The texts a profile's recommendations search with: its asks (recommend._asks_of: the
    needs split into asks, or the profile's summary without needs) and its offered passages.
    A needs text long enough to be chunked is split at request time from the profile's whole
    needs instead, and its asks are encoded then."""
    needs = [p for p in passages if p.source is PassageSource.NEEDS]
    if len(needs) == 1:
        asks = asks_of_needs(needs[0].quote)
    elif needs:
        asks = []
    else:
        asks = [p.text for p in passages if p.source is PassageSource.ABOUT]
    return asks + [p.text for p in passages if p.source in SEARCHABLE_SOURCES]


@dataclass
class EncodedBatch:
    """A batch's passages, encoded: a part per vector index, and the lexical index's texts."""

    parts: dict[str, EncodedPart]
    lexical: list[LexicalPassage] = field(default_factory=list)

    @classmethod
    def concatenate(
        cls, batches: Sequence[EncodedBatch], dimensions: dict[str, int]
    ) -> EncodedBatch:
        return cls(
            {
                name: EncodedPart.concatenate([batch.parts[name] for batch in batches], dimension)
                for name, dimension in dimensions.items()
            },
            [text for batch in batches for text in batch.lexical],
        )


class PassageEncoder:
    """Encodes passages with the models the multilingual mode asks for."""

    def __init__(
        self,
        embedder: Embedder,
        multilingual: MultilingualEmbedder | None,
        mode: MultilingualMode,
    ) -> None:
        if mode is not MultilingualMode.OFF and multilingual is None:
            raise ValueError(f"The multilingual mode {mode.value!r} needs a multilingual model.")
        self.embedder = embedder
        self.multilingual = multilingual if mode is not MultilingualMode.OFF else None
        self.mode = mode

    @property
    def dimensions(self) -> dict[str, int]:
        """Each vector index's dimension."""
        minilm, ml = self.embedder.dimension, MULTILINGUAL_DIMENSION
        return {name: ml if name.endswith("_ml") else minilm for name in INDEX_NAMES}

    def reads_with_minilm(self, passage: Passage) -> bool:
        """True when MiniLM reads this passage (see the module)."""
        if self.mode is MultilingualMode.OFF:
            return True  # no language detected: off is exactly as before
        return self.mode is MultilingualMode.AUTO and passage.language in MINILM_LANGUAGES

    def uncached(self, passages: Sequence[Passage]) -> int:
        """Return how many of these passages some model has not encoded yet (the larger
        count of the two models)."""
        missing = self.embedder.uncached([p.text for p in passages if self.reads_with_minilm(p)])
        if self.multilingual is not None:
            missing = max(missing, self.multilingual.uncached([p.text for p in passages]))
        return missing

    def texts_to_encode(self, batch: Sequence[ProfilePassages]) -> dict[str, list[str]]:
        """Return the texts each model reads for this batch ("minilm", "multilingual")."""
        passages = [passage for _, profile_passages in batch for passage in profile_passages]
        texts = {"minilm": [p.text for p in passages if self.reads_with_minilm(p)]}
        if self.multilingual is not None:
            texts["multilingual"] = [p.text for p in passages]
            texts[ASKING] = self._asking(batch)
        return texts

    @staticmethod
    def _asking(batch: Sequence[ProfilePassages]) -> list[str]:
        return [text for _, passages in batch for text in asking_texts(passages)]

    def models(self) -> dict[str, Embedder]:
        """The models passages are encoded with, by the names texts_to_encode uses."""
        models: dict[str, Embedder] = {"minilm": self.embedder}
        if self.multilingual is not None:
            models["multilingual"] = self.multilingual
            models[ASKING] = self.multilingual.queries
        return models

    @property
    def shared_cache(self) -> bool:
        """True when every model caches in the programme's database (see cache.py), so that
        workers on other machines can encode into it."""
        return all(
            isinstance(model.cache, DatabaseEmbeddingCache) for model in self.models().values()
        )

    def missing(self, model: str, texts: Sequence[str]) -> list[str]:
        """Return the distinct texts of `texts` that `model` has not cached yet, in order."""
        distinct = {text_hash(text): text for text in texts}
        cached = self.models()[model].cache.get_many(distinct)
        return [text for key, text in distinct.items() if key not in cached]

    def encode_texts(self, model: str, texts: Sequence[str]) -> int:
        """Encode texts with `model` into the cache (a text already there is not encoded
        again); return how many were encoded."""
        missing = self.missing(model, texts)
        self.models()[model].encode_passages(missing)
        return len(missing)

    def encode(self, batch: Sequence[ProfilePassages]) -> EncodedBatch:
        """Encode a batch of profiles' passages into a part per vector index."""
        ids: list[int] = []
        texts: list[str] = []
        capability: list[bool] = []
        minilm: list[bool] = []
        languages: list[int] = []
        for profile_id, passages in batch:
            for position, passage in enumerate(passages):
                ids.append(passage_id(profile_id, position))
                texts.append(passage.text)
                capability.append(passage.source in SEARCHABLE_SOURCES)
                minilm.append(self.reads_with_minilm(passage))
                languages.append(
                    0 if self.mode is MultilingualMode.OFF else language_code(passage.language)
                )
        id_array = np.asarray(ids, dtype=np.int64)
        language_array = np.asarray(languages, dtype=np.uint8)
        searchable = np.asarray(capability, dtype=bool)
        read = np.asarray(minilm, dtype=bool)
        dimensions = self.dimensions
        parts: dict[str, EncodedPart] = {}

        def split(suffix: str, rows: np.ndarray, vectors: np.ndarray) -> None:
            """File the encoded rows under capability{suffix} and needs{suffix}."""
            capability_rows = searchable[rows]
            parts[f"capability{suffix}"] = EncodedPart(
                id_array[rows][capability_rows],
                vectors[capability_rows],
                language_array[rows][capability_rows],
            )
            parts[f"needs{suffix}"] = EncodedPart(
                id_array[rows][~capability_rows],
                vectors[~capability_rows],
                language_array[rows][~capability_rows],
            )

        vectors = self.embedder.encode_passages(
            [t for t, m in zip(texts, minilm, strict=True) if m]
        )
        split("", np.flatnonzero(read), vectors.reshape(-1, dimensions["capability"]))
        if self.multilingual is not None:
            ml_vectors = self.multilingual.encode_passages(texts)
            split("_ml", np.arange(len(ids)), ml_vectors.reshape(-1, MULTILINGUAL_DIMENSION))
            # Into the cache only: read back when the profile's recommendations are asked for.
            self.multilingual.queries.encode_passages(self._asking(batch))
        else:
            parts["capability_ml"] = EncodedPart.empty(MULTILINGUAL_DIMENSION)
            parts["needs_ml"] = EncodedPart.empty(MULTILINGUAL_DIMENSION)
        lexical = [
            (passage, text, CAPABILITY if searchable_passage else NEEDS)
            for passage, text, searchable_passage in zip(ids, texts, capability, strict=True)
        ]
        return EncodedBatch(parts, lexical)
