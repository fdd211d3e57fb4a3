"""Realistic synthetic profiles for benchmarks, recombined from the demo programme's sentences.

Each generated profile takes its summary, offers, needs and evidence from different demo
profiles, so texts have real vocabulary and length but the combinations are new.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

from partnermatch import reference
from partnermatch.demo import demo_records

NAME_STARTS = ["Pacific", "Andes", "Mekong", "Harbour", "Summit", "Lotus"]
NAME_ENDS = ["Precision", "Mobility", "Materials", "Design", "Systems", "Labs"]
AFFILIATIONS = ["academia", "research", "government", "industry"]
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _sentences(text: str) -> list[str]:
    return [sentence for sentence in _SENTENCE.split(text or "") if len(sentence.split()) >= 4]


def synthetic_records(count: int, seed: int = 7, prefix: str = "bench") -> Iterator[dict[str, Any]]:
    """Yield `count` profile records in the import format, about five passages each."""
    demo = [record for _, _, record in demo_records()]
    summaries = [s for r in demo for s in _sentences(r["summary"])]
    offers = [s for r in demo for s in _sentences(r["offers"])]
    needs = [s for r in demo for s in _sentences(r["needs"])]
    evidence = [item for r in demo for item in r["evidence"]]
    apec = list(reference.APEC_ECONOMY_NAMES)
    rng = random.Random(seed)
    for number in range(count):
        kind = rng.choice(["sme", "expert"])
        yield {
            "external_id": f"{prefix}-{number}",
            "kind": kind,
            "name": f"{rng.choice(NAME_STARTS)} {rng.choice(NAME_ENDS)} {number}",
            "organisation": None,
            "affiliation": "industry"
            if kind == "sme"
            else rng.choice(["academia", "research", "government", "industry"]),
            "economy": rng.choice(apec),
            "city": "",
            "sectors": rng.sample(reference.SECTOR_CODES[:-1], 2),
            "value_chain": rng.sample(reference.VALUE_CHAIN_CODES, 2),
            "summary": " ".join(rng.sample(summaries, 3)),
            "offers": " ".join(rng.sample(offers, 2)),
            "needs": " ".join(rng.sample(needs, 2)),
            "keywords": [],
            "languages": ["en"],
            "website": "",
            "contact_email": "",
            # Two demo items' texts per evidence item: each passage is new, as in a real programme.
            "evidence": [
                {
                    "kind": first["kind"],
                    "title": first["title"],
                    "text": f"{first['text']} {second['text']}",
                    "year": first["year"],
                    "url": "",
                }
                for first, second in (rng.sample(evidence, 2) for _ in range(2))
            ],
        }


def query_texts(count: int, seed: int = 11) -> list[str]:
    """Return plain-language needs to search with, taken from the demo profiles' needs."""
    needs = [s for _, _, r in demo_records() for s in _sentences(r["needs"])]
    return random.Random(seed).sample(needs, min(count, len(needs)))
