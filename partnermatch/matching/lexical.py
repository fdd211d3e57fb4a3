"""The lexical leg: BM25 over the passages, so that exact terms match.

Sentence embeddings read "UN38.3", "ADC12" or "IATF 16949" as noise; a broker reads them as
the whole point. This leg scores the same passages as MiniLM's indexes with BM25 (each marked
with the part it belongs to: capability, what a search reads, or needs, what tells a peer),
through tantivy (a Rust search library; chosen over bm25s by bench/bench_search.py's lexical
figures and because it updates in place, see README "Words and meaning").

Two fields are indexed per passage: `words`, every word lower-cased, stop words dropped and
stemmed (English Snowball), and `codes`, the tokens that carry a digit kept whole ("un38.3",
"6061-t6", "a356.0", "ip67"), so that a standard or an alloy grade matches as written.

Scores are reported as *coverage*: the passage's BM25 score divided by the score a passage
of average length would get with each query term once, clipped to [0, 1]. A passage holding
every informative word of the query scores about 1, one holding only its common words
little, and a query whose words the programme never uses scores 0 everywhere: comparable
across queries, which the fusion and the strength bands need.

Each snapshot holds a base index in its folder (`lexical/`), written once by a rebuild. A
process serving searches works on its own copy of it: the base's files are hard-linked into
a working folder (tantivy never rewrites a segment file, it writes new ones), and the
journal's changes are written there, so each process follows the journal on its own, as it
does for the vector indexes, and the snapshot itself stays as it was written.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import tantivy

from partnermatch.matching.passages import MAX_PASSAGES

WORDS = "words"
CODES = "codes"
PASSAGE_ID = "passage"
PROFILE = "profile"
PART = "part"  # which index the passage stands beside: "capability" or "needs"
CAPABILITY, NEEDS = "capability", "needs"
WORDS_ANALYZER = "pm_words"
CODES_ANALYZER = "pm_codes"
# A token that holds a digit, with its joined parts: UN38.3, 6061-T6, ZX-4471B, ISO/TS 16949's
# 16949 (a part without a digit joins only when a later one has one: "low-cost" is no code).
CODE_PATTERN = r"(?:[\p{L}\p{N}]+[.\-/])*[\p{L}\p{N}]*\p{N}[\p{L}\p{N}]*(?:[.\-/][\p{L}\p{N}]+)*"
# Words that say nothing about a capability: tantivy's English list leaves these in, and as
# query terms they would count towards what a passage must cover.
EXTRA_STOPWORDS = (
    "a an and are as at be but by for from has have if in into is it its no not of on or our "
    "such that the their them then there these they this to was we will with who what which "
    "can could would should us you your someone somebody anyone help need needs needed "
    "looking look seek seeking want wants find partner partners company companies "
    "organisation organization please like also other using use based"
).split()
# BM25 k1 as tantivy uses it: a term's score saturates at (k1 + 1) x its idf.
BM25_K1 = 1.2
BUILD_HEAP_BYTES = 128_000_000
UPDATE_HEAP_BYTES = 15_000_000  # tantivy's least budget for one indexing thread
# With at most this many profiles allowed, the filter is a term set inside the query;
# above, hits are fetched in growing batches and filtered, until enough pass or none remain
# (exact either way; bench/bench_search.py measured which is faster where).
TERM_SET_PROFILES = 2_000
WORK_FOLDER = ".lexical-work"


def _words_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(EXTRA_STOPWORDS))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _codes_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(CODE_PATTERN))
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .build()
    )


_analyzers_lock = threading.Lock()
_analyzers: dict[str, tantivy.TextAnalyzer] = {}


def _analyzer(name: str) -> tantivy.TextAnalyzer:
    with _analyzers_lock:
        if name not in _analyzers:
            _analyzers[name] = _words_analyzer() if name == WORDS else _codes_analyzer()
        return _analyzers[name]


def query_terms(text: str) -> dict[str, list[str]]:
    """Return the distinct terms of a text per field, as the index reads them."""
    return {field: list(dict.fromkeys(_analyzer(field).analyze(text))) for field in (WORDS, CODES)}


def code_terms(text: str) -> list[str]:
    """Return the codes of a text (tokens with a digit: standards, grades, part numbers)."""
    return query_terms(text)[CODES]


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(WORDS, stored=False, tokenizer_name=WORDS_ANALYZER)
    builder.add_text_field(CODES, stored=False, tokenizer_name=CODES_ANALYZER)
    builder.add_integer_field(PASSAGE_ID, stored=False, indexed=False, fast=True)
    builder.add_text_field(PROFILE, stored=False, tokenizer_name="raw")
    builder.add_text_field(PART, stored=False, tokenizer_name="raw")
    return builder.build()


def _open(path: Path | None) -> tantivy.Index:
    index = (
        tantivy.Index(_schema(), path=str(path), reuse=True)
        if path is not None
        else tantivy.Index(_schema())
    )
    index.register_tokenizer(WORDS_ANALYZER, _words_analyzer())
    index.register_tokenizer(CODES_ANALYZER, _codes_analyzer())
    return index


LexicalPassage = tuple[int, str, str]  # passage id, text, part (CAPABILITY or NEEDS)


def _document(passage: int, text: str, part: str) -> tantivy.Document:
    profile_id = passage // MAX_PASSAGES
    return tantivy.Document(
        **{WORDS: text, CODES: text, PASSAGE_ID: passage, PROFILE: str(profile_id), PART: part}
    )


class LexicalBuilder:
    """Writes a snapshot's base lexical index into a folder, batch by batch."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._index = _open(folder)
        self._writer = self._index.writer(heap_size=BUILD_HEAP_BYTES, num_threads=max(threads, 1))
        self.count = 0

    def add(self, passages: Iterable[LexicalPassage]) -> None:
        for passage, text, part in passages:
            self._writer.add_document(_document(passage, text, part))
            self.count += 1

    def finish(self) -> None:
        """Commit and wait for merges: the folder then holds the finished index."""
        self._writer.commit()
        self._writer.wait_merging_threads()


def _process_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_work_folders(root: Path) -> None:
    """Remove the working copies of processes of this host that have stopped (a process
    removes its own when it moves to a newer snapshot)."""
    work = root / WORK_FOLDER
    if not work.is_dir():
        return
    host = socket.gethostname()
    for folder in work.iterdir():
        # f"{version}@{host}-{pid}.{random}", as open_copy names them
        _version, _, tag = folder.name.partition("@")
        owner, _, _random = tag.rpartition(".")
        owner_host, _, pid = owner.rpartition("-")
        if owner_host != host or not pid.isdigit():
            continue  # another machine's, or not ours to judge
        if not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class LexicalIndex:
    """BM25 over passages: what a process searches (a working copy, or in memory)."""

    def __init__(self, index: tantivy.Index, folder: Path | None = None) -> None:
        self._index = index
        self.folder = folder  # the working copy's folder, removed by close()
        self._lock = threading.RLock()
        self._writer: tantivy.IndexWriter | None = None
        self._searcher = index.searcher()
        self._owner = os.getpid()

    @classmethod
    def in_memory(cls, passages: Iterable[LexicalPassage] = ()) -> LexicalIndex:
        """Return an index held in memory (tests, benchmarks), with these passages."""
        lexical = cls(_open(None))
        lexical.add_passages(passages)
        lexical.flush()
        return lexical

    @classmethod
    def open_copy(cls, base: Path, root: Path) -> LexicalIndex:
        """Open a working copy of a snapshot's base index: its files hard-linked (copied
        where links are not possible) into a folder of this process's under `root`."""
        remove_stale_work_folders(root)
        folder = (
            root / WORK_FOLDER / (f"{base.parent.name}@{_process_tag()}.{uuid.uuid4().hex[:8]}")
        )
        folder.mkdir(parents=True)
        for source in base.iterdir():
            if source.is_file() and not source.name.startswith(".tantivy"):
                try:
                    os.link(source, folder / source.name)
                except OSError:
                    shutil.copy2(source, folder / source.name)
        return cls(_open(folder), folder)

    def close(self) -> None:
        """Forget the working copy (a newer snapshot replaced it)."""
        with self._lock:
            self._writer = None
            if self.folder is not None and self._owner == os.getpid():
                shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def size(self) -> int:
        return int(self._searcher.num_docs)

    # --- following the journal ---------------------------------------------------------------

    def _ensure_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=UPDATE_HEAP_BYTES, num_threads=1)
        return self._writer

    def remove_profiles(self, profile_ids: Iterable[int]) -> None:
        """Remove every passage of these profiles (seen by searches after flush)."""
        with self._lock:
            writer = None
            for profile_id in profile_ids:
                writer = writer or self._ensure_writer()
                writer.delete_documents_by_term(PROFILE, str(profile_id))

    def add_passages(self, passages: Iterable[LexicalPassage]) -> None:
        """Add passages by id, text and part (seen by searches after flush)."""
        with self._lock:
            for passage, text, part in passages:
                self._ensure_writer().add_document(_document(passage, text, part))

    def flush(self) -> None:
        """Commit what was added and removed, and search it from now on."""
        with self._lock:
            if self._writer is None:
                return
            writer, self._writer = self._writer, None
            writer.commit()
            writer.wait_merging_threads()
            self._index.reload()
            self._searcher = self._index.searcher()

    # --- searching --------------------------------------------------------------------------

    def _query(self, terms: dict[str, list[str]]) -> tantivy.Query | None:
        schema = self._index.schema
        clauses = [
            (tantivy.Occur.Should, tantivy.Query.term_query(schema, field, term))
            for field, field_terms in terms.items()
            for term in field_terms
        ]
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _full_score(self, searcher: tantivy.Searcher, terms: dict[str, list[str]]) -> float:
        """The BM25 score of a passage of average length holding each term once: the sum of
        the terms' idf (a term the programme never uses counts with the highest idf)."""
        total = max(int(searcher.num_docs), 1)
        score = 0.0
        for field, field_terms in terms.items():
            for term in field_terms:
                frequency = searcher.doc_freq(field, term)
                score += math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
        return score

    def search(
        self, text: str, k: int, among: Sequence[int] | None = None, part: str = CAPABILITY
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (coverage, passage ids) of the k best passages of a part (CAPABILITY or
        NEEDS) matching the text's terms, only of `among` profiles if given; passages without
        any of its terms are left out."""
        terms = query_terms(text)
        query = self._query(terms)
        if query is not None:
            query = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, query),
                    (
                        tantivy.Occur.Must,
                        tantivy.Query.const_score_query(
                            tantivy.Query.term_query(self._index.schema, PART, part), 0.0
                        ),
                    ),
                ]
            )
        with self._lock:
            searcher = self._searcher
        empty = np.zeros(0, np.float32), np.zeros(0, np.int64)
        if query is None or k <= 0 or not searcher.num_docs:
            return empty
        full = self._full_score(searcher, terms)
        if among is not None and not len(among):
            return empty
        if among is not None and len(among) <= TERM_SET_PROFILES:
            allowed = tantivy.Query.term_set_query(
                self._index.schema, PROFILE, [str(pid) for pid in among]
            )
            query = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, query),
                    (tantivy.Occur.Must, tantivy.Query.const_score_query(allowed, 0.0)),
                ]
            )
            scores, ids = self._top(searcher, query, k)
        elif among is not None:
            scores, ids = self._top_among(searcher, query, k, np.asarray(list(among), np.int64))
        else:
            scores, ids = self._top(searcher, query, k)
        return np.minimum(scores / full, 1.0).astype(np.float32), ids

    @staticmethod
    def _top(
        searcher: tantivy.Searcher, query: tantivy.Query, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        hits = searcher.search(query, k, count=False).hits
        if not hits:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        ids = searcher.fast_field_values(PASSAGE_ID, [address for _, address in hits])
        return np.asarray([score for score, _ in hits], np.float32), np.asarray(ids, np.int64)

    def _top_among(
        self, searcher: tantivy.Searcher, query: tantivy.Query, k: int, among: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        among = np.sort(among)
        fetch = max(4 * k, 256)
        while True:
            scores, ids = self._top(searcher, query, fetch)
            at = np.minimum(np.searchsorted(among, ids // MAX_PASSAGES), len(among) - 1)
            keep = among[at] == ids // MAX_PASSAGES
            if keep.sum() >= k or len(ids) < fetch:
                return scores[keep][:k], ids[keep][:k]
            fetch *= 4
