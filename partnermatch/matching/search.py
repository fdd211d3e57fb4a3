"""Search for partners: the one entry point that views, the CLI, the API and benchmarks call.

A query is read as a need. The engine ranks profiles by how well their capability passages
answer it (both legs fused); then each of the best-ranked gets a role: a profile whose own
needs match the query better than its offers do is a peer (it has the same problem), and,
when the searcher has a profile, one that offers what the searcher offers (a shared sector,
overlapping positions) is a competitor. Peers and competitors are demoted below the
providers unless the query asks for one (partnermatch.matching.roles). Each result carries a
strength band (partnermatch.matching.strength).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from partnermatch.matching import roles, strength
from partnermatch.matching.engine import MatchingEngine, SearchPage
from partnermatch.matching.explain import SearchFilterFacts, SearchResults, explain_search
from partnermatch.matching.passages import Passage, PassageSource, profile_passages
from partnermatch.matching.ranking import Fusion, ProfileHit
from partnermatch.profiles.models import Profile

# How many of the best-ranked profiles get a role (beyond the page asked for): demotion only
# lowers a score, so a profile further down cannot rise into the page.
ROLE_WINDOW = 40


def strength_score(hit: ProfileHit, fusion: Fusion) -> float:
    """What a search result's band is read from (see partnermatch.matching.strength)."""
    return hit.best + fusion.lexical_weight * hit.lexical


def offers_of(profile: Profile) -> list[Passage]:
    """What a searcher offers: its offers, or what it is about when it states none."""
    passages = profile_passages(profile)
    offers = [p for p in passages if p.source is PassageSource.OFFERS]
    return offers or [p for p in passages if p.source is PassageSource.ABOUT]


def competitor_signals(
    engine: MatchingEngine, hits: list[ProfileHit], searcher: Profile | None
) -> list[ProfileHit]:
    """Give each hit the similarity of the searcher's offers to its own (a competitor's sign)."""
    if searcher is None or not hits:
        return hits
    pairs = engine.best_passage_pairs(
        offers_of(searcher), "capability", among=[hit.profile_id for hit in hits]
    )
    return [
        replace(hit, same_offer=pairs[hit.profile_id].score) if hit.profile_id in pairs else hit
        for hit in hits
    ]


def assign_roles(
    hits: list[ProfileHit], query: str, searcher: Profile | None, profiles: dict[int, Profile]
) -> list[ProfileHit]:
    """Give each hit its role and demotion (see the module), in ranking order."""
    shown = []
    for hit in hits:
        if searcher is not None and hit.profile_id == searcher.id:
            # The searcher's own profile is shown as theirs, not demoted as a rival.
            shown.append(hit)
            continue
        profile = profiles.get(hit.profile_id)
        signals = roles.RoleSignals(
            need=hit.best,
            same_need=hit.same_need,
            same_offer=hit.same_offer,
            need_lexical=hit.lexical,
            same_need_lexical=hit.same_need_lexical,
            shared_sector=bool(
                searcher and profile and set(searcher.sectors) & set(profile.sectors)
            ),
            overlapping_positions=bool(
                searcher and profile and set(searcher.value_chain) & set(profile.value_chain)
            ),
        )
        role = roles.classify(signals, with_customers=False)
        lowered = roles.demotion(role, query)
        shown.append(replace(hit, role=role, score=hit.score - lowered))
    shown.sort(key=lambda hit: (-hit.score, hit.profile_id))
    return shown


def search(
    engine: MatchingEngine,
    query: str,
    filters: Any = None,
    limit: int = 20,
    offset: int = 0,
    *,
    searcher: Profile | None = None,
    min_strength: str = strength.WEAK,
    nearest: int = 0,
) -> SearchResults:
    """Return the profiles that best match a plain-language need, with their facts.

    Only results of at least `min_strength` are listed (SearchResults.hidden_weaker counts
    the others); when none is that strong and `nearest` is given, the nearest that many are
    listed instead (SearchResults.none_strong_enough says so).
    """
    page = engine.search(
        query, filters, limit=offset + limit + ROLE_WINDOW, offset=0, needs_window=ROLE_WINDOW
    )
    ranked = page.ranked
    window = ranked[:ROLE_WINDOW]
    profiles = engine.source.profiles(
        [hit.profile_id for hit in ranked[: offset + limit + ROLE_WINDOW]]
    )
    bands = strength.get_bands().search
    window = competitor_signals(engine, window, searcher)
    ranked = assign_roles(window, query, searcher, profiles) + ranked[ROLE_WINDOW:]
    ranked.sort(key=lambda hit: (-hit.score, hit.profile_id))  # a demoted one may go further
    ranked = [
        replace(hit, strength=bands.band(strength_score(hit, engine.fusion))) for hit in ranked
    ]
    passing = [hit for hit in ranked if strength.at_least(hit.strength, min_strength)]
    none_strong_enough = not passing and bool(ranked) and nearest > 0
    listed = ranked[:nearest] if none_strong_enough else passing
    shown = listed[offset : offset + limit]
    missing = [hit.profile_id for hit in shown if hit.profile_id not in profiles]
    if missing:
        profiles.update(engine.source.profiles(missing))
    facts = (
        SearchFilterFacts(
            tuple(filters.economies),
            tuple(filters.exclude_economies),
            tuple(filters.sectors),
            tuple(filters.value_chain),
        )
        if filters is not None
        else None
    )
    results = explain_search(
        SearchPage(shown, len(listed), offset, limit),
        query,
        profiles,
        facts,
        hidden_weaker=len(ranked) - len(passing),
    )
    return replace(results, none_strong_enough=none_strong_enough, filtered_total=page.total)
