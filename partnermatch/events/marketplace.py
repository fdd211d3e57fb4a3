"""An event's marketplace: short "we offer" and "we seek" items its participants post.

The list filters by keywords (every word, in the item or its poster's name, as the
profile browser's text filter does). Each participant's items are matched with the other
participants' items of the opposite kind (what it seeks with what others offer, and the
other way round) by the engine's embedder, as passages are (`matching.items`).

No HTTP and no language; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from partnermatch.auth.models import User
from partnermatch.errors import ValidationError
from partnermatch.events.models import (
    MAX_ITEM,
    MAX_ITEMS,
    Event,
    ItemKind,
    MarketplaceItem,
    Participant,
)
from partnermatch.events.participation import EventError, may_act_for
from partnermatch.events.services import event_ends
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.matching.items import TextEncoder, best_counterparts
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import escape_like
from partnermatch.reference import N_
from partnermatch.timeutil import utcnow

OPPOSITE = {ItemKind.OFFER: ItemKind.SEEK, ItemKind.SEEK: ItemKind.OFFER}
# Below this cosine two items share too little to be shown as a match (with the default
# model, unrelated short items score well under it and paraphrases well above).
MIN_SIMILARITY = 0.3


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def is_open(event: Event, now: datetime | None = None) -> bool:
    """Items may be posted and removed until the event ends."""
    ends = event_ends(event)
    return ends is None or (now or utcnow()) < _aware(ends)


def items_of_participant(participant: Participant) -> list[MarketplaceItem]:
    """Return the participant's items, oldest first."""
    return list(
        db.session.scalars(
            select(MarketplaceItem)
            .where(MarketplaceItem.participant_id == participant.id)
            .order_by(MarketplaceItem.id)
        )
    )


def post_item(
    participant: Participant,
    kind: ItemKind | str,
    text: str,
    actor: User,
    now: datetime | None = None,
) -> MarketplaceItem:
    """Post one item for the participant (its owner, or staff)."""
    if not may_act_for(actor, participant.profile):
        raise EventError(N_("Only the participant posts its own items."))
    if not is_open(participant.event, now):
        raise EventError(N_("The event is over: its marketplace is closed."))
    try:
        kind = ItemKind(kind)
        text = clean_text(text, "text")
    except (ValueError, ValidationError):
        raise EventError(N_("Say whether you offer or seek, in readable text.")) from None
    if not text:
        raise EventError(N_("Write what you offer or seek."))
    if len(text) > MAX_ITEM:
        raise EventError(N_("Keep an item under %(count)s characters."), count=MAX_ITEM)
    if len(items_of_participant(participant)) >= MAX_ITEMS:
        raise EventError(
            N_("You have posted %(count)s items, the most there may be: remove one first."),
            count=MAX_ITEMS,
        )
    item = MarketplaceItem(event=participant.event, participant=participant, kind=kind, text=text)
    db.session.add(item)
    db.session.flush()
    return item


def remove_item(item: MarketplaceItem, actor: User) -> None:
    """Remove an item (its participant's owner, or staff)."""
    if not may_act_for(actor, item.participant.profile):
        raise EventError(N_("Only the participant removes its own items."))
    db.session.delete(item)
    db.session.flush()


def find_items(event: Event, text: str, kind: ItemKind | None, page: int, per_page: int):
    """A page of the event's items, newest first: of one kind, holding every word of `text`
    (in the item or its poster's name)."""
    query = (
        select(MarketplaceItem)
        .join(MarketplaceItem.participant)
        .join(Participant.profile)
        .where(MarketplaceItem.event_id == event.id)
        .options(selectinload(MarketplaceItem.participant).selectinload(Participant.profile))
        .order_by(MarketplaceItem.created_at.desc(), MarketplaceItem.id.desc())
    )
    if kind is not None:
        query = query.where(MarketplaceItem.kind == kind)
    for term in text.split():
        pattern = f"%{escape_like(term)}%"
        query = query.where(
            or_(
                MarketplaceItem.text.ilike(pattern, escape="\\"),
                Profile.name.ilike(pattern, escape="\\"),
            )
        )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def item_count(event: Event) -> int:
    """Return how many items the event's marketplace holds."""
    return (
        db.session.scalar(
            select(func.count(MarketplaceItem.id)).where(MarketplaceItem.event_id == event.id)
        )
        or 0
    )


@dataclass(frozen=True)
class Counterpart:
    item: MarketplaceItem
    score: float  # cosine of the two items' vectors


def counterparts(
    participant: Participant, encoder: TextEncoder, limit: int = 3
) -> list[tuple[MarketplaceItem, list[Counterpart]]]:
    """For each of the participant's items, the closest items of the opposite kind that
    other participants posted."""
    own = items_of_participant(participant)
    if not own:
        return []
    others = list(
        db.session.scalars(
            select(MarketplaceItem)
            .where(
                MarketplaceItem.event_id == participant.event_id,
                MarketplaceItem.participant_id != participant.id,
            )
            .options(selectinload(MarketplaceItem.participant).selectinload(Participant.profile))
            .order_by(MarketplaceItem.id)
        )
    )
    found = []
    for kind in (ItemKind.SEEK, ItemKind.OFFER):
        mine = [item for item in own if item.kind is kind]
        theirs = [item for item in others if item.kind is OPPOSITE[kind]]
        ranked = best_counterparts(
            encoder,
            [i.text for i in mine],
            [i.text for i in theirs],
            limit=limit,
            floor=MIN_SIMILARITY,
        )
        found.extend(
            (item, [Counterpart(theirs[j], score) for j, score in best])
            for item, best in zip(mine, ranked, strict=True)
        )
    return found
