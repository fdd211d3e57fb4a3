"""Learning from decisions: the factor weights follow what coordinators approve."""

from __future__ import annotations

import numpy as np
import pytest

from partnermatch.auth.models import Role
from partnermatch.matching.recommend import FactorWeights
from partnermatch.review import learning
from partnermatch.review.learning import Decisions, learned_weights
from partnermatch.review.models import Match, MatchOrigin, MatchState
from tests.factories import make_profile, make_user

DEFAULTS = FactorWeights()


def decisions(count: int, approve) -> Decisions:
    """Random factor values, approved when `approve(values)` says so."""
    rng = np.random.default_rng(5)
    values = np.column_stack(
        [
            rng.uniform(0.2, 0.8, count),
            rng.uniform(0, 0.6, count),
            rng.choice([0.2, 0.6, 1.0], count),
            rng.integers(0, 2, count),
        ]
    )
    return Decisions(values, np.array([1.0 if approve(row) else 0.0 for row in values]))


def test_too_few_decisions_keep_the_defaults():
    weights = learned_weights(decisions(20, lambda row: row[3] == 1), DEFAULTS)

    assert (weights.need, weights.mutual, weights.chain, weights.across) == (0.6, 0.25, 0.1, 0.05)
    assert weights.source == "the defaults (20 decisions so far; learning starts at 50)"


def test_coordinators_who_favour_cross_economy_pairs_raise_that_weight():
    weights = learned_weights(decisions(400, lambda row: row[3] == 1 and row[0] > 0.3), DEFAULTS)

    assert weights.across > 0.2 > DEFAULTS.across
    total = weights.need + weights.mutual + weights.chain + weights.across
    assert total == pytest.approx(1.0, abs=1e-3)  # scores keep their range
    assert weights.source.startswith("learned from 400 coordinator decisions (80% learned")


def test_unanimous_decisions_teach_nothing():
    weights = learned_weights(decisions(80, lambda row: True), DEFAULTS)

    assert weights.source == "the defaults (all 80 decisions went the same way)"


def stored_factors(across: float) -> list[dict]:
    """A match's stored factors: only crossing economies varies between pairs."""
    return [
        {"label": "x", "contribution": 0, "detail": "", "value": v, "feature": f}
        for f, v in (("need", 0.5), ("mutual", 0.2), ("chain", 0.6), ("across", across))
    ]


def test_current_weights_come_from_the_reviewed_matches(app, db):
    coordinator = make_user(Role.COORDINATOR)
    smes = [make_profile(name=f"SME {n}", economy="VN") for n in range(30)]
    partners = [
        make_profile("expert", name=f"Partner {n}", economy="JP" if n % 2 else "VN")
        for n in range(2)
    ]
    for sme in smes:
        for partner in partners:
            across = float(partner.economy != sme.economy)
            db.session.add(
                Match(
                    sme=sme,
                    partner=partner,
                    origin=MatchOrigin.SUGGESTED,
                    state=MatchState.APPROVED if across else MatchState.REJECTED,
                    created_by=coordinator,
                    factors=stored_factors(across),
                )
            )
    db.session.commit()

    weights = learning.current_weights(app.config)

    assert weights.source.startswith("learned from 60 coordinator decisions")
    assert weights.across > DEFAULTS.across
    assert learning.current_weights(app.config) is weights  # cached until the decisions change


def test_the_parties_answers_teach_what_the_coordinators_approvals_cannot(app, db):
    """Coordinators approved every pair (alone, nothing to learn); the parties said the
    cross-economy pairs formed partnerships and the others were no fit."""
    coordinator = make_user(Role.COORDINATOR)
    partners = [
        make_profile("expert", name=f"Partner {n}", economy="JP" if n % 2 else "VN")
        for n in range(2)
    ]
    for number in range(30):
        sme = make_profile(name=f"SME {number}", economy="VN")
        for partner in partners:
            across = float(partner.economy != sme.economy)
            answer = "partnership_formed" if across else "no_fit"
            db.session.add(
                Match(
                    sme=sme,
                    partner=partner,
                    origin=MatchOrigin.SUGGESTED,
                    state=MatchState.PARTNERSHIP_FORMED if across else MatchState.NO_FIT,
                    sme_outcome=answer,
                    # Half the partners answered too: each answer is one more observation.
                    partner_outcome=answer if number % 2 else None,
                    created_by=coordinator,
                    factors=stored_factors(across),
                )
            )
    db.session.commit()

    found = learning.reviewed_decisions()
    weights = learning.current_weights(app.config)

    assert (len(found.approved), found.answers) == (60 + 60 + 30, 90)
    assert found.approved.tolist().count(0.0) == 30 + 15  # the no-fit answers
    assert weights.source.startswith("learned from 60 coordinator decisions and 90 outcome answers")
    assert weights.across > DEFAULTS.across
