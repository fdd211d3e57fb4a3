"""An event's schema: sessions, participants, requests to meet, and meetings at tables.

Times of day (sessions) are in the event's own time zone (an IANA name such as
"Asia/Taipei"); instants (windows, meeting slots) are stored in UTC.

    MeetingRequest: requested --approve--> approved --accept--> accepted
                        |                     +----decline----> declined
                        +--(no review)--accept / decline
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnermatch.extensions import db, enum_column
from partnermatch.reference import N_
from partnermatch.timeutil import utcnow

if TYPE_CHECKING:
    from partnermatch.profiles.models import Profile

MEETING_LENGTHS = (15, 20, 30)


class Pairing(StrEnum):
    ANY = "any"  # anyone may meet anyone
    SME_EXPERT = "sme_expert"  # only an SME with an expert

    @property
    def label(self) -> str:
        return PAIRING_LABELS[self]


PAIRING_LABELS = {
    Pairing.ANY: N_("Anyone may meet anyone"),
    Pairing.SME_EXPERT: N_("SMEs meet experts only"),
}


class RequestState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # passed the coordinator's review, waiting for the other's answer
    ACCEPTED = "accepted"
    DECLINED = "declined"


class MeetingState(StrEnum):
    PROPOSED = "proposed"  # placed by the scheduler, not yet shown to the parties
    PUBLISHED = "published"


class AgendaState(StrEnum):
    """How far the coordinators have published the event's agenda."""

    UNPUBLISHED = "unpublished"
    PRELIMINARY = "preliminary"
    FINAL = "final"

    @property
    def label(self) -> str:
        return AGENDA_LABELS[self]


AGENDA_LABELS = {
    AgendaState.UNPUBLISHED: N_("Not published"),
    AgendaState.PRELIMINARY: N_("Preliminary agenda"),
    AgendaState.FINAL: N_("Final agenda"),
}


class Preference(StrEnum):
    """A participant's mark on another: a "no thanks" from either side rules the pair out."""

    MUST = "must"
    WOULD = "would"
    NO = "no"

    @property
    def label(self) -> str:
        return PREFERENCE_LABELS[self]


PREFERENCE_LABELS = {
    Preference.MUST: N_("Must meet"),
    Preference.WOULD: N_("Would meet"),
    Preference.NO: N_("No thanks"),
}


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("meeting_minutes IN (15, 20, 30)", name="meeting_length"),
        CheckConstraint("tables BETWEEN 1 AND 1000", name="tables_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    meeting_minutes: Mapped[int] = mapped_column(Integer, default=20)
    tables: Mapped[int] = mapped_column(Integer, default=10)
    registration_opens: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registration_closes: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requests_open: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requests_close: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pairing: Mapped[Pairing] = mapped_column(
        enum_column(Pairing, "event_pairing"), default=Pairing.ANY
    )
    review_requests: Mapped[bool] = mapped_column(Boolean, default=False)
    agenda: Mapped[AgendaState] = mapped_column(
        enum_column(AgendaState, "event_agenda_state"),
        default=AgendaState.UNPUBLISHED,
        server_default=AgendaState.UNPUBLISHED.value,
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    sessions: Mapped[list[EventSession]] = relationship(
        back_populates="event",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(EventSession.day, EventSession.start)",
    )
    participants: Mapped[list[Participant]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def first_day(self) -> date | None:
        return self.sessions[0].day if self.sessions else None

    @property
    def last_day(self) -> date | None:
        return self.sessions[-1].day if self.sessions else None


participant_sessions = Table(
    "participant_sessions",
    db.metadata,
    Column(
        "participant_id",
        ForeignKey("event_participants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("session_id", ForeignKey("event_sessions.id", ondelete="CASCADE"), primary_key=True),
)


class EventSession(db.Model):
    """A block of meetings on one day; a break is the gap between two sessions."""

    __tablename__ = "event_sessions"
    __table_args__ = (CheckConstraint('start < "end"', name="starts_before_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    start: Mapped[time] = mapped_column(Time)
    end: Mapped[time] = mapped_column(Time)

    event: Mapped[Event] = relationship(back_populates="sessions")


class Participant(db.Model):
    __tablename__ = "event_participants"
    __table_args__ = (
        UniqueConstraint("event_id", "profile_id", name="one_registration"),
        CheckConstraint(
            "meeting_cap IS NULL OR meeting_cap BETWEEN 0 AND 100", name="meeting_cap_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    meeting_cap: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    event: Mapped[Event] = relationship(back_populates="participants")
    profile: Mapped[Profile] = relationship()
    sessions: Mapped[list[EventSession]] = relationship(secondary=participant_sessions)


# Meetings of three: at most one third party per request and per meeting (the key), who
# leaves it when its registration goes. Tables of their own rather than columns, so that
# SQLite adds them without copying the busy meetings tables. That the third is neither of
# the two is the services' rule (participation.check_third).
request_third_parties = Table(
    "meeting_request_third_parties",
    db.metadata,
    Column("request_id", ForeignKey("meeting_requests.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "participant_id",
        ForeignKey("event_participants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)
meeting_third_parties = Table(
    "meeting_third_parties",
    db.metadata,
    Column("meeting_id", ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "participant_id",
        ForeignKey("event_participants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)


class MeetingRequest(db.Model):
    __tablename__ = "meeting_requests"
    __table_args__ = (
        UniqueConstraint("from_participant_id", "to_participant_id", name="one_request_per_pair"),
        CheckConstraint("from_participant_id != to_participant_id", name="not_to_oneself"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    from_participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    to_participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[RequestState] = mapped_column(
        enum_column(RequestState, "meeting_request_state"), default=RequestState.REQUESTED
    )
    # A coordinator turned it down before it reached the recipient.
    declined_in_review: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    event: Mapped[Event] = relationship()
    sender: Mapped[Participant] = relationship(foreign_keys=[from_participant_id])
    recipient: Mapped[Participant] = relationship(foreign_keys=[to_participant_id])
    # A third party a coordinator adds (an SME, a lab and a government programme at one
    # table): it joins the meeting the request becomes.
    third: Mapped[Participant | None] = relationship(secondary=request_third_parties)

    @property
    def third_participant_id(self) -> int | None:
        return self.third.id if self.third is not None else None


class Meeting(db.Model):
    __tablename__ = "meetings"
    __table_args__ = (
        CheckConstraint("first_participant_id != second_participant_id", name="two_parties"),
        CheckConstraint("table_number >= 1", name="table_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("meeting_requests.id", ondelete="SET NULL")
    )
    first_participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    second_participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    slot_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    table_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[MeetingState] = mapped_column(
        enum_column(MeetingState, "meeting_state"), default=MeetingState.PROPOSED
    )
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    no_show: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    event: Mapped[Event] = relationship()
    request: Mapped[MeetingRequest | None] = relationship()
    first: Mapped[Participant] = relationship(foreign_keys=[first_participant_id])
    second: Mapped[Participant] = relationship(foreign_keys=[second_participant_id])
    third: Mapped[Participant | None] = relationship(secondary=meeting_third_parties)

    @property
    def third_participant_id(self) -> int | None:
        return self.third.id if self.third is not None else None

    @property
    def parties(self) -> list[Participant]:
        """The meeting's two or three parties."""
        return [self.first, self.second, *([self.third] if self.third is not None else [])]

    @property
    def party_ids(self) -> set[int]:
        ids = {self.first_participant_id, self.second_participant_id}
        return ids | {self.third_participant_id} if self.third_participant_id else ids


class MeetingPreference(db.Model):
    """One participant's mark ("must meet", "would meet", "no thanks") on another."""

    __tablename__ = "meeting_preferences"
    __table_args__ = (
        UniqueConstraint("participant_id", "other_participant_id", name="one_mark_per_pair"),
        CheckConstraint("participant_id != other_participant_id", name="not_oneself"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    other_participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    choice: Mapped[Preference] = mapped_column(enum_column(Preference, "meeting_preference"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    participant: Mapped[Participant] = relationship(foreign_keys=[participant_id])
    other: Mapped[Participant] = relationship(foreign_keys=[other_participant_id])


class Usefulness(StrEnum):
    """A party's answer to "was the meeting useful?"."""

    YES = "yes"
    PARTLY = "partly"
    NO = "no"

    @property
    def label(self) -> str:
        return USEFULNESS_LABELS[self]


USEFULNESS_LABELS = {
    Usefulness.YES: N_("Useful"),
    Usefulness.PARTLY: N_("Partly useful"),
    Usefulness.NO: N_("Not useful"),
}


class NextStep(StrEnum):
    """A party's answer to "what next?"."""

    PARTNERSHIP = "partnership"  # a partnership discussion
    ANOTHER_MEETING = "another_meeting"
    NO_FIT = "no_fit"

    @property
    def label(self) -> str:
        return NEXT_STEP_LABELS[self]


NEXT_STEP_LABELS = {
    NextStep.PARTNERSHIP: N_("A partnership discussion"),
    NextStep.ANOTHER_MEETING: N_("Another meeting"),
    NextStep.NO_FIT: N_("No fit"),
}


class MeetingFeedback(db.Model):
    """One party's answers after a meeting: was it useful, and what comes next."""

    __tablename__ = "meeting_feedback"
    __table_args__ = (
        UniqueConstraint("meeting_id", "participant_id", name="one_feedback_per_party"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    useful: Mapped[Usefulness] = mapped_column(enum_column(Usefulness, "meeting_usefulness"))
    next_step: Mapped[NextStep] = mapped_column(enum_column(NextStep, "meeting_next_step"))
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    meeting: Mapped[Meeting] = relationship()
    participant: Mapped[Participant] = relationship()


class ItemKind(StrEnum):
    """What a marketplace item says: what the participant offers, or seeks, at the event."""

    OFFER = "offer"
    SEEK = "seek"

    @property
    def label(self) -> str:
        return ITEM_KIND_LABELS[self]


ITEM_KIND_LABELS = {ItemKind.OFFER: N_("We offer"), ItemKind.SEEK: N_("We seek")}
MAX_ITEM = 200  # characters: a line or two, as on a fair's board
MAX_ITEMS = 5  # items per participant and event


class MarketplaceItem(db.Model):
    """A short "we offer" or "we seek" a participant posts for one event."""

    __tablename__ = "event_marketplace_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("event_participants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ItemKind] = mapped_column(enum_column(ItemKind, "marketplace_item_kind"))
    text: Mapped[str] = mapped_column(String(MAX_ITEM))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    event: Mapped[Event] = relationship()
    participant: Mapped[Participant] = relationship()
