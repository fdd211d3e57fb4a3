"""A match between an SME and a partner, moving through review, consent and outcome.

    suggested --approve--> approved --both accept--> introduced --outcome--> meeting_held
        |                     |                          |                       |
        +--reject--> rejected +--either declines-->      +--> partnership_formed / no_fit
                                  declined

Contact details are shared only from `introduced` on. The states after which a pair may be
matched again are CLOSED_STATES; the schema allows one open match per pair.

From `introduced` on the two parties write to each other (MatchMessage) and each records how
the introduction went (sme_outcome, partner_outcome); a coordinator's closing outcome
(staff_outcome) overrides theirs. How the answers combine into the state:
review.services.combined_outcome (and the table in the README).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
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
_OUTCOMES_SQL = ", ".join(f"'{state.value}'" for state in OUTCOMES)


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
        *(
            CheckConstraint(f"{column} IN ({_OUTCOMES_SQL})", name=f"{column}_is_an_outcome")
            for column in ("sme_outcome", "partner_outcome", "staff_outcome")
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
    # How each side says the introduction went, and a coordinator's outcome (which wins): an
    # OUTCOMES value or None while not given.
    sme_outcome: Mapped[str | None] = mapped_column(String(32))
    partner_outcome: Mapped[str | None] = mapped_column(String(32))
    staff_outcome: Mapped[str | None] = mapped_column(String(32))
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
# An outcome event says whose word it is: "outcome sme: no_fit", "outcome staff: ..." (plain
# "outcome" in the history of matches closed before the parties answered for themselves).
OUTCOME_ACTION_LABELS = {
    "sme": N_("answered how it went"),
    "partner": N_("answered how it went"),
    "staff": N_("recorded the outcome"),
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
        verb, _, rest = self.action.partition(" ")
        if verb == "outcome" and rest:
            return OUTCOME_ACTION_LABELS.get(rest.split(":", 1)[0], self.action)
        return ACTION_LABELS.get(verb, self.action)

    @property
    def answer_label(self) -> str | None:
        """For an outcome event, the outcome it gives ("Partnership formed"), else None."""
        verb, _, rest = self.action.partition(" ")
        value = rest.partition(": ")[2]
        if verb != "outcome" or value not in {state.value for state in OUTCOMES}:
            return None
        return MatchState(value).label

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


class MatchMessage(db.Model):
    """A plain-text message from one party of an introduction to the other."""

    __tablename__ = "match_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The side the author wrote for ("sme" or "partner"): the thread stays readable when the
    # account is gone.
    side: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    author: Mapped[User | None] = relationship()


class MatchMessageRead(db.Model):
    """How far a user has read a match's thread: the last message id they have seen."""

    __tablename__ = "match_message_reads"

    match_id: Mapped[int] = mapped_column(
        ForeignKey("matches.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_read_id: Mapped[int] = mapped_column(default=0)
