"""A match between an SME and a partner, moving through review, consent and outcome.

    suggested --approve--> approved --both accept--> introduced --outcome--> meeting_held
        |                     |                          |                       |
        +--reject--> rejected +--either declines-->      +--> partnership_formed / no_fit
                                  declined

Contact details are shared only from `introduced` on. The states after which a pair may be
matched again are CLOSED_STATES; the schema allows one open match per pair.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnermatch.extensions import db, enum_column
from partnermatch.reference import N_
from partnermatch.timeutil import utcnow

if TYPE_CHECKING:
    from partnermatch.auth.models import User
    from partnermatch.profiles.models import Profile


class MatchState(StrEnum):
    SUGGESTED = "suggested"
    APPROVED = "approved"  # introduction sent to both parties, waiting for their answers
    REJECTED = "rejected"
    DECLINED = "declined"
    INTRODUCED = "introduced"
    MEETING_HELD = "meeting_held"
    PARTNERSHIP_FORMED = "partnership_formed"
    NO_FIT = "no_fit"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {
    MatchState.SUGGESTED: N_("Waiting for review"),
    MatchState.APPROVED: N_("Introduction sent"),
    MatchState.REJECTED: N_("Not approved"),
    MatchState.DECLINED: N_("Declined"),
    MatchState.INTRODUCED: N_("Introduced"),
    MatchState.MEETING_HELD: N_("Meeting held"),
    MatchState.PARTNERSHIP_FORMED: N_("Partnership formed"),
    MatchState.NO_FIT: N_("No fit"),
}
CLOSED_STATES = (
    MatchState.REJECTED,
    MatchState.DECLINED,
    MatchState.PARTNERSHIP_FORMED,
    MatchState.NO_FIT,
)
# From here on both parties have agreed: each may see the other's contact details.
CONTACT_STATES = (
    MatchState.INTRODUCED,
    MatchState.MEETING_HELD,
    MatchState.PARTNERSHIP_FORMED,
    MatchState.NO_FIT,
)
OUTCOMES = (MatchState.MEETING_HELD, MatchState.PARTNERSHIP_FORMED, MatchState.NO_FIT)


class MatchOrigin(StrEnum):
    REQUESTED = "requested"  # an SME asked for this introduction
    SUGGESTED = "suggested"  # the cohort assignment proposed it


class Response(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


_CLOSED_SQL = ", ".join(f"'{state.value}'" for state in CLOSED_STATES)


class Match(db.Model):
    __tablename__ = "matches"
    __table_args__ = (
        # One open match per pair: a pair comes back only once its last match is closed.
        Index(
            "uq_matches_open_pair",
            "sme_profile_id",
            "partner_profile_id",
            unique=True,
            sqlite_where=text(f"state NOT IN ({_CLOSED_SQL})"),
            postgresql_where=text(f"state NOT IN ({_CLOSED_SQL})"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sme_profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    partner_profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[MatchState] = mapped_column(
        enum_column(MatchState, "match_state"), default=MatchState.SUGGESTED, index=True
    )
    origin: Mapped[MatchOrigin] = mapped_column(enum_column(MatchOrigin, "match_origin"))
    score: Mapped[float | None] = mapped_column(Float)
    # The "why this match" factors at the time of the suggestion: [{label, contribution, detail,
    # detail_message, detail_values, value, feature}] (see review.services.factors_json)
    factors: Mapped[list[dict]] = mapped_column(JSON, default=list)
    request_note: Mapped[str] = mapped_column(Text, default="")
    sme_response: Mapped[Response] = mapped_column(
        enum_column(Response, "sme_response"), default=Response.PENDING
    )
    partner_response: Mapped[Response] = mapped_column(
        enum_column(Response, "partner_response"), default=Response.PENDING
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    sme: Mapped[Profile] = relationship(foreign_keys=[sme_profile_id])
    partner: Mapped[Profile] = relationship(foreign_keys=[partner_profile_id])
    created_by: Mapped[User | None] = relationship()
    events: Mapped[list[MatchEvent]] = relationship(
        back_populates="match",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MatchEvent.id",
    )

    @property
    def is_open(self) -> bool:
        return self.state not in CLOSED_STATES

    @property
    def contacts_shared(self) -> bool:
        return self.state in CONTACT_STATES


# What each action of the history says, after the actor's name ("Ana: approved").
ACTION_LABELS = {
    "suggest": N_("suggested this match"),
    "request": N_("asked for an introduction"),
    "approve": N_("approved the introduction"),
    "reject": N_("did not approve the introduction"),
    "accept": N_("accepted the introduction"),
    "decline": N_("declined the introduction"),
    "outcome": N_("recorded the outcome"),
    "remind": N_("sent a reminder"),
}
ON_BEHALF_LABELS = {
    "sme": N_("on behalf of the SME"),
    "partner": N_("on behalf of the partner"),
}


class MatchEvent(db.Model):
    """The audit log: every transition of every match, who made it and why."""

    __tablename__ = "match_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    match: Mapped[Match] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()

    @property
    def action_label(self) -> str:
        """What the actor did, in words (English; translated where it is shown)."""
        return ACTION_LABELS.get(self.action.split(" ", 1)[0], self.action)

    @property
    def on_behalf_label(self) -> str | None:
        """For a coordinator answering for a party without an account: for whom."""
        for side, label in ON_BEHALF_LABELS.items():
            if self.action.endswith(f"(on behalf of the {side})"):
                return label
        return None

    @property
    def state_change(self) -> tuple[str, ...]:
        """The state labels before and after, or only the one after when it did not change."""
        after = MatchState(self.to_state).label
        if self.from_state and self.from_state != self.to_state:
            return (MatchState(self.from_state).label, after)
        return (after,)
