"""Recommended partners for a profile, with each factor's contribution, role and strength.

The score of a candidate C for an asking profile P adds these factors:

    score = 0.60 * need      P's needs, ask by ask, against C's offers, profile and evidence:
                             the best ask's similarity plus LEXICAL_WEIGHT x its exact-term
                             coverage, a side ask counting SIDE_ASK_WEIGHT of the main one
          + 0.25 * mutual    harmonic mean of `need` and `return`, where `return` is C's needs
                             against P's offers, profile and evidence: zero unless both gain
          + 0.10 * chain     value-chain fit (partnermatch.matching.roles.chain_fit)
          + w    * across    1 when C is in another economy (w: RECOMMEND_CROSS_ECONOMY_WEIGHT)
          - DEMOTION         when C is a peer (the same need) or a competitor (the same
                             offers, sector and positions), unless P's needs ask for one

These are the default FactorWeights; once coordinators have decided on enough suggestions,
partnermatch.review.learning re-weights the first four from those decisions. Each
recommendation carries C's role (provider, customer, mutual, peer, competitor) and a
strength band read from the stronger direction (need or return); recommendations below
`min_strength` are not proposed.

Similarities are cosine similarities on MiniLM's scale, floored at 0 (the multilingual
model's mapped onto it). The top N is then chosen greedily, each pick lowering the
candidates that share its organisation (-0.10) or economy (-0.02 per earlier pick), so that
one organisation or economy does not fill the list. P itself and P's own organisation are
never recommended.

The engine keeps recent recommendations (engine.kept) by its position (snapshot version,
journal position), the asking profile and the arguments: a profile page viewed again costs
a database read, not a search. Any change to any profile moves the position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from partnermatch.matching import roles, strength
from partnermatch.matching.asks import ask_weight, asks_of_needs
from partnermatch.matching.engine import MatchingEngine, PairHit
from partnermatch.matching.explain import best_snippet, mentioned_positions, shared_terms
from partnermatch.matching.passages import (
    SEARCHABLE_SOURCES,
    Passage,
    PassageSource,
    profile_passages,
)
from partnermatch.profiles.models import Profile
from partnermatch.reference import N_

DEFAULT_CROSS_ECONOMY_WEIGHT = 0.05
SAME_ORGANISATION_PENALTY = 0.10
SAME_ECONOMY_PENALTY = 0.02
# Candidates scored in full: the nearest by `need`; the other factors add at most 0.40.
CANDIDATE_POOL = 200
ASKER = "asker"
PARTNER = "partner"


@dataclass(frozen=True)
class FactorWeights:
    """How much each factor counts; the defaults until coordinators' decisions say otherwise."""

    need: float = 0.60
    mutual: float = 0.25
    chain: float = 0.10
    across: float = DEFAULT_CROSS_ECONOMY_WEIGHT
    source: str = "the defaults"


DEFAULT_WEIGHTS = FactorWeights()


@dataclass(frozen=True)
class Factor:
    feature: str  # need, mutual, chain, across, role, diversity
    contribution: float
    # Why, as a message with %(name)s fields and their values, so that each reader gets it in
    # their language (partnermatch.presentation); fields named *_economy hold an economy
    # code, *_position a value-chain code, *_role a role, and numbers are scores.
    detail_message: str
    value: float = 0.0  # the factor itself, before its weight
    detail_values: Mapping[str, str | float] = field(default_factory=dict)


@dataclass(frozen=True)
class Quote:
    whose: str  # ASKER or PARTNER
    source: PassageSource
    title: str  # an evidence item's title, else the source's name (a msgid)
    snippet: str


@dataclass
class Recommendation:
    profile: Profile  # the partner
    score: float
    factors: list[Factor]
    quotes: list[Quote] = field(default_factory=list)
    # (their language, the asker's) when the words that matched are in two languages
    across_languages: tuple[str, str] | None = None
    asker_id: int = 0
    asker_name: str = ""
    role: str = roles.PROVIDER
    strength: str = strength.WEAK
    asks: tuple[str, ...] = ()  # the asker's asks, the main one first
    answered_ask: int | None = None  # which of them the partner answers best
    terms: tuple[str, ...] = ()  # exact terms of the asker's needs that the partner names
    has_needs: bool = True  # False: the asker states no needs, its profile stood in
    closeness: float = 0.0  # what the strength band is read from (the closest ask or return)

    def factor(self, feature: str) -> Factor | None:
        return next((f for f in self.factors if f.feature == feature), None)


def _asks_of(passages: list[Passage], profile: Profile) -> tuple[list[Passage], list[str]]:
    """The passages that ask (one per ask of the needs; the profile itself without needs)."""
    needs = [p for p in passages if p.source is PassageSource.NEEDS]
    if not needs:
        about = [p for p in passages if p.source is PassageSource.ABOUT]
        return about, [p.quote for p in about]
    asks = asks_of_needs(profile.needs)
    context = needs[0].profile_language
    return [
        Passage(PassageSource.NEEDS, needs[0].title, ask, ask, None, context) for ask in asks
    ], asks


@dataclass
class _Asker:
    """The profile recommendations are for: its asks and offers."""

    profile: Profile
    passages: list[Passage]
    asking: list[Passage]  # one per ask
    asks: list[str]
    offered: list[Passage]
    has_needs: bool

    @classmethod
    def of(cls, engine: MatchingEngine, profile: Profile) -> _Asker:
        engine.sync()  # fail fast, before any encoding, when there is no index to serve
        passages = profile_passages(profile)
        asking, asks = _asks_of(passages, profile)
        offered = [p for p in passages if p.source in SEARCHABLE_SOURCES]
        has_needs = any(p.source is PassageSource.NEEDS for p in passages)
        return cls(profile, passages, asking, asks, offered, has_needs)

    @property
    def offers_only(self) -> list[Passage]:
        offers = [p for p in self.passages if p.source is PassageSource.OFFERS]
        return offers or [p for p in self.passages if p.source is PassageSource.ABOUT]


def _need_of(by_ask: Mapping[int, PairHit], lexical_weight: float) -> tuple[float, int, PairHit]:
    """The candidate's need value: its best ask, side asks discounted."""
    best: tuple[float, int, PairHit] | None = None
    for ask, pair in by_ask.items():
        value = ask_weight(ask) * (max(pair.score, 0.0) + lexical_weight * pair.lexical)
        if best is None or value > best[0]:
            best = (value, ask, pair)
    assert best is not None
    return best


def _closest_ask(by_ask: Mapping[int, PairHit], lexical_weight: float) -> float:
    """The candidate's match to the ask it meets best, side asks not discounted: a strong
    answer to a side ask is a strong match for that ask (what the strength band reads)."""
    return max(max(p.score, 0.0) + lexical_weight * p.lexical for p in by_ask.values())


@dataclass(frozen=True)
class _Signals:
    back: PairHit | None
    same_need: PairHit | None  # the asker's needs against the partner's needs
    same_offer: PairHit | None  # the asker's offers against the partner's offers


def _chain_factor(asker: _Asker, candidate: Profile, weights: FactorWeights) -> Factor:
    asked = (
        mentioned_positions(candidate.value_chain, asker.profile.needs) if asker.has_needs else []
    )
    fit = roles.chain_fit(asker.profile.value_chain, candidate.value_chain, asked)
    return Factor("chain", weights.chain * fit.value, fit.message, fit.value, fit.values)


def _score(
    asker: _Asker,
    candidate: Profile,
    by_ask: Mapping[int, PairHit],
    signals: _Signals,
    weights: FactorWeights,
    lexical_weight: float,
    *,
    explain: bool = True,
) -> Recommendation:
    profile = asker.profile
    need, answered, hit = _need_of(by_ask, lexical_weight)
    back = signals.back
    back_score = max(back.score, 0.0) if back else 0.0
    mutual = 2 * need * back_score / (need + back_score) if need and back_score else 0.0
    across = 1.0 if candidate.economy != profile.economy else 0.0
    same_need, same_offer = signals.same_need, signals.same_offer
    role = roles.classify(
        roles.RoleSignals(
            need=max(hit.score, 0.0),
            back=back_score,
            same_need=same_need.score if same_need else 0.0,
            same_offer=same_offer.score if same_offer else 0.0,
            shared_sector=bool(set(profile.sectors) & set(candidate.sectors)),
            overlapping_positions=bool(set(profile.value_chain) & set(candidate.value_chain)),
            need_lexical=hit.lexical,
            same_need_lexical=same_need.lexical if same_need else 0.0,
        ),
        peer_margin=roles.RECOMMEND_PEER_MARGIN,
        competitor_similarity=roles.RECOMMEND_COMPETITOR_SIMILARITY,
    )
    factors = [
        Factor(
            "need",
            weights.need * need,
            N_("similarity %(similarity)s")
            if asker.has_needs
            else N_("profile similarity %(similarity)s"),
            need,
            {"similarity": need},
        ),
        Factor(
            "mutual",
            weights.mutual * mutual,
            N_("similarity %(similarity)s") if back else N_("no needs stated"),
            mutual,
            {"similarity": back_score} if back else {},
        ),
        _chain_factor(asker, candidate, weights),
        Factor(
            "across",
            weights.across * across,
            N_("%(their_economy)s and %(your_economy)s") if across else N_("same economy"),
            across,
            {"their_economy": candidate.economy, "your_economy": profile.economy} if across else {},
        ),
    ]
    lowered = roles.demotion(role, profile.needs, roles.RECOMMEND_DEMOTION)
    if role in roles.DEMOTED_ROLES:
        factors.append(
            Factor(
                "role",
                -lowered,
                N_("a %(partner_role)s, ranked below providers")
                if lowered
                else N_("a %(partner_role)s, as the need asks"),
                float(lowered),
                {"partner_role": role},
            )
        )
    bands = strength.get_bands().recommend
    closeness = max(_closest_ask(by_ask, lexical_weight), back_score)
    recommendation = Recommendation(
        profile=candidate,
        score=sum(factor.contribution for factor in factors),
        factors=factors,
        asker_id=profile.id,
        asker_name=profile.name,
        role=role,
        strength=bands.band(closeness),
        asks=tuple(asker.asks),
        answered_ask=answered if len(asker.asks) > 1 else None,
        has_needs=asker.has_needs,
        closeness=closeness,
    )
    if not explain:
        return recommendation
    return _explained(recommendation, asker, by_ask, signals, lexical_weight)


def _explained(
    recommendation: Recommendation,
    asker: _Asker,
    by_ask: Mapping[int, PairHit],
    signals: _Signals,
    lexical_weight: float,
) -> Recommendation:
    """Add the words that explain a recommendation: quotes, languages, exact terms. Done
    only for the recommendations shown, not for every candidate scored (bench_pages)."""
    _need, answered, hit = _need_of(by_ask, lexical_weight)
    back = signals.back if signals.back and max(signals.back.score, 0.0) else None
    theirs = profile_passages(recommendation.profile)
    asked = asker.asking[answered] if answered < len(asker.asking) else asker.asking[0]
    answer = theirs[hit.position] if hit.position < len(theirs) else None
    recommendation.quotes = _quotes(asked, theirs, hit, back, asker)
    recommendation.across_languages = _languages_if_different(answer, asked)
    recommendation.terms = tuple(
        shared_terms(
            asker.profile.needs, [p.text for p in theirs if p.source in SEARCHABLE_SOURCES]
        )
    )
    return recommendation


def _quote(whose: str, passage: Passage, query: str) -> Quote:
    return Quote(whose, passage.source, passage.title, best_snippet(passage.quote, query))


def _quotes(
    asked: Passage, theirs: list[Passage], hit: PairHit, back: PairHit | None, asker: _Asker
) -> list[Quote]:
    """Quote the asker's need, the partner's words that answer it and, when the partner
    needs what the asker offers, the partner's need."""
    answer = theirs[hit.position] if hit.position < len(theirs) else None
    quotes = [_quote(ASKER, asked, answer.quote if answer else "")]
    if answer is not None:
        quotes.append(_quote(PARTNER, answer, asked.quote))
    if back is not None and back.position < len(theirs) and back.query_index < len(asker.offered):
        quotes.append(_quote(PARTNER, theirs[back.position], asker.offered[back.query_index].quote))
    return quotes


def _languages_if_different(answer: Passage | None, asked: Passage) -> tuple[str, str] | None:
    if answer is None or "other" in (answer.language, asked.language):
        return None
    return (answer.language, asked.language) if answer.language != asked.language else None


def _diversify(scored: list[Recommendation], limit: int) -> list[Recommendation]:
    chosen: list[Recommendation] = []
    remaining = list(scored)
    while remaining and len(chosen) < limit:

        def adjusted(candidate: Recommendation) -> float:
            same_org = sum(
                1
                for pick in chosen
                if candidate.profile.organisation_id is not None
                and pick.profile.organisation_id == candidate.profile.organisation_id
            )
            same_economy = sum(
                1 for pick in chosen if pick.profile.economy == candidate.profile.economy
            )
            return (
                candidate.score
                - SAME_ORGANISATION_PENALTY * same_org
                - SAME_ECONOMY_PENALTY * same_economy
            )

        best = max(remaining, key=adjusted)
        penalty = adjusted(best) - best.score
        if penalty:
            best.factors.append(
                Factor(
                    "diversity",
                    penalty,
                    N_("others from the same economy or organisation rank above"),
                )
            )
            best.score += penalty
        chosen.append(best)
        remaining.remove(best)
    return chosen


@dataclass(frozen=True)
class _Kept:
    """A recommendation as kept between requests: the partner by id, not as an ORM object
    (that belongs to the session of the request that computed it)."""

    profile_id: int
    fields: tuple

    @classmethod
    def of(cls, recommendation: Recommendation) -> _Kept:
        r = recommendation
        return cls(
            r.profile.id,
            (
                r.score,
                tuple(r.factors),
                tuple(r.quotes),
                r.across_languages,
                r.asker_id,
                r.asker_name,
                r.role,
                r.strength,
                r.asks,
                r.answered_ask,
                r.terms,
                r.has_needs,
                r.closeness,
            ),
        )

    def with_profile(self, profile: Profile) -> Recommendation:
        score, factors, quotes, *rest = self.fields
        return Recommendation(profile, score, list(factors), list(quotes), *rest)


def recommend(
    engine: MatchingEngine,
    profile: Profile,
    limit: int = 10,
    *,
    kind: str | None = None,
    weights: FactorWeights = DEFAULT_WEIGHTS,
    diversify: bool = True,
    min_strength: str = strength.GOOD,
    exclude: Sequence[int] = (),
    among: Sequence[int] | None = None,
) -> list[Recommendation]:
    """Return the best partners for a profile, each with its factors, role and quotes.

    Partners below `min_strength` are left out, as are the profiles in `exclude` (pairs
    already matched, say); with `among`, only those profiles are candidates (an event's
    participants). `diversify=False` skips the organisation and economy penalties,
    for callers (cohort assignment) that enforce their own constraints.
    """
    key = (engine.position(), profile.id, limit, kind, weights, diversify, min_strength)
    key += (tuple(sorted(exclude)), None if among is None else tuple(sorted(among)))
    kept = engine.kept.get(key)
    if kept is not None:
        ids = [recommendation.profile_id for recommendation in kept]
        loaded = engine.source.profiles(ids)
        if len(loaded) == len(ids):  # else one has gone since: compute afresh
            return [r.with_profile(loaded[r.profile_id]) for r in kept]
    recommendations = _recommend(
        engine, profile, limit, kind, weights, diversify, min_strength, set(exclude), among
    )
    engine.kept.put(key, [_Kept.of(r) for r in recommendations])
    return recommendations


def _recommend(
    engine: MatchingEngine,
    profile: Profile,
    limit: int,
    kind: str | None,
    weights: FactorWeights,
    diversify: bool,
    min_strength: str,
    exclude: set[int],
    among: Sequence[int] | None = None,
) -> list[Recommendation]:
    asker = _Asker.of(engine, profile)
    forward = engine.pairs_by_passage(
        asker.asking, "capability", among=None if among is None else list(among)
    )
    excluded = {profile.id, *exclude}
    if profile.organisation_id is not None:
        excluded |= engine.source.organisation_members(profile.organisation_id)
    lexical_weight = engine.fusion.lexical_weight
    needs = {
        pid: _need_of(by_ask, lexical_weight)[0]
        for pid, by_ask in forward.items()
        if pid not in excluded
    }
    ranked = sorted(needs, key=lambda pid: -needs[pid])[: CANDIDATE_POOL * 2]
    candidates = {
        pid: candidate
        for pid, candidate in engine.source.profiles(ranked).items()
        if kind is None or candidate.kind.value == kind
    }
    pool = [pid for pid in ranked if pid in candidates][:CANDIDATE_POOL]
    returning = engine.best_passage_pairs(asker.offered, "needs", among=pool)
    same_need = (
        engine.best_passage_pairs(asker.asking, "needs", among=pool) if asker.has_needs else {}
    )
    same_offer = engine.best_passage_pairs(asker.offers_only, "capability", among=pool)
    signals = {
        pid: _Signals(returning.get(pid), same_need.get(pid), same_offer.get(pid)) for pid in pool
    }
    scored = [
        _score(
            asker,
            candidates[pid],
            forward[pid],
            signals[pid],
            weights,
            lexical_weight,
            explain=False,
        )
        for pid in pool
    ]
    scored = [r for r in scored if strength.at_least(r.strength, min_strength)]
    scored.sort(key=lambda recommendation: recommendation.score, reverse=True)
    chosen = _diversify(scored, limit) if diversify else scored[:limit]
    return [
        _explained(r, asker, forward[r.profile.id], signals[r.profile.id], lexical_weight)
        for r in chosen
    ]


def explain_pair(
    engine: MatchingEngine,
    profile: Profile,
    candidate: Profile,
    *,
    weights: FactorWeights = DEFAULT_WEIGHTS,
) -> Recommendation | None:
    """Score one candidate for a profile exactly as a recommendation would (no diversity,
    no floor)."""
    asker = _Asker.of(engine, profile)
    among = [candidate.id]
    forward = engine.pairs_by_passage(asker.asking, "capability", among=among)
    if candidate.id not in forward:
        return None
    back = engine.best_passage_pairs(asker.offered, "needs", among=among).get(candidate.id)
    same_need = (
        engine.best_passage_pairs(asker.asking, "needs", among=among) if asker.has_needs else {}
    )
    same_offer = engine.best_passage_pairs(asker.offers_only, "capability", among=among)
    signals = _Signals(back, same_need.get(candidate.id), same_offer.get(candidate.id))
    return _score(
        asker, candidate, forward[candidate.id], signals, weights, engine.fusion.lexical_weight
    )


def similar_profiles(
    engine: MatchingEngine, profile: Profile, limit: int = 5, kind: str | None = None
) -> list[tuple[Profile, float]]:
    """Return the profiles whose capabilities are closest to this one's (say, similar experts)."""
    passages = [p for p in profile_passages(profile) if p.source in SEARCHABLE_SOURCES]
    best = engine.best_passage_pairs(passages, "capability")
    best.pop(profile.id, None)
    ranked = sorted(best.values(), key=lambda hit: hit.score, reverse=True)
    profiles = engine.source.profiles([hit.profile_id for hit in ranked[: limit * 10]])
    results = [
        (profiles[hit.profile_id], hit.score)
        for hit in ranked
        if hit.profile_id in profiles
        and (kind is None or profiles[hit.profile_id].kind.value == kind)
    ]
    return results[:limit]
