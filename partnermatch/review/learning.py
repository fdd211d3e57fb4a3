"""Learning from decisions: re-weight the recommendation factors by what coordinators approve.

Each reviewed match stores its factors' values. Once MIN_DECISIONS approve/reject decisions
exist, a logistic regression of approval on those values (need, two-sided, value chain,
across economies) gives each factor's effect on the odds of approval. Its non-negative
coefficients, scaled to the default weights' total so that scores keep their range, are
blended with the defaults in proportion n / (n + PRIOR_DECISIONS): a few decisions nudge
the weights, many decisions set them.

The parties' outcome answers teach it too: each party's answer on an introduced match is one
more observation of that match's factor values, a success when it says a meeting was held or a
partnership formed, a failure when it says no fit. Both parties answering counts twice: each
side's experience is evidence of its own. A coordinator's outcome adds no row: the
coordinator's approval of the match is already one.
Feedback after an event's meetings (events/feedback.py) records each party's answer on the
pair's introduction the same way, so it teaches as those answers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app
from scipy.optimize import minimize
from sqlalchemy import func, select

from partnermatch.extensions import db
from partnermatch.matching.recommend import DEFAULT_CROSS_ECONOMY_WEIGHT, FactorWeights
from partnermatch.review.models import Match, MatchState

FEATURES = ("need", "mutual", "chain", "across")
LEARNED_WEIGHTS_KEY = "learned_weights"
MIN_DECISIONS = 50
PRIOR_DECISIONS = 100
RIDGE = 0.1  # keeps coefficients finite when the decisions separate perfectly


@dataclass(frozen=True)
class Decisions:
    values: np.ndarray  # one row per decision, one column per FEATURE
    approved: np.ndarray  # 1 approved (or an outcome that worked), 0 rejected (or no fit)
    answers: int = 0  # how many of the rows are parties' outcome answers


def reviewed_decisions() -> Decisions:
    """Return the factor values and the verdict of every reviewed match that stored them,
    and one more row per party's outcome answer."""
    rows = db.session.execute(
        select(Match.state, Match.factors, Match.sme_outcome, Match.partner_outcome).where(
            Match.state != MatchState.SUGGESTED
        )
    )
    values, verdicts, answers = [], [], 0
    for state, factors, *outcomes in rows:
        by_feature = {f.get("feature"): f.get("value") for f in factors or [] if f.get("feature")}
        if all(isinstance(by_feature.get(name), int | float) for name in FEATURES):
            row = [float(by_feature[name]) for name in FEATURES]
            values.append(row)
            verdicts.append(0.0 if state is MatchState.REJECTED else 1.0)
            for outcome in outcomes:
                if outcome:
                    values.append(row)
                    verdicts.append(0.0 if outcome == MatchState.NO_FIT.value else 1.0)
                    answers += 1
    return Decisions(
        np.asarray(values, dtype=float).reshape(-1, len(FEATURES)), np.asarray(verdicts), answers
    )


def fit_coefficients(decisions: Decisions) -> np.ndarray:
    """Fit a ridge-regularised logistic regression; return the FEATURES' coefficients."""
    x = np.hstack([decisions.values, np.ones((len(decisions.values), 1))])
    y = decisions.approved

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ beta
        p = 1 / (1 + np.exp(-z))
        nll = np.sum(np.logaddexp(0, z) - y * z) + RIDGE * np.sum(beta[:-1] ** 2)
        gradient = x.T @ (p - y) + 2 * RIDGE * np.r_[beta[:-1], 0.0]
        return float(nll), gradient

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
    return result.x[:-1]


def learned_weights(decisions: Decisions, defaults: FactorWeights) -> FactorWeights:
    """Blend the defaults with weights fitted to the decisions."""
    count = len(decisions.approved)
    default_values = np.array([getattr(defaults, name) for name in FEATURES])
    if count < MIN_DECISIONS or len(set(decisions.approved.tolist())) < 2:
        reason = (
            f"{count} decisions so far; learning starts at {MIN_DECISIONS}"
            if count < MIN_DECISIONS
            else f"all {count} decisions went the same way"
        )
        return FactorWeights(*default_values, source=f"the defaults ({reason})")
    coefficients = np.clip(fit_coefficients(decisions), 0, None)
    if coefficients.sum() == 0:
        return FactorWeights(
            *default_values, source=f"the defaults (no factor predicts the {count} decisions)"
        )
    fitted = coefficients / coefficients.sum() * default_values.sum()
    share = count / (count + PRIOR_DECISIONS)
    blended = (1 - share) * default_values + share * fitted
    return FactorWeights(
        *np.round(blended, 4),
        source=(
            f"learned from {count - decisions.answers} coordinator decisions"
            + (f" and {decisions.answers} outcome answers" if decisions.answers else "")
            + f" ({share:.0%} learned, {1 - share:.0%} defaults)"
        ),
    )


def current_weights(settings: Mapping[str, Any]) -> FactorWeights:
    """Return the weights recommendations use now (refitted when the decisions change)."""
    defaults = FactorWeights(
        across=float(settings.get("RECOMMEND_CROSS_ECONOMY_WEIGHT", DEFAULT_CROSS_ECONOMY_WEIGHT))
    )
    marker = db.session.execute(
        select(func.count(Match.id), func.max(Match.updated_at)).where(
            Match.state != MatchState.SUGGESTED
        )
    ).one()
    key = (*marker, defaults.across)
    # The app's latest fit, kept with the app (one programme per app: only the latest fit
    # is worth keeping).
    kept = current_app.extensions.get(LEARNED_WEIGHTS_KEY)
    if kept is None or kept[0] != key:
        kept = (key, learned_weights(reviewed_decisions(), defaults))
        current_app.extensions[LEARNED_WEIGHTS_KEY] = kept
    return kept[1]
