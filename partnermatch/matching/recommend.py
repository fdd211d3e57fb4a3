"""Recommended partners for a profile, with each factor's contribution shown.

The score of a candidate C for a profile P adds four factors:

    score = 0.60 * need      P's needs against C's offers, profile and evidence (best pair)
          + 0.25 * mutual    harmonic mean of `need` and `return`, where `return` is C's needs
                             against P's offers, profile and evidence: zero unless both sides
                             gain, so a two-sided match ranks above a one-sided one
          + 0.10 * chain     value-chain complementarity (chain_fit below)
          + w    * across    1 when C is in another economy (w: RECOMMEND_CROSS_ECONOMY_WEIGHT)

These are the default FactorWeights; once coordinators have decided on enough suggestions,
partnermatch.review.learning re-weights them from those decisions.

Similarities are cosine similarities of MiniLM embeddings, floored at 0; with the
multilingual model on (PARTNERMATCH_MULTILINGUAL), passages in other languages are read by
it and its cosines mapped onto MiniLM's scale (MatchingEngine.best_passage_pairs). The top N is then
chosen greedily, each pick lowering the candidates that share its organisation (-0.10) or
economy (-0.02 per earlier pick): a categorical form of maximal marginal relevance, so that
one organisation or one economy does not fill the list. P itself and P's own organisation
are never recommended.

A process keeps its recent recommendations (RECOMMENDATIONS_KEPT) by the engine's position
(snapshot version, journal position), the asking profile and the arguments: a profile page
viewed again costs a database read, not a search. Any change to any profile moves the
position, so nothing stale is served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from partnermatch import reference
from partnermatch.extensions import db
from partnermatch.matching.engine import MatchingEngine, PairHit
from partnermatch.matching.explain import best_snippet, content_words
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

SUPPORT_FUNCTIONS = tuple(
    code for code in reference.VALUE_CHAIN_CODES if code not in reference.CHAIN_POSITIONS
)


SOURCE_WORDS = {
    PassageSource.ABOUT: "profile",
    PassageSource.OFFERS: "offers",
    PassageSource.NEEDS: "needs",
    PassageSource.EVIDENCE: "evidence",
}


def chain_fit(mine: str, theirs: str) -> float:
    """How well two value-chain positions complement each other, from 0 to 1.

    Along the chain, neighbours complement each other best (a components maker and an
    integrator: 1.0), two steps apart less (0.6), further apart little (0.3), and the same
    position is usually a competitor (0.2). A support function (R&D, design, testing, policy
    and funding) serves every chain position (0.8); two different support functions work
    together now and then (0.5); the same support function is a peer (0.2).
    """
    chain = reference.CHAIN_POSITIONS
    if mine in chain and theirs in chain:
        gap = abs(chain.index(mine) - chain.index(theirs))
        return {0: 0.2, 1: 1.0, 2: 0.6}.get(gap, 0.3)
    if (mine in chain) != (theirs in chain):
        return 0.8
    return 0.2 if mine == theirs else 0.5


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
    label: str
    contribution: float
    # Why, as a message with %(name)s fields and their values, so that each reader gets it in
    # their language (see partnermatch.i18n.factor_detail); fields named *_economy hold an
    # economy code, *_position a value-chain code, and numbers are scores.
    detail_message: str
    value: float = 0.0  # the factor itself, before its weight
    feature: str = ""  # need, mutual, chain, across (empty for diversity)
    detail_values: Mapping[str, str | float] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        """The detail in English, as the CLI and the API give it."""
        return render_detail(self.detail_message, self.detail_values)


def _position_label(code: str) -> str:
    term = reference.value_chain_position(code)
    return term.label.lower() if term else code


def render_detail(
    message: str,
    values: Mapping[str, str | float],
    translate: Callable[[str], str] = str,
    economy: Callable[[str], str] = reference.economy_name,
    position: Callable[[str], str] = _position_label,
    score: Callable[[float], str] = "{:.2f}".format,
) -> str:
    """Fill a factor's detail message with its values, each named in the reader's words."""
    shown: dict[str, str] = {}
    for name, value in values.items():
        if name.endswith("_economy"):
            shown[name] = economy(str(value))
        elif name.endswith("_position"):
            shown[name] = position(str(value))
        elif isinstance(value, float):
            shown[name] = score(value)
        else:
            shown[name] = str(value)
    return translate(message) % shown


@dataclass(frozen=True)
class Quote:
    title: str  # whose words and where from: "Their offers", "Your needs", ...
    snippet: str


@dataclass
class Recommendation:
    profile: Profile
    score: float
    factors: list[Factor]
    quotes: list[Quote] = field(default_factory=list)
    # (their language, yours) when the words that matched are in two languages, else None
    across_languages: tuple[str, str] | None = None

    @property
    def reasons(self) -> list[str]:
        reasons = [
            f"{f.label}: {f.contribution:+.2f} ({f.detail})" for f in self.factors if f.contribution
        ]
        if self.across_languages:
            theirs, yours = self.across_languages
            reasons.insert(0, f"Matched across languages: theirs {theirs}, yours {yours}")
        return reasons


def _value_chain_factor(
    profile: Profile, candidate: Profile
) -> tuple[float, str, dict[str, str | float]]:
    """Return the best fit of the two profiles' positions, and why (a message and values)."""
    needs_words = content_words(profile.needs)
    best, message, values = 0.0, N_("no positions given"), {}
    for theirs in candidate.value_chain:
        label = reference.value_chain_position(theirs).label  # type: ignore[union-attr]
        # A need that names the position asks for it, even when it is P's own.
        if content_words(label) & needs_words - {"and"}:
            return 1.0, N_("your needs ask for %(their_position)s"), {"their_position": theirs}
        for mine in profile.value_chain:
            fit = chain_fit(mine, theirs)
            if fit > best:
                best, message = fit, N_("%(your_position)s with %(their_position)s")
                values = {"your_position": mine, "their_position": theirs}
    return best, message, values


def _their_quote(passages: list[Passage], position: int, query: str) -> Quote:
    passage = passages[position]
    if passage.source is PassageSource.EVIDENCE:
        title = f"Their evidence: {passage.title}"
    else:
        title = f"Their {SOURCE_WORDS[passage.source]}"
    return Quote(title, best_snippet(passage.quote, query))


def _quotes(
    asked: Passage,
    theirs: list[Passage],
    hit: PairHit,
    back: PairHit | None,
    offered: Passage | None,
) -> list[Quote]:
    """Quote P's need, C's words that answer it and, when C needs what P offers, C's need."""
    answer = theirs[hit.position] if hit.position < len(theirs) else None
    quotes = [
        Quote(
            f"Your {SOURCE_WORDS[asked.source]}",
            best_snippet(asked.quote, answer.quote if answer else ""),
        )
    ]
    if answer is not None:
        quotes.append(_their_quote(theirs, hit.position, asked.quote))
    if back is not None and offered is not None and back.position < len(theirs):
        quotes.append(
            Quote("Their needs", best_snippet(theirs[back.position].quote, offered.quote))
        )
    return quotes


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
                    N_("Diversity"),
                    penalty,
                    N_("others from the same economy or organisation rank above"),
                )
            )
            best.score += penalty
        chosen.append(best)
        remaining.remove(best)
    return chosen


@dataclass
class _Asker:
    """The profile recommendations are for: its passages and which of them ask and offer."""

    profile: Profile
    passages: list[Passage]
    needs: list[int]
    offers: list[int]
    asking: list[int]

    @classmethod
    def of(cls, engine: MatchingEngine, profile: Profile) -> _Asker:
        engine.sync()  # fail fast, before any encoding, when there is no index to serve
        passages = profile_passages(profile)
        needs = [i for i, p in enumerate(passages) if p.source is PassageSource.NEEDS]
        offers = [i for i, p in enumerate(passages) if p.source in SEARCHABLE_SOURCES]
        # Without stated needs, what the profile is about stands in for what it seeks.
        asking = needs or [i for i, p in enumerate(passages) if p.source is PassageSource.ABOUT]
        return cls(profile, passages, needs, offers, asking)

    def asked(self) -> list[Passage]:
        return [self.passages[i] for i in self.asking]

    def offered(self) -> list[Passage]:
        return [self.passages[i] for i in self.offers]


def _score(
    asker: _Asker,
    candidate: Profile,
    hit: PairHit,
    back: PairHit | None,
    weights: FactorWeights,
) -> Recommendation:
    profile = asker.profile
    need = max(hit.score, 0.0)
    back_score = max(back.score, 0.0) if back else 0.0
    mutual = 2 * need * back_score / (need + back_score) if need and back_score else 0.0
    chain, chain_message, chain_values = _value_chain_factor(profile, candidate)
    across = 1.0 if candidate.economy != profile.economy else 0.0
    need_label = (
        N_("Your needs ↔ their offers") if asker.needs else N_("Your profile ↔ their offers")
    )
    factors = [
        Factor(
            need_label,
            weights.need * need,
            N_("similarity %(similarity)s"),
            need,
            "need",
            {"similarity": need},
        ),
        Factor(
            N_("Two-sided"),
            weights.mutual * mutual,
            N_("their needs ↔ your offers %(similarity)s") if back else N_("they state no needs"),
            mutual,
            "mutual",
            {"similarity": back_score} if back else {},
        ),
        Factor(
            N_("Value chain"), weights.chain * chain, chain_message, chain, "chain", chain_values
        ),
        Factor(
            N_("Across economies"),
            weights.across * across,
            N_("%(their_economy)s and %(your_economy)s") if across else N_("same economy"),
            across,
            "across",
            {"their_economy": candidate.economy, "your_economy": profile.economy} if across else {},
        ),
    ]
    asked = asker.passages[asker.asking[hit.query_index]]
    theirs = profile_passages(candidate)
    quotes = _quotes(
        asked,
        theirs,
        hit,
        back if back_score else None,
        asker.passages[asker.offers[back.query_index]] if back else None,
    )
    return Recommendation(
        profile=candidate,
        score=sum(factor.contribution for factor in factors),
        factors=factors,
        quotes=quotes,
        across_languages=_languages_if_different(
            theirs[hit.position] if hit.position < len(theirs) else None, asked
        ),
    )


def _languages_if_different(answer: Passage | None, asked: Passage) -> tuple[str, str] | None:
    if answer is None or "other" in (answer.language, asked.language):
        return None
    return (answer.language, asked.language) if answer.language != asked.language else None


# Recommendations a process keeps, over all lists (a profile page shows 6, a cohort asks 40 an
# SME): about 1 KB each with their quotes and factors (measured on the demo), some 10 MB.
RECOMMENDATIONS_KEPT = 10_000


@dataclass(frozen=True)
class _Kept:
    """A recommendation as kept between requests: the partner by id, not as an ORM object
    (that belongs to the session of the request that computed it)."""

    profile_id: int
    score: float
    factors: tuple[Factor, ...]
    quotes: tuple[Quote, ...]
    across_languages: tuple[str, str] | None

    @classmethod
    def of(cls, recommendation: Recommendation) -> _Kept:
        return cls(
            recommendation.profile.id,
            recommendation.score,
            tuple(recommendation.factors),
            tuple(recommendation.quotes),
            recommendation.across_languages,
        )

    def with_profile(self, profile: Profile) -> Recommendation:
        return Recommendation(
            profile, self.score, list(self.factors), list(self.quotes), self.across_languages
        )


class _KeptRecommendations:
    """The most recently computed recommendations, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size  # recommendations, over all lists
        self._entries: OrderedDict[Hashable, tuple[_Kept, ...]] = OrderedDict()
        self._kept = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[_Kept, ...] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, recommendations: list[Recommendation]) -> None:
        kept = tuple(_Kept.of(r) for r in recommendations)
        with self._lock:
            replaced = self._entries.pop(key, ())
            self._entries[key] = kept
            self._kept += len(kept) - len(replaced)
            while self._kept > self.size and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._kept -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._kept = 0


_kept = _KeptRecommendations(RECOMMENDATIONS_KEPT)


def recommend(
    engine: MatchingEngine,
    profile: Profile,
    limit: int = 10,
    *,
    kind: str | None = None,
    weights: FactorWeights = DEFAULT_WEIGHTS,
    diversify: bool = True,
) -> list[Recommendation]:
    """Return the best partners for a profile, each with its factors and quoted passages.

    `diversify=False` skips the organisation and economy penalties, for callers (cohort
    assignment) that enforce their own constraints.
    """
    key = (id(engine), str(engine.store.root), engine.position(), profile.id, limit, kind)
    key += (weights, diversify)
    kept = _kept.get(key)
    if kept is not None:
        ids = [recommendation.profile_id for recommendation in kept]
        loaded = {
            partner.id: partner
            for partner in db.session.scalars(
                select(Profile)
                .where(Profile.id.in_(ids))
                .options(selectinload(Profile.organisation))
            )
        }
        if len(loaded) == len(ids):  # else one has gone since: compute afresh
            return [r.with_profile(loaded[r.profile_id]) for r in kept]
    recommendations = _recommend(engine, profile, limit, kind, weights, diversify)
    _kept.put(key, recommendations)
    return recommendations


def _recommend(
    engine: MatchingEngine,
    profile: Profile,
    limit: int,
    kind: str | None,
    weights: FactorWeights,
    diversify: bool,
) -> list[Recommendation]:
    asker = _Asker.of(engine, profile)
    forward = engine.best_passage_pairs(asker.asked(), "capability")
    excluded = {profile.id}
    if profile.organisation_id is not None:
        excluded |= set(
            db.session.scalars(
                select(Profile.id).where(Profile.organisation_id == profile.organisation_id)
            )
        )
    pool = sorted(
        (hit for pid, hit in forward.items() if pid not in excluded),
        key=lambda hit: hit.score,
        reverse=True,
    )
    candidates = {
        candidate.id: candidate
        for candidate in db.session.scalars(
            select(Profile)
            .where(Profile.id.in_([hit.profile_id for hit in pool[: CANDIDATE_POOL * 2]]))
            .options(selectinload(Profile.evidence), selectinload(Profile.organisation))
        )
        if kind is None or candidate.kind.value == kind
    }
    pool = [hit for hit in pool if hit.profile_id in candidates][:CANDIDATE_POOL]
    returning: dict[int, PairHit] = engine.best_passage_pairs(
        asker.offered(), "needs", among=[hit.profile_id for hit in pool]
    )
    scored = [
        _score(
            asker,
            candidates[hit.profile_id],
            hit,
            returning.get(hit.profile_id),
            weights,
        )
        for hit in pool
    ]
    scored.sort(key=lambda recommendation: recommendation.score, reverse=True)
    return _diversify(scored, limit) if diversify else scored[:limit]


def explain_pair(
    engine: MatchingEngine,
    profile: Profile,
    candidate: Profile,
    *,
    weights: FactorWeights = DEFAULT_WEIGHTS,
) -> Recommendation | None:
    """Score one candidate for a profile exactly as a recommendation would (no diversity)."""
    asker = _Asker.of(engine, profile)
    forward = engine.best_passage_pairs(asker.asked(), "capability", among=[candidate.id])
    hit = forward.get(candidate.id)
    if hit is None:
        return None
    back = engine.best_passage_pairs(asker.offered(), "needs", among=[candidate.id])
    return _score(asker, candidate, hit, back.get(candidate.id), weights)


def similar_profiles(
    engine: MatchingEngine, profile: Profile, limit: int = 5, kind: str | None = None
) -> list[tuple[Profile, float]]:
    """Return the profiles whose capabilities are closest to this one's (say, similar experts)."""
    passages = [p for p in profile_passages(profile) if p.source in SEARCHABLE_SOURCES]
    best = engine.best_passage_pairs(passages, "capability")
    best.pop(profile.id, None)
    ranked = sorted(best.values(), key=lambda hit: hit.score, reverse=True)
    profiles = {
        candidate.id: candidate
        for candidate in db.session.scalars(
            select(Profile).where(Profile.id.in_([hit.profile_id for hit in ranked]))
        )
    }
    results = [
        (profiles[hit.profile_id], hit.score)
        for hit in ranked
        if hit.profile_id in profiles
        and (kind is None or profiles[hit.profile_id].kind.value == kind)
    ]
    return results[:limit]
