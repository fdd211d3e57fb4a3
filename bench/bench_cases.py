"""The demo cases of issue 14, as a broker would read them: searches, recommendations, cohort.

    .venv/bin/python bench/bench_cases.py [--embedding-cache FILE]

On the demo programme plus one new SME (a Thai die-caster that needs EV motor-housing
casting know-how and introductions to EV motor makers), printed in one run:
- two searches as a new user types them, an off-topic one ("chocolate cake...") and a
  supplier search ("aluminium die casting for e-scooter frames"): how many results the page
  lists at its default strength (good and stronger), whether it says that nothing is good,
  and the top results with score, strength and role, each beside its rank by the dense leg
  alone (MiniLM similarity: the ranking before fusion, roles and strength bands);
- the new SME's recommendations with their roles and the first reasons a coordinator reads;
- a cohort suggestion for every SME (k = 3), with the partners proposed to the new SME and
  to Voltrika (a battery-pack maker that needs UN38.3 certification).
What a broker expects: the off-topic search ends in "no good match"; the die-casting
supplier near the top of the supplier search; motor makers and casting know-how above the
competing die-caster in the recommendations; no competitor in the cohort's proposals.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_relevance import demo_programme

from partnermatch.extensions import db
from partnermatch.matching import strength
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.recommend import recommend
from partnermatch.matching.search import search
from partnermatch.presentation import recommendation_reasons
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters
from partnermatch.profiles.transfer import create_from_record
from partnermatch.review.cohort import cohort_smes, suggest_for_cohort
from partnermatch.review.models import Match

NEW_DIE_CASTER = {
    "external_id": "case-th-chonburi-alu-casting",
    "kind": "sme",
    "name": "Chonburi Alu Casting Co., Ltd.",
    "economy": "TH",
    "city": "Chonburi",
    "sectors": ["metal", "green-vehicles"],
    "value_chain": ["processing", "components"],
    "summary": "A new high-pressure aluminium die-casting shop in Chonburi (ADC12, A356), "
    "supplying brackets and housings to Thai automotive tier-2 buyers.",
    "offers": "High-pressure die casting of aluminium parts up to 2 kg, CNC finishing.",
    "needs": "Know-how for casting EV motor housings (porosity control, thin walls) and "
    "introductions to EV motor makers who buy cast housings.",
}
SEARCHES = (
    "chocolate cake recipe for a wedding",
    "low-cost aluminium die casting for e-scooter frames",
)
COHORT_WATCH = ("Chonburi Alu Casting", "Voltrika")
SHOWN = 8


def print_search(engine: MatchingEngine, query: str) -> None:
    shown = search(engine, query, limit=SHOWN, min_strength=strength.GOOD, nearest=3)
    every = search(engine, query, limit=SHOWN)
    page = engine.search(query, None, limit=200)
    dense_rank = {
        hit.profile_id: rank
        for rank, hit in enumerate(sorted(page.ranked, key=lambda hit: -hit.dense), 1)
    }
    verdict = "says no good match" if shown.none_strong_enough else "lists good matches"
    print(f"\nsearch {query!r}")
    print(
        f"  the page {verdict}: {len(shown.results)} shown, {shown.hidden_weaker} weaker "
        f"hidden; {every.total} listed at any strength"
    )
    print(f"  {'rank':>4} {'dense':>5}  {'score':>5}  {'strength':<8} {'role':<10} profile")
    for rank, result in enumerate(every.results, 1):
        print(
            f"  {rank:>4} {dense_rank.get(result.profile.id, 0):>5}  {result.score:5.3f}  "
            f"{result.strength:<8} {result.hit.role:<10} {result.profile.name}"
        )


def print_recommendations(engine: MatchingEngine, asker: Profile) -> None:
    print(f"\nrecommendations for {asker.name} (as a coordinator reads them)")
    for rank, rec in enumerate(recommend(engine, asker, SHOWN, min_strength=strength.WEAK), 1):
        positions = ",".join(rec.profile.value_chain)
        print(
            f"  {rank}. {rec.profile.name} [{rec.profile.economy}; {positions}] "
            f"{rec.score:.3f} {rec.strength} {rec.role}"
        )
        if rank <= 2:
            for reason in recommendation_reasons(rec, reader_profile_id=None)[:3]:
                print(f"       - {reason}")


def print_cohort(engine: MatchingEngine) -> None:
    report = suggest_for_cohort(engine, cohort_smes(ProfileFilters()))
    matches = list(db.session.scalars(select(Match)))
    print(f"\ncohort: {report.created} suggestions for {report.smes} SMEs (k = 3)")
    for match in matches:
        if match.sme.name.startswith(COHORT_WATCH):
            print(f"  {match.sme.name} -> {match.partner.name} ({match.score:.2f})")
    db.session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedding-cache", type=Path, default=None)
    args = parser.parse_args()
    with demo_programme(args.embedding_cache) as engine:
        asker = create_from_record(NEW_DIE_CASTER)
        db.session.commit()
        engine.sync()
        engine.encode_pending()
        engine.sync()
        for query in SEARCHES:
            print_search(engine, query)
        print_recommendations(engine, asker)
        print_cohort(engine)


if __name__ == "__main__":
    main()
