"""Words for the matching engine's facts: in the reader's language on pages, in English for
the command line and the API.

partnermatch.matching returns codes, numbers, roles and passages; this module is the one
place that turns them into sentences. Each function takes a `Words` (how to translate and
how to name an economy, a sector, a position, a language, a score): `reader_words()` for a
request, ENGLISH elsewhere. Whose needs and offers a sentence speaks of follows the reader:
the asking profile reads "your needs", anyone else reads the profile's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError

from partnermatch import reference
from partnermatch.i18n import N_plural
from partnermatch.matching import roles, strength
from partnermatch.matching.explain import Evidence, SearchResult
from partnermatch.matching.passages import PassageSource
from partnermatch.matching.recommend import ASKER, Factor, Quote, Recommendation
from partnermatch.reference import N_


def _english(message: str, **values: Any) -> str:
    return message % values if values else message


def _english_plural(singular: str, plural: str, num: int, **values: Any) -> str:
    return (singular if num == 1 else plural) % {"num": num, **values}


def _english_position(code: str) -> str:
    term = reference.value_chain_position(code)
    return term.label.lower() if term else code


def _english_sector(code: str) -> str:
    term = reference.sector(code)
    return term.label if term else code


def _english_language(code: str) -> str:
    try:
        return Locale.parse(code).get_display_name("en") or code
    except (ValueError, UnknownLocaleError):
        return code


@dataclass(frozen=True)
class Words:
    gettext: Callable[..., str] = _english
    ngettext: Callable[..., str] = _english_plural
    economy: Callable[[str], str] = reference.economy_name
    sector: Callable[[str], str] = _english_sector
    position: Callable[[str], str] = _english_position
    language: Callable[[str], str] = _english_language
    score: Callable[[float], str] = "{:.2f}".format
    signed: Callable[[float], str] = "{:+.2f}".format


ENGLISH = Words()


def reader_words() -> Words:
    """Words in the language of the current request's reader."""
    from flask_babel import gettext, ngettext

    from partnermatch import i18n

    return Words(
        gettext=gettext,
        ngettext=ngettext,
        economy=i18n.economy_name,
        sector=i18n.sector_label,
        position=lambda code: i18n.value_chain_label(code).lower(),
        language=i18n.language_name,
        score=i18n.format_score,
        signed=lambda value: i18n.format_score(value, 2, sign=True),
    )


STRENGTH_LABELS = {
    strength.STRONG: N_("Strong match"),
    strength.GOOD: N_("Good match"),
    strength.WEAK: N_("Weak match"),
}
ROLE_LABELS = {
    roles.PROVIDER: N_("Provider"),
    roles.CUSTOMER: N_("Customer"),
    roles.MUTUAL: N_("Both ways"),
    roles.PEER: N_("Peer"),
    roles.COMPETITOR: N_("Competitor"),
}
ROLE_EXPLANATIONS = {
    roles.PROVIDER: N_("offers what the need asks for"),
    roles.CUSTOMER: N_("needs what is offered: a possible customer"),
    roles.MUTUAL: N_("each offers what the other needs"),
    roles.PEER: N_("has the same need: a peer, not a provider"),
    roles.COMPETITOR: N_("offers much the same: a competitor, not a provider"),
}
MORE_PASSAGES = (
    N_plural(
        "%(num)d more passage of this profile match too",
        "%(num)d more passages of this profile match too",
    ),
    "%(num)d more passages of this profile match too",
)
SOURCE_NAMES = {
    PassageSource.ABOUT: N_("Profile"),
    PassageSource.OFFERS: N_("Offers"),
    PassageSource.NEEDS: N_("Needs"),
}


def strength_label(band: str, words: Words = ENGLISH) -> str:
    return words.gettext(STRENGTH_LABELS.get(band, STRENGTH_LABELS[strength.WEAK]))


def role_label(role: str, words: Words = ENGLISH) -> str:
    return words.gettext(ROLE_LABELS.get(role, ROLE_LABELS[roles.PROVIDER]))


def role_explanation(role: str, words: Words = ENGLISH) -> str:
    return words.gettext(ROLE_EXPLANATIONS.get(role, ROLE_EXPLANATIONS[roles.PROVIDER]))


def render_detail(message: str, values: Mapping[str, Any], words: Words = ENGLISH) -> str:
    """Fill a factor's detail message with its values, each named in the reader's words."""
    shown: dict[str, str] = {}
    for name, value in values.items():
        if name.endswith("_economy"):
            shown[name] = words.economy(str(value))
        elif name.endswith("_position"):
            shown[name] = words.position(str(value))
        elif name.endswith("_role"):
            shown[name] = role_label(str(value), words).lower()
        elif isinstance(value, float):
            shown[name] = words.score(value)
        else:
            shown[name] = str(value)
    return words.gettext(message, **shown) if shown else words.gettext(message)


def factor_detail(factor: Factor | Mapping[str, Any], words: Words = ENGLISH) -> str:
    """A factor's detail: a Factor, or one as stored on a match (older matches stored only
    the English text)."""
    if isinstance(factor, Mapping):
        message, values = factor.get("detail_message"), factor.get("detail_values") or {}
        if not message:
            return str(factor.get("detail", ""))
        return render_detail(message, values, words)
    return render_detail(factor.detail_message, factor.detail_values, words)


@dataclass(frozen=True)
class Perspective:
    """Who reads: the asking profile itself, or someone else (then names are used)."""

    asker_name: str
    partner_name: str
    reader_is_asker: bool


def factor_label(
    feature: str, perspective: Perspective, words: Words = ENGLISH, *, has_needs: bool = True
) -> str:
    """A factor's name, from the reader's point of view."""
    p = perspective
    if feature == "need":
        if p.reader_is_asker:
            return words.gettext(
                N_("Your needs ↔ their offers") if has_needs else N_("Your profile ↔ their offers")
            )
        return words.gettext(
            N_("%(asker)s's needs ↔ %(partner)s's offers")
            if has_needs
            else N_("%(asker)s's profile ↔ %(partner)s's offers"),
            asker=p.asker_name,
            partner=p.partner_name,
        )
    if feature == "mutual":
        if p.reader_is_asker:
            return words.gettext(N_("Two-sided: their needs ↔ your offers"))
        return words.gettext(
            N_("Two-sided: %(partner)s's needs ↔ %(asker)s's offers"),
            asker=p.asker_name,
            partner=p.partner_name,
        )
    labels = {
        "chain": N_("Value chain"),
        "across": N_("Across economies"),
        "role": N_("Role"),
        "diversity": N_("Diversity"),
    }
    return words.gettext(labels.get(feature, N_("Other")))


def stored_factor_label(factor: Mapping[str, Any], perspective: Perspective, words: Words) -> str:
    """The label of a factor stored on a match (older matches: their stored label)."""
    feature = factor.get("feature") or ""
    if feature in {"need", "mutual", "chain", "across", "role", "diversity"}:
        has_needs = "profile" not in str(factor.get("label", "")).lower()
        return factor_label(feature, perspective, words, has_needs=has_needs)
    return words.gettext(str(factor.get("label", "")))


def quote_title(quote: Quote, perspective: Perspective, words: Words = ENGLISH) -> str:
    """Whose words a quote are and where they come from: "Your needs", "Their evidence:
    <title>", "Gangshan Lightcast's needs"..."""
    p = perspective
    mine = quote.whose == ASKER
    if p.reader_is_asker:
        if quote.source is PassageSource.EVIDENCE:
            message = N_("Your evidence: %(title)s") if mine else N_("Their evidence: %(title)s")
            return words.gettext(message, title=quote.title)
        messages = {
            (True, PassageSource.ABOUT): N_("Your profile"),
            (True, PassageSource.OFFERS): N_("Your offers"),
            (True, PassageSource.NEEDS): N_("Your needs"),
            (False, PassageSource.ABOUT): N_("Their profile"),
            (False, PassageSource.OFFERS): N_("Their offers"),
            (False, PassageSource.NEEDS): N_("Their needs"),
        }
        return words.gettext(messages[(mine, quote.source)])
    name = p.asker_name if mine else p.partner_name
    if quote.source is PassageSource.EVIDENCE:
        return words.gettext(N_("%(name)s's evidence: %(title)s"), name=name, title=quote.title)
    messages_named = {
        PassageSource.ABOUT: N_("%(name)s's profile"),
        PassageSource.OFFERS: N_("%(name)s's offers"),
        PassageSource.NEEDS: N_("%(name)s's needs"),
    }
    return words.gettext(messages_named[quote.source], name=name)


def perspective_of(recommendation: Recommendation, reader_profile_id: int | None) -> Perspective:
    return Perspective(
        recommendation.asker_name,
        recommendation.profile.name,
        reader_profile_id is not None and reader_profile_id == recommendation.asker_id,
    )


def recommendation_reasons(
    recommendation: Recommendation,
    words: Words = ENGLISH,
    reader_profile_id: int | None = None,
) -> list[str]:
    """Each reason a partner is recommended, one sentence a factor, for this reader."""
    perspective = perspective_of(recommendation, reader_profile_id)
    has_needs = recommendation.has_needs
    reasons = [
        f"{factor_label(f.feature, perspective, words, has_needs=has_needs)}: "
        f"{words.signed(f.contribution)} ({factor_detail(f, words)})"
        for f in recommendation.factors
        if f.contribution
    ]
    reasons.insert(
        0,
        f"{role_label(recommendation.role, words)}: {role_explanation(recommendation.role, words)}",
    )
    if recommendation.answered_ask is not None:
        reasons.insert(1, answered_ask(recommendation.answered_ask, recommendation.asks, words))
    if recommendation.terms:
        reasons.append(
            words.gettext(N_("Exact terms: %(terms)s"), terms=", ".join(recommendation.terms))
        )
    if recommendation.across_languages:
        theirs, asker = recommendation.across_languages
        reasons.insert(
            0,
            words.gettext(
                N_(
                    "Matched across languages: their words are in %(language)s, "
                    "the need in %(own_language)s"
                ),
                language=words.language(theirs),
                own_language=words.language(asker),
            ),
        )
    return reasons


def answered_ask(number: int, asks: tuple[str, ...], words: Words = ENGLISH) -> str:
    """Which of a need's asks a partner answers best."""
    return words.gettext(
        N_("Answers ask %(number)s of %(count)s: %(ask)s"),
        number=str(number + 1),
        count=str(len(asks)),
        ask=asks[number],
    )


def evidence_title(evidence: Evidence, words: Words = ENGLISH) -> str:
    """Where a quote comes from: the part of the profile, or the evidence item's title."""
    if evidence.source is PassageSource.EVIDENCE:
        return evidence.title
    return words.gettext(SOURCE_NAMES.get(evidence.source, evidence.title))


def search_reasons(result: SearchResult, words: Words = ENGLISH) -> list[str]:
    """The facts that connect a profile to a search, one sentence each."""
    reasons: list[str] = []
    if result.across_languages:
        theirs, query = result.across_languages
        reasons.append(
            words.gettext(
                N_("Matched across languages (%(language)s): searched in %(query_language)s"),
                language=words.language(theirs),
                query_language=words.language(query),
            )
        )
    if result.role != roles.PROVIDER:
        reasons.append(f"{role_label(result.role, words)}: {role_explanation(result.role, words)}")
    if result.answered_ask is not None:
        reasons.append(answered_ask(result.answered_ask, result.asks, words))
    if result.terms:
        reasons.append(words.gettext(N_("Exact terms: %(terms)s"), terms=", ".join(result.terms)))
    if result.sectors:
        reasons.append(
            words.gettext(
                N_("Sector: %(sectors)s"), sectors=", ".join(map(words.sector, result.sectors))
            )
        )
    if result.positions:
        reasons.append(
            words.gettext(
                N_("Value chain: %(positions)s"),
                positions=", ".join(words.position(code) for code in result.positions),
            )
        )
    if result.economy:
        reasons.append(
            words.gettext(N_("Economy: %(economy)s"), economy=words.economy(result.economy))
        )
    elif result.outside:
        reasons.append(
            words.gettext(
                N_("Across economies: %(economy)s, outside %(excluded)s"),
                economy=words.economy(result.profile.economy),
                excluded=", ".join(map(words.economy, result.outside)),
            )
        )
    if result.keywords:
        reasons.append(
            words.gettext(N_("Keywords: %(keywords)s"), keywords=", ".join(result.keywords))
        )
    if result.supporting:
        reasons.append(words.ngettext(*MORE_PASSAGES, result.supporting))
    return reasons


def _profile_record(profile: Any) -> dict[str, Any]:
    return {
        "id": profile.id,
        "external_id": profile.external_id,
        "name": profile.name,
        "kind": profile.kind.value,
        "affiliation": profile.affiliation.value,
        "economy": profile.economy,
    }


def search_result_record(result: SearchResult) -> dict[str, Any]:
    """A search result as the API and the command line give it (English)."""
    return {
        **_profile_record(result.profile),
        "score": round(float(result.score), 4),
        "strength": result.strength,
        "role": result.role,
        "terms": list(result.terms),
        "answered_ask": result.asks[result.answered_ask]
        if result.answered_ask is not None
        else None,
        "reasons": search_reasons(result),
        "evidence": [
            {"title": evidence_title(item), "snippet": item.snippet} for item in result.evidence
        ],
    }


def recommendation_record(
    recommendation: Recommendation, reader_profile_id: int | None = None
) -> dict[str, Any]:
    """A recommendation as the API and the command line give it (English)."""
    perspective = perspective_of(recommendation, reader_profile_id)
    answered = recommendation.answered_ask
    return {
        **_profile_record(recommendation.profile),
        "score": round(float(recommendation.score), 4),
        "strength": recommendation.strength,
        "role": recommendation.role,
        "answered_ask": recommendation.asks[answered] if answered is not None else None,
        "terms": list(recommendation.terms),
        "reasons": recommendation_reasons(recommendation, ENGLISH, reader_profile_id),
        "evidence": [
            {"title": quote_title(quote, perspective), "snippet": quote.snippet}
            for quote in recommendation.quotes
        ],
    }
