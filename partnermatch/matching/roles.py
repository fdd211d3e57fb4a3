"""Roles: what a partner would be to the asker, and how their value chains fit.

For a partner C of an asking profile P (a recommendation), or a profile C found by P's
search:

- provider: C's offers and evidence answer P's need;
- customer: P's offers answer C's needs, not the other way round;
- mutual: both;
- peer: C has the same need as P (another SME with the same problem);
- competitor: C offers what P offers: a shared sector, overlapping value-chain positions and
  similar offers.

Peers and competitors are ranked below providers (DEMOTION) unless the need asks for one:
"capacity partner", "co-bidder", "second source" and their kin (ASKS_FOR_PEERS).

Value-chain fit rewards the positions C holds that P lacks and that border P's, and lowers
the fit by the share of C's positions that P holds too (see chain_fit; README has a table).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from partnermatch.reference import CHAIN_POSITIONS, N_

PROVIDER = "provider"
CUSTOMER = "customer"
MUTUAL = "mutual"
PEER = "peer"
COMPETITOR = "competitor"
ROLES = (PROVIDER, CUSTOMER, MUTUAL, PEER, COMPETITOR)
DEMOTED_ROLES = frozenset({PEER, COMPETITOR})

# A peer or competitor's score is lowered by this much. This and the thresholds below are
# chosen on half of bench/bench_relevance.py's judged needs and reported on the other half.
DEMOTION = 0.5
# Recommendations judge a pair of profiles, whose needs often read alike (two firms of one
# sector both want "more customers in Europe"): their own, stricter thresholds and a smaller
# demotion (their score is a weighted sum on a smaller scale than a search's), chosen on
# bench/bench_relevance.py's 15 askers.
RECOMMEND_DEMOTION = 0.1
RECOMMEND_PEER_MARGIN = 0.2
RECOMMEND_COMPETITOR_SIMILARITY = 0.55
# How much more the need matches a profile's own needs than its offers (see peer_margin):
# from this on, the profile is a peer.
PEER_MARGIN = -0.2
PEER_LEXICAL = 1.0  # how much the lexical leg's difference counts beside the dense one's
# A competitor: its offers match the asker's at least this closely (and at least about as
# closely as they match the need), with a shared sector and overlapping positions.
COMPETITOR_SIMILARITY = 0.45
COMPETITOR_MARGIN = 0.05
# A customer: the asker's offers answer its needs this well, while it answers the asker's
# need less well than that.
CUSTOMER_SIMILARITY = 0.45

ASKS_FOR_PEERS = re.compile(
    r"\b(capacity partners?|overflow capacity|extra capacity|co-?bidders?|co-?bid|joint bids?|"
    r"bid(?:ding)? together|second[- ]sources?|dual[- ]sourc\w*|alternative suppliers?|"
    r"backup suppliers?|consortium partners?|peers?|same problem|share (?:the )?costs?)\b",
    re.IGNORECASE,
)

# Chain fit of a position C adds, by its distance along the chain to P's nearest position.
_ALONG_CHAIN = {1: 1.0, 2: 0.5}
_FAR_ALONG_CHAIN = 0.2
SUPPORT_FOR_CHAIN = 0.8  # a support function (R&D, design, testing, policy) serves the chain
CHAIN_FOR_SUPPORT = 0.6  # a chain position for a support-only profile (a lab's customer)
SUPPORT_WITH_SUPPORT = 0.4  # two different support functions work together now and then
OVERLAP_PENALTY = 0.6


def asks_for_peers(text: str) -> bool:
    """True when a need asks for a capacity partner, a co-bidder, a second source..."""
    return bool(ASKS_FOR_PEERS.search(text or ""))


def _border(position: str, theirs: Sequence[str]) -> tuple[float, str | None]:
    """How well one position C adds borders P's positions, and the one it borders best."""
    best, next_to = 0.0, None
    for mine in theirs:
        if position in CHAIN_POSITIONS and mine in CHAIN_POSITIONS:
            gap = abs(CHAIN_POSITIONS.index(position) - CHAIN_POSITIONS.index(mine))
            fit = _ALONG_CHAIN.get(gap, _FAR_ALONG_CHAIN)
        elif position not in CHAIN_POSITIONS and mine in CHAIN_POSITIONS:
            fit = SUPPORT_FOR_CHAIN
        elif position in CHAIN_POSITIONS:
            fit = CHAIN_FOR_SUPPORT
        else:
            fit = SUPPORT_WITH_SUPPORT
        if fit > best:
            best, next_to = fit, mine
    return best, next_to


@dataclass(frozen=True)
class ChainFit:
    value: float  # 0 to 1
    message: str  # why, with %(name)s fields (see partnermatch.presentation)
    values: dict[str, str] = field(default_factory=dict)


def chain_fit(
    asker: Sequence[str], partner: Sequence[str], asked_positions: Sequence[str] = ()
) -> ChainFit:
    """Return how well a partner's value-chain positions complement the asker's.

        fit = max over the positions C adds (not P's) of how each borders P's
              - OVERLAP_PENALTY x (share of C's positions that P holds too), at least 0

    A position borders P's best when it is P's neighbour on the chain (1.0), less two steps
    away (0.5), little further (0.2); a support function serving a chain position 0.8, a
    chain position for a support-only asker 0.6, two different support functions 0.4. A
    position that P's needs ask for ("a distribution partner") fits 1.0.
    """
    if not asker or not partner:
        return ChainFit(0.0, N_("no positions given"))
    for position in partner:
        if position in asked_positions:
            return ChainFit(
                1.0, N_("the need asks for %(their_position)s"), {"their_position": position}
            )
    added = [position for position in partner if position not in asker]
    shared = [position for position in partner if position in asker]
    complement, adds, next_to = 0.0, None, None
    for position in added:
        fit, mine = _border(position, asker)
        if fit > complement:
            complement, adds, next_to = fit, position, mine
    overlap = len(shared) / len(partner)
    value = max(0.0, complement - OVERLAP_PENALTY * overlap)
    if adds is None:
        return ChainFit(
            value, N_("same positions: %(shared_position)s"), {"shared_position": shared[0]}
        )
    if shared:
        return ChainFit(
            value,
            N_("adds %(their_position)s to %(your_position)s, also in %(shared_position)s"),
            {"their_position": adds, "your_position": next_to, "shared_position": shared[0]},  # type: ignore[dict-item]
        )
    return ChainFit(
        value,
        N_("adds %(their_position)s to %(your_position)s"),
        {"their_position": adds, "your_position": next_to},  # type: ignore[dict-item]
    )


@dataclass(frozen=True)
class RoleSignals:
    """What a role is judged by: similarities on MiniLM's scale and lexical coverages, 0
    when not measured."""

    need: float  # the asked need against C's offers and evidence
    back: float = 0.0  # C's needs against P's offers (a customer's pull)
    same_need: float = 0.0  # the asked need against C's own needs
    same_offer: float = 0.0  # P's offers against C's offers and evidence
    shared_sector: bool = False
    overlapping_positions: bool = False
    need_lexical: float = 0.0  # the lexical leg's coverage of the need by C's offers
    same_need_lexical: float = 0.0  # ... by C's own needs

    @property
    def peer_margin(self) -> float:
        """How much more the need matches C's own needs than C's offers, both legs."""
        return (self.same_need - self.need) + PEER_LEXICAL * (
            self.same_need_lexical - self.need_lexical
        )


def classify(
    signals: RoleSignals,
    *,
    with_customers: bool = True,
    peer_margin: float | None = None,
    competitor_similarity: float | None = None,
) -> str:
    """Return the partner's role (see the module); a search has no customers. The
    thresholds default to PEER_MARGIN and COMPETITOR_SIMILARITY."""
    peer_margin = PEER_MARGIN if peer_margin is None else peer_margin
    competitor_similarity = (
        COMPETITOR_SIMILARITY if competitor_similarity is None else competitor_similarity
    )
    competitor = (
        signals.same_offer >= competitor_similarity
        and signals.shared_sector
        and signals.overlapping_positions
        and signals.same_offer >= signals.need - COMPETITOR_MARGIN
    )
    if competitor:
        return COMPETITOR
    if signals.same_need > 0 and signals.peer_margin >= peer_margin:
        return PEER
    if with_customers and signals.back >= CUSTOMER_SIMILARITY:
        return MUTUAL if signals.need >= CUSTOMER_SIMILARITY else CUSTOMER
    return PROVIDER


def demotion(role: str, need_text: str, amount: float | None = None) -> float:
    """Return what a role takes off a partner's score for this need (DEMOTION, or `amount`;
    0 when the need asks for peers, and for providers and customers)."""
    if role in DEMOTED_ROLES and not asks_for_peers(need_text):
        return DEMOTION if amount is None else amount
    return 0.0
